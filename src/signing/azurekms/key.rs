//! Azure Key Vault, pure: the `azurekms://` reference as sigstore parses it,
//! a key's JWK as PEM and the algorithm it signs with (as sigstore picks
//! it), the sign body and reply (raw ECDSA `r||s` as DER). Replies are
//! untrusted: nothing here panics on them.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pkcs8::der::Encode as _;
use pkcs8::der::asn1::{BitStringRef, UintRef};
use pkcs8::der::pem::LineEnding;
use pkcs8::spki::{AlgorithmIdentifierRef, EncodePublicKey as _, SubjectPublicKeyInfoRef};
use serde::Deserialize;
use sha2::{Digest as _, Sha256, Sha384, Sha512};

/// The scheme of `signers.kms.kmsref` this signer serves.
pub const SCHEME: &str = "azurekms://";

const FORMAT: &str = "azurekms://VAULT.vault.azure.net/KEY[/VERSION]";

/// A parsed `azurekms://` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `https://VAULT.vault.azure.net`.
    pub vault: String,
    pub key: String,
    /// Empty: the key's current version.
    pub version: String,
}

impl Reference {
    /// `https://VAULT/keys/KEY[/VERSION]`.
    pub fn key_url(&self) -> String {
        let v = if self.version.is_empty() { String::new() } else { format!("/{}", self.version) };
        format!("{}/keys/{}{v}", self.vault, self.key)
    }
}

/// Parses `signers.kms.kmsref` as sigstore's azurekms does.
pub fn parse(kmsref: &str) -> Result<Reference, String> {
    let bad = || format!("signers.kms.kmsref: invalid value {kmsref:?}; allowed: {FORMAT}");
    let rest = kmsref.strip_prefix(SCHEME).ok_or_else(bad)?;
    let parts: Vec<&str> = rest.split('/').collect();
    let name_ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let host_ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c));
    let version_ok = |s: &str| s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    match parts.as_slice() {
        [host, key] if host_ok(host) && name_ok(key) => {
            Ok(Reference { vault: format!("https://{host}"), key: key.to_string(), version: String::new() })
        }
        [host, key, version] if host_ok(host) && name_ok(key) && version_ok(version) => {
            Ok(Reference { vault: format!("https://{host}"), key: key.to_string(), version: version.to_string() })
        }
        _ => Err(bad()),
    }
}

/// What a key signs with: Key Vault's algorithm name and the digest it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Es256,
    Es384,
    Es512,
    Rs256,
    Rs384,
    Rs512,
}

impl Algorithm {
    /// The `alg` of the sign request.
    pub fn name(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::Es512 => "ES512",
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
        }
    }

    /// The body of `POST …/sign` for `msg`.
    pub fn sign_body(self, msg: &[u8]) -> serde_json::Value {
        let digest = match self {
            Self::Es256 | Self::Rs256 => Sha256::digest(msg).to_vec(),
            Self::Es384 | Self::Rs384 => Sha384::digest(msg).to_vec(),
            Self::Es512 | Self::Rs512 => Sha512::digest(msg).to_vec(),
        };
        serde_json::json!({ "alg": self.name(), "value": URL_SAFE_NO_PAD.encode(digest) })
    }
}

/// A key version as fetched: its `kid` (the versioned URL), algorithm and PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub kid: String,
    pub algorithm: Algorithm,
    pub pem: String,
}

#[derive(Deserialize)]
struct Bundle {
    key: Jwk,
}

#[derive(Deserialize)]
struct Jwk {
    kid: String,
    kty: String,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

const SUPPORTED: &str = "EC (P-256, P-384, P-521) and RSA (2048, 3072, 4096) keys";

fn b64(field: &str, v: Option<&String>) -> Result<Vec<u8>, String> {
    let v = v.ok_or_else(|| format!("key reply: no {field}"))?;
    URL_SAFE_NO_PAD.decode(v.trim_end_matches('=')).map_err(|e| format!("key reply: {field}: {e}"))
}

/// A DER TLV.
fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    if body.len() < 0x80 {
        out.push(body.len() as u8);
    } else {
        let len = body.len().to_be_bytes();
        let skip = len.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (len.len() - skip) as u8);
        out.extend_from_slice(&len[skip..]);
    }
    out.extend_from_slice(body);
    out
}

