//! Vault / OpenBao Transit, pure: the key reference, the key types we sign
//! with, the sign request body and the replies (key versions, signatures,
//! login). Every reply is untrusted: nothing here panics on it.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::pkcs8::EncodePublicKey as _;
use sha2::{Digest as _, Sha256};

/// The scheme of `signers.kms.kmsref` this signer serves.
pub const SCHEME: &str = "hashivault://";

/// The key name of a `hashivault://KEY` reference.
pub fn key_name(kmsref: &str) -> Result<&str, String> {
    let name = kmsref.strip_prefix(SCHEME).ok_or_else(|| format!("{kmsref:?} does not start with {SCHEME}"))?;
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || !name.chars().all(ok) {
        return Err(format!(
            "signers.kms.kmsref: invalid value {kmsref:?}; allowed: {SCHEME}KEYNAME (letters, digits, '-', '_', '.')"
        ));
    }
    Ok(name)
}

/// A Transit key type that signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    P256,
    P384,
    Ed25519,
    /// rsa-2048, rsa-3072, rsa-4096: PKCS #1 v1.5 over SHA-256, as cosign verifies RSA keys.
    Rsa,
}

/// The key types Transit signs with, as Transit names them.
pub const SIGNING_TYPES: &str = "ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096";

impl KeyType {
    fn of(vault_type: &str) -> Option<Self> {
        Some(match vault_type {
            "ecdsa-p256" => Self::P256,
            "ecdsa-p384" => Self::P384,
            "ed25519" => Self::Ed25519,
            "rsa-2048" | "rsa-3072" | "rsa-4096" => Self::Rsa,
            _ => return None,
        })
    }

    /// The path under `sign/KEY` (the hash), if any.
    pub fn hash_path(self) -> Option<&'static str> {
        match self {
            // P-384 too: cosign checks ECDSA over SHA-256, through the KMS and with the PEM.
            Self::P256 | Self::P384 | Self::Rsa => Some("sha2-256"),
            Self::Ed25519 => None,
        }
    }

    /// The body of `POST sign/KEY[/HASH]` for `msg`: its digest, prehashed,
    /// or (ed25519) the message itself.
    pub fn sign_body(self, msg: &[u8]) -> serde_json::Value {
        let (input, prehashed) = match self {
            Self::P256 | Self::P384 | Self::Rsa => (Sha256::digest(msg).to_vec(), true),
            Self::Ed25519 => (msg.to_vec(), false),
        };
        let mut body = serde_json::json!({ "input": STANDARD.encode(input), "prehashed": prehashed });
        if self == Self::Rsa {
            body["signature_algorithm"] = "pkcs1v15".into();
        }
        body
    }
}

/// What a Transit key is: its type, latest version and each version's
/// public key (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub kind: KeyType,
    pub latest: u64,
    pub public: BTreeMap<u64, Arc<str>>,
}

fn data(body: &[u8]) -> Result<serde_json::Value, String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("reply is not JSON: {e}"))?;
    v.get("data").filter(|d| d.is_object()).cloned().ok_or_else(|| "reply has no data object".to_string())
}

/// The reply of `GET keys/KEY`.
pub fn parse_key(body: &[u8]) -> Result<KeyInfo, String> {
    let d = data(body)?;
    let vault_type = d.get("type").and_then(|t| t.as_str()).unwrap_or("");
    let kind = KeyType::of(vault_type)
        .ok_or_else(|| format!("key type {vault_type:?} cannot sign; supported: {SIGNING_TYPES}"))?;
    let latest = d.get("latest_version").and_then(|v| v.as_u64()).ok_or("reply has no latest_version")?;
    let mut public = BTreeMap::new();
    for (version, entry) in d.get("keys").and_then(|k| k.as_object()).into_iter().flatten() {
        let (Ok(n), Some(pk)) = (version.parse::<u64>(), entry.get("public_key").and_then(|p| p.as_str())) else {
            continue;
        };
        public.insert(n, Arc::from(public_pem(kind, pk)?));
    }
    if !public.contains_key(&latest) {
        return Err(format!("reply has no public key for the latest version {latest}"));
    }
    Ok(KeyInfo { kind, latest, public })
}

/// Transit gives ECDSA and RSA keys as PEM, ed25519 keys as base64 bytes.
fn public_pem(kind: KeyType, pk: &str) -> Result<String, String> {
    if kind != KeyType::Ed25519 {
        return match pk.trim_start().starts_with("-----BEGIN PUBLIC KEY-----") {
            true => Ok(pk.to_string()),
            false => Err("public key is not a PEM PUBLIC KEY".into()),
        };
    }
    let raw = STANDARD.decode(pk.trim()).map_err(|_| "ed25519 public key is not base64")?;
    let bytes: [u8; 32] = raw.try_into().map_err(|_| "ed25519 public key is not 32 bytes")?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| "ed25519 public key is invalid")?;
    key.to_public_key_pem(Default::default()).map_err(|e| format!("ed25519 public key: {e}"))
}

