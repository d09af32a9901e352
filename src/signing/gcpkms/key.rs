//! Google Cloud KMS, pure: the `gcpkms://` reference as sigstore parses it,
//! the algorithms a key version signs with, the `asymmetricSign` body and
//! the replies (checked with their CRC32C). Replies are untrusted: nothing
//! here panics on them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use sha2::{Digest as _, Sha256, Sha384, Sha512};

/// The scheme of `signers.kms.kmsref` this signer serves.
pub const SCHEME: &str = "gcpkms://";

const FORMAT: &str = "gcpkms://projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY[/cryptoKeyVersions/N]";

/// A parsed `gcpkms://` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `projects/…/cryptoKeys/KEY`.
    pub key: String,
    /// The version, when the reference names one; else the newest enabled one.
    pub version: Option<String>,
}

impl Reference {
    /// The resource name of `version` of the key.
    pub fn version_name(&self, version: &str) -> String {
        format!("{}/cryptoKeyVersions/{version}", self.key)
    }
}

/// Parses `signers.kms.kmsref` as sigstore's gcpkms does.
pub fn parse(kmsref: &str) -> Result<Reference, String> {
    let bad = || format!("signers.kms.kmsref: invalid value {kmsref:?}; allowed: {FORMAT}");
    let rest = kmsref.strip_prefix(SCHEME).ok_or_else(bad)?;
    let parts: Vec<&str> = rest.split('/').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(bad());
    }
    let fixed = ["projects", "locations", "keyRings", "cryptoKeys"];
    let named = |n: usize| parts.len() >= 2 * n && (0..n).all(|i| parts.get(2 * i) == fixed.get(i));
    if !named(4) {
        return Err(bad());
    }
    let key = parts[..8].join("/");
    match &parts[8..] {
        [] => Ok(Reference { key, version: None }),
        [word, v] if matches!(*word, "cryptoKeyVersions" | "versions") => {
            Ok(Reference { key, version: Some(v.to_string()) })
        }
        _ => Err(bad()),
    }
}

/// The digest a key version signs, or the whole message (ed25519).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Sha256,
    Sha384,
    Sha512,
    Message,
}

/// The algorithms this signer signs with.
pub const SIGNING_ALGORITHMS: &str = "EC_SIGN_P256_SHA256, EC_SIGN_P384_SHA384, EC_SIGN_ED25519, \
    RSA_SIGN_PKCS1_{2048,3072,4096}_SHA256, RSA_SIGN_PKCS1_4096_SHA512, RSA_SIGN_PSS_{2048,3072,4096}_SHA256, \
    RSA_SIGN_PSS_4096_SHA512";

impl Input {
    /// What a key version of `algorithm` is given.
    pub fn of(algorithm: &str) -> Result<Self, String> {
        Ok(match algorithm {
            "EC_SIGN_P256_SHA256"
            | "RSA_SIGN_PKCS1_2048_SHA256"
            | "RSA_SIGN_PKCS1_3072_SHA256"
            | "RSA_SIGN_PKCS1_4096_SHA256"
            | "RSA_SIGN_PSS_2048_SHA256"
            | "RSA_SIGN_PSS_3072_SHA256"
            | "RSA_SIGN_PSS_4096_SHA256" => Self::Sha256,
            "EC_SIGN_P384_SHA384" => Self::Sha384,
            "RSA_SIGN_PKCS1_4096_SHA512" | "RSA_SIGN_PSS_4096_SHA512" => Self::Sha512,
            "EC_SIGN_ED25519" => Self::Message,
            other => return Err(format!("the key version's algorithm is {other:?}; supported: {SIGNING_ALGORITHMS}")),
        })
    }

    /// The body of `POST VERSION:asymmetricSign` for `msg`, with its CRC32C.
    pub fn sign_body(self, msg: &[u8]) -> serde_json::Value {
        let (field, bytes) = match self {
            Self::Sha256 => ("sha256", Sha256::digest(msg).to_vec()),
            Self::Sha384 => ("sha384", Sha384::digest(msg).to_vec()),
            Self::Sha512 => ("sha512", Sha512::digest(msg).to_vec()),
            Self::Message => {
                return serde_json::json!({
                    "data": STANDARD.encode(msg),
                    "dataCrc32c": crc32c::crc32c(msg).to_string(),
                });
            }
        };
        serde_json::json!({
            "digest": { field: STANDARD.encode(&bytes) },
            "digestCrc32c": crc32c::crc32c(&bytes).to_string(),
        })
    }
}