fn rsa_pem(n: &[u8], e: &[u8]) -> Result<String, String> {
    let bad = |e: pkcs8::der::Error| format!("key reply: RSA key: {e}");
    // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
    let ints =
        [UintRef::new(n).map_err(bad)?.to_der().map_err(bad)?, UintRef::new(e).map_err(bad)?.to_der().map_err(bad)?];
    let inner = tlv(0x30, &ints.concat());
    let null = pkcs8::der::asn1::AnyRef::NULL;
    let algorithm = AlgorithmIdentifierRef {
        oid: pkcs8::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1"),
        parameters: Some(null),
    };
    let spki =
        SubjectPublicKeyInfoRef { algorithm, subject_public_key: BitStringRef::from_bytes(&inner).map_err(bad)? };
    let der = spki.to_der().map_err(bad)?;
    pkcs8::der::Document::try_from(der.as_slice()).map_err(bad)?.to_pem("PUBLIC KEY", LineEnding::LF).map_err(bad)
}

/// `GET …/keys/KEY[/VERSION]`: the key as PEM, and how it signs.
pub fn parse_key(reply: &[u8]) -> Result<Key, String> {
    let b: Bundle = serde_json::from_slice(reply).map_err(|e| format!("key reply: {e}"))?;
    let k = b.key;
    let (algorithm, pem) = match k.kty.trim_end_matches("-HSM") {
        "EC" => {
            let point = |len: usize| -> Result<Vec<u8>, String> {
                let (x, y) = (b64("x", k.x.as_ref())?, b64("y", k.y.as_ref())?);
                if x.len() != len || y.len() != len {
                    return Err(format!("key reply: the EC point is not {len}-byte coordinates"));
                }
                Ok([&[4u8][..], &x, &y].concat())
            };
            let bad = |e: String| format!("key reply: EC key: {e}");
            match k.crv.as_deref() {
                Some("P-256") => {
                    let key = p256::PublicKey::from_sec1_bytes(&point(32)?).map_err(|e| bad(e.to_string()))?;
                    (Algorithm::Es256, key.to_public_key_pem(LineEnding::LF).map_err(|e| bad(e.to_string()))?)
                }
                Some("P-384") => {
                    let key = p384::PublicKey::from_sec1_bytes(&point(48)?).map_err(|e| bad(e.to_string()))?;
                    (Algorithm::Es384, key.to_public_key_pem(LineEnding::LF).map_err(|e| bad(e.to_string()))?)
                }
                other => return Err(format!("key reply: curve {other:?}; supported: {SUPPORTED}")),
            }
        }
        "RSA" => {
            let (n, e) = (b64("n", k.n.as_ref())?, b64("e", k.e.as_ref())?);
            let bytes = n.iter().skip_while(|b| **b == 0).count();
            let algorithm = match bytes {
                256 => Algorithm::Rs256,
                384 => Algorithm::Rs384,
                512 => Algorithm::Rs512,
                other => return Err(format!("key reply: an RSA key of {} bits; supported: {SUPPORTED}", other * 8)),
            };
            (algorithm, rsa_pem(&n, &e)?)
        }
        other => return Err(format!("key reply: key type {other:?}; supported: {SUPPORTED}")),
    };
    Ok(Key { kid: k.kid, algorithm, pem })
}

#[derive(Deserialize)]
struct Signed {
    value: String,
}