/// The reply of `POST sign/…`: the key version that signed and the
/// signature's bytes (`vault:vN:BASE64`).
pub fn parse_signature(body: &[u8]) -> Result<(u64, Vec<u8>), String> {
    let d = data(body)?;
    let sig = d.get("signature").and_then(|s| s.as_str()).ok_or("reply has no signature")?;
    let mut parts = sig.splitn(3, ':');
    let (Some("vault"), Some(v), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("signature is not vault:vN:BASE64".into());
    };
    let version = v.strip_prefix('v').and_then(|n| n.parse::<u64>().ok()).ok_or("signature has no key version")?;
    let bytes = STANDARD.decode(b64).map_err(|_| "signature is not base64")?;
    Ok((version, bytes))
}

/// The reply of `POST auth/PATH/login`: the client token and how long it lasts (seconds).
pub fn parse_login(body: &[u8]) -> Result<(String, u64), String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("reply is not JSON: {e}"))?;
    let auth = v.get("auth").ok_or("login reply has no auth")?;
    let token = auth.get("client_token").and_then(|t| t.as_str()).filter(|t| !t.is_empty());
    let token = token.ok_or("login reply has no client_token")?;
    Ok((token.to_string(), auth.get("lease_duration").and_then(|d| d.as_u64()).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const P256_PEM: &str =
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n";

    #[test]
    fn references_name_one_key() {
        assert_eq!(key_name("hashivault://chains"), Ok("chains"));
        assert_eq!(key_name("hashivault://my-key_1.v2"), Ok("my-key_1.v2"));
        for bad in ["hashivault://", "hashivault://a/b", "awskms:///x", "hashivault://a b"] {
            let e = key_name(bad).unwrap_err();
            assert!(e.contains("hashivault://"), "{bad}: {e}");
        }
    }

    #[test]
    fn each_key_type_signs_as_cosign_verifies() {
        let b = KeyType::P256.sign_body(b"m");
        assert_eq!(b["prehashed"], true);
        assert_eq!(b["input"], STANDARD.encode(Sha256::digest(b"m")));
        assert_eq!(KeyType::P384.sign_body(b"m")["input"], STANDARD.encode(Sha256::digest(b"m")));
        assert_eq!(KeyType::P384.hash_path(), Some("sha2-256"));
        let e = KeyType::Ed25519.sign_body(b"m");
        assert_eq!((e["prehashed"].clone(), e["input"].clone()), (false.into(), STANDARD.encode(b"m").into()));
        assert_eq!(KeyType::Ed25519.hash_path(), None);
        assert_eq!(KeyType::Rsa.sign_body(b"m")["signature_algorithm"], "pkcs1v15");
    }

    #[test]
    fn key_replies_give_every_version() {
        let body = serde_json::json!({"data": {"type": "ecdsa-p256", "latest_version": 2,
            "keys": {"1": {"public_key": P256_PEM}, "2": {"public_key": P256_PEM}, "x": {}}}});
        let k = parse_key(body.to_string().as_bytes()).unwrap();
        assert_eq!((k.kind, k.latest, k.public.len()), (KeyType::P256, 2, 2));
        let ed = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
        let body = serde_json::json!({"data": {"type": "ed25519", "latest_version": 1,
            "keys": {"1": {"public_key": STANDARD.encode(ed.as_bytes())}}}});
        let k = parse_key(body.to_string().as_bytes()).unwrap();
        assert!(k.public[&1].starts_with("-----BEGIN PUBLIC KEY-----"));
    }

    #[test]
    fn bad_key_replies_are_errors_not_panics() {
        let aes = serde_json::json!({"data": {"type": "aes256-gcm96", "latest_version": 1, "keys": {"1": 1}}});
        assert!(parse_key(aes.to_string().as_bytes()).unwrap_err().contains("cannot sign; supported: ecdsa-p256"));
        let no_latest = serde_json::json!({"data": {"type": "ecdsa-p256", "latest_version": 3, "keys": {}}});
        assert!(parse_key(no_latest.to_string().as_bytes()).unwrap_err().contains("latest version 3"));
        for junk in [&b"[]"[..], b"1", b"{\"data\":[]}", b"{\"data\":{\"type\":1}}", b"\xff"] {
            assert!(parse_key(junk).is_err());
            assert!(parse_signature(junk).is_err());
            assert!(parse_login(junk).is_err());
        }
    }

    #[test]
    fn signatures_carry_their_key_version() {
        let body = serde_json::json!({"data": {"signature": format!("vault:v3:{}", STANDARD.encode(b"sig"))}});
        assert_eq!(parse_signature(body.to_string().as_bytes()), Ok((3, b"sig".to_vec())));
        for bad in ["vault:3:AA==", "vault:v3", "other:v1:AA==", "vault:v1:!!"] {
            let body = serde_json::json!({"data": {"signature": bad}});
            assert!(parse_signature(body.to_string().as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn logins_give_a_token_and_its_lease() {
        let body = br#"{"auth": {"client_token": "s.abc", "lease_duration": 60}}"#;
        assert_eq!(parse_login(body), Ok(("s.abc".to_string(), 60)));
        assert!(parse_login(br#"{"auth": {"client_token": ""}}"#).is_err());
    }
}