/// A key version as fetched: its name, input and public key (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub name: String,
    pub input: Input,
    pub pem: String,
}

/// Int64 fields come as JSON strings.
fn crc_ok(data: &[u8], crc: Option<&str>) -> bool {
    crc.is_none_or(|c| c.parse::<u32>().ok() == Some(crc32c::crc32c(data)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublicKey {
    pem: String,
    algorithm: String,
    pem_crc32c: Option<String>,
    name: Option<String>,
}

/// `GET VERSION/publicKey`.
pub fn parse_public_key(reply: &[u8], asked: &str) -> Result<Version, String> {
    let k: PublicKey = serde_json::from_slice(reply).map_err(|e| format!("publicKey reply: {e}"))?;
    if !crc_ok(k.pem.as_bytes(), k.pem_crc32c.as_deref()) {
        return Err("publicKey reply: pemCrc32c does not match (corrupted in transit)".into());
    }
    if !k.pem.trim_start().starts_with("-----BEGIN PUBLIC KEY-----") {
        return Err("publicKey reply: pem is not a PEM PUBLIC KEY".into());
    }
    let input = Input::of(&k.algorithm)?;
    Ok(Version { name: k.name.unwrap_or_else(|| asked.to_string()), input, pem: k.pem })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Versions {
    #[serde(default)]
    crypto_key_versions: Vec<ListedVersion>,
}

#[derive(Deserialize)]
struct ListedVersion {
    name: String,
    #[serde(default)]
    state: String,
}

/// `GET KEY/cryptoKeyVersions`: the enabled version with the greatest number.
pub fn newest_enabled(reply: &[u8], key: &str) -> Result<String, String> {
    let v: Versions = serde_json::from_slice(reply).map_err(|e| format!("cryptoKeyVersions reply: {e}"))?;
    let number = |name: &str| name.rsplit('/').next().and_then(|n| n.parse::<u64>().ok());
    v.crypto_key_versions
        .iter()
        .filter(|v| v.state == "ENABLED" && v.name.starts_with(key))
        .filter_map(|v| number(&v.name).map(|n| (n, v.name.clone())))
        .max()
        .map(|(_, name)| name)
        .ok_or_else(|| format!("{key} has no enabled key version"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Signed {
    signature: String,
    signature_crc32c: Option<String>,
    #[serde(default)]
    verified_digest_crc32c: bool,
    #[serde(default)]
    verified_data_crc32c: bool,
}

/// `POST VERSION:asymmetricSign`: the signature, checked against its CRC32C
/// and after the KMS checked ours.
pub fn parse_signature(reply: &[u8], input: Input) -> Result<Vec<u8>, String> {
    let s: Signed = serde_json::from_slice(reply).map_err(|e| format!("asymmetricSign reply: {e}"))?;
    let verified = if input == Input::Message { s.verified_data_crc32c } else { s.verified_digest_crc32c };
    if !verified {
        return Err("asymmetricSign: the request was corrupted in transit (its CRC32C was not verified)".into());
    }
    let sig = STANDARD.decode(s.signature.trim()).map_err(|e| format!("asymmetricSign reply: signature: {e}"))?;
    if sig.is_empty() || !crc_ok(&sig, s.signature_crc32c.as_deref()) {
        return Err("asymmetricSign: the reply was corrupted in transit (signatureCrc32c)".into());
    }
    Ok(sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "projects/p/locations/global/keyRings/r/cryptoKeys/k";

    #[test]
    fn references_parse_as_sigstore_parses_them() {
        let r = parse(&format!("gcpkms://{KEY}/cryptoKeyVersions/3")).unwrap();
        assert_eq!((r.key.as_str(), r.version.as_deref()), (KEY, Some("3")));
        assert_eq!(parse(&format!("gcpkms://{KEY}/versions/1")).unwrap().version.as_deref(), Some("1"));
        assert_eq!(parse(&format!("gcpkms://{KEY}")).unwrap().version, None);
        assert_eq!(r.version_name("4"), format!("{KEY}/cryptoKeyVersions/4"));
    }

    #[test]
    fn bad_references_name_the_key_and_the_format() {
        for bad in [
            "gcpkms://".to_string(),
            "gcpkms://projects/p".into(),
            format!("gcpkms://{KEY}/"),
            format!("gcpkms://{KEY}/cryptoKeyVersions"),
            format!("gcpkms://{KEY}/other/1"),
            "gcpkms://projects/p/locations/l/keyRings//cryptoKeys/k".into(),
            "gcpkms://projects/p/zones/l/keyRings/r/cryptoKeys/k".into(),
        ] {
            let e = parse(&bad).unwrap_err();
            assert!(e.contains("signers.kms.kmsref") && e.contains("cryptoKeyVersions/N"), "{bad}: {e}");
        }
    }

    #[test]
    fn sign_bodies_carry_the_digest_and_its_crc() {
        let b = Input::Sha256.sign_body(b"abc");
        let d = STANDARD.decode(b["digest"]["sha256"].as_str().unwrap()).unwrap();
        assert_eq!(d, Sha256::digest(b"abc").to_vec());
        assert_eq!(b["digestCrc32c"], crc32c::crc32c(&d).to_string());
        assert!(Input::Sha384.sign_body(b"abc")["digest"]["sha384"].is_string());
        assert_eq!(Input::Message.sign_body(b"abc")["data"], STANDARD.encode(b"abc"));
        assert!(Input::of("GOOGLE_SYMMETRIC_ENCRYPTION").unwrap_err().contains("EC_SIGN_P256_SHA256"));
    }

    #[test]
    fn replies_are_checked_not_trusted() {
        let pem = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n";
        let ok = serde_json::json!({"pem": pem, "algorithm": "EC_SIGN_P256_SHA256",
            "pemCrc32c": crc32c::crc32c(pem.as_bytes()).to_string(), "name": "v/1"});
        let v = parse_public_key(ok.to_string().as_bytes(), "asked").unwrap();
        assert_eq!((v.name.as_str(), v.input), ("v/1", Input::Sha256));
        let bad_crc = serde_json::json!({"pem": pem, "algorithm": "EC_SIGN_P256_SHA256", "pemCrc32c": "1"});
        assert!(parse_public_key(bad_crc.to_string().as_bytes(), "a").unwrap_err().contains("pemCrc32c"));
        for junk in [&b"[]"[..], b"1", b"{}", b"", b"{\"pem\":1}"] {
            assert!(parse_public_key(junk, "a").is_err());
            assert!(parse_signature(junk, Input::Sha256).is_err());
        }
        let sig = [1u8, 2, 3];
        let signed = |verified: bool, crc: u32| {
            serde_json::json!({"signature": STANDARD.encode(sig), "signatureCrc32c": crc.to_string(),
                "verifiedDigestCrc32c": verified})
            .to_string()
        };
        assert_eq!(parse_signature(signed(true, crc32c::crc32c(&sig)).as_bytes(), Input::Sha256).unwrap(), sig);
        assert!(parse_signature(signed(false, crc32c::crc32c(&sig)).as_bytes(), Input::Sha256).is_err());
        assert!(parse_signature(signed(true, 7).as_bytes(), Input::Sha256).is_err());
    }

    #[test]
    fn the_newest_enabled_version_is_chosen_by_number() {
        let list = serde_json::json!({"cryptoKeyVersions": [
            {"name": format!("{KEY}/cryptoKeyVersions/9"), "state": "ENABLED"},
            {"name": format!("{KEY}/cryptoKeyVersions/10"), "state": "ENABLED"},
            {"name": format!("{KEY}/cryptoKeyVersions/11"), "state": "DISABLED"},
        ]});
        assert_eq!(newest_enabled(list.to_string().as_bytes(), KEY).unwrap(), format!("{KEY}/cryptoKeyVersions/10"));
        assert!(newest_enabled(b"{}", KEY).unwrap_err().contains("no enabled key version"));
    }
}