/// `POST …/sign`: the signature as cosign wants it (ECDSA as DER).
pub fn parse_signature(reply: &[u8], algorithm: Algorithm) -> Result<Vec<u8>, String> {
    let s: Signed = serde_json::from_slice(reply).map_err(|e| format!("sign reply: {e}"))?;
    let raw = URL_SAFE_NO_PAD.decode(s.value.trim_end_matches('=')).map_err(|e| format!("sign reply: value: {e}"))?;
    let bad = |e: String| format!("sign reply: {e}");
    match algorithm {
        Algorithm::Es256 => {
            Ok(p256::ecdsa::Signature::from_slice(&raw).map_err(|e| bad(e.to_string()))?.to_der().as_bytes().to_vec())
        }
        Algorithm::Es384 => {
            Ok(p384::ecdsa::Signature::from_slice(&raw).map_err(|e| bad(e.to_string()))?.to_der().as_bytes().to_vec())
        }
        Algorithm::Es512 => Err(bad("P-521 signatures are not supported".into())),
        _ if raw.is_empty() => Err(bad("an empty signature".into())),
        _ => Ok(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_as_sigstore_parses_them() {
        let r = parse("azurekms://chains.vault.azure.net/signer").unwrap();
        assert_eq!(r.key_url(), "https://chains.vault.azure.net/keys/signer");
        let r = parse("azurekms://chains.vault.azure.net/signer/0123abcd").unwrap();
        assert_eq!(r.key_url(), "https://chains.vault.azure.net/keys/signer/0123abcd");
        for bad in [
            "azurekms://",
            "azurekms://v",
            "azurekms://v/",
            "azurekms://v/k/V",
            "azurekms://v/k/1/2",
            "azurekms://v/k_x",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains("signers.kms.kmsref") && e.contains("VAULT.vault.azure.net"), "{bad}: {e}");
        }
    }

    #[test]
    fn ec_and_rsa_jwks_become_pems_and_algorithms() {
        use p256::elliptic_curve::sec1::ToSec1Point as _;
        let sk = p256::SecretKey::from_slice(&[5u8; 32]).unwrap();
        let point = sk.public_key().to_sec1_point(false);
        let jwk = serde_json::json!({"key": {"kid": "https://v/keys/k/1", "kty": "EC-HSM", "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()), "y": URL_SAFE_NO_PAD.encode(point.y().unwrap())}});
        let k = parse_key(jwk.to_string().as_bytes()).unwrap();
        assert_eq!((k.kid.as_str(), k.algorithm), ("https://v/keys/k/1", Algorithm::Es256));
        assert_eq!(k.pem, sk.public_key().to_public_key_pem(LineEnding::LF).unwrap());

        let n = [&[0xc5u8][..], &[7u8; 255]].concat();
        let jwk = serde_json::json!({"key": {"kid": "k", "kty": "RSA", "n": URL_SAFE_NO_PAD.encode(&n), "e": "AQAB"}});
        let k = parse_key(jwk.to_string().as_bytes()).unwrap();
        assert_eq!(k.algorithm, Algorithm::Rs256);
        assert!(
            k.pem.starts_with("-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"),
            "{}",
            k.pem
        );
    }

    #[test]
    fn hostile_replies_are_errors() {
        for junk in [
            &b"[]"[..],
            b"{}",
            b"1",
            br#"{"key":{"kid":"k","kty":"oct"}}"#,
            br#"{"key":{"kid":"k","kty":"EC","crv":"P-256","x":"AA","y":"AA"}}"#,
            br#"{"key":{"kid":"k","kty":"RSA","n":"AQAB","e":"AQAB"}}"#,
        ] {
            assert!(parse_key(junk).is_err());
            assert!(parse_signature(junk, Algorithm::Es256).is_err());
        }
        let raw = [1u8; 64];
        let ok = serde_json::json!({"kid": "k", "value": URL_SAFE_NO_PAD.encode(raw)}).to_string();
        let der = parse_signature(ok.as_bytes(), Algorithm::Es256).unwrap();
        assert_eq!(der.first(), Some(&0x30), "DER");
        assert!(parse_signature(br#"{"value":"AAAA"}"#, Algorithm::Es256).is_err());
    }
}
