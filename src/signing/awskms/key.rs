//! AWS KMS, pure: the `awskms://` reference as sigstore parses it, the
//! signing algorithm chosen for a key, the digest sent, and the public key.
//! Replies are untrusted: nothing here panics on them.

use pkcs8::der::pem::LineEnding;
use pkcs8::der::{Decode as _, Document};
use sha2::{Digest as _, Sha256, Sha384, Sha512};

/// The scheme of `signers.kms.kmsref` this signer serves.
pub const SCHEME: &str = "awskms://";

const FORMATS: &str = "awskms://[ENDPOINT]/KEY-ID, awskms://[ENDPOINT]/arn:aws:kms:REGION:ACCOUNT:key/KEY-ID, \
                       awskms://[ENDPOINT]/alias/NAME or awskms://[ENDPOINT]/arn:aws:kms:REGION:ACCOUNT:alias/NAME";

/// A parsed `awskms://` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]` before the key, if any: the KMS is `https://ENDPOINT`.
    pub endpoint: Option<String>,
    /// What `Sign` and `GetPublicKey` are given: key id, key ARN, alias or alias ARN.
    pub key_id: String,
    /// The region of an ARN.
    pub region: Option<String>,
}

fn is_key_uuid(s: &str) -> bool {
    let s = s.strip_prefix("mrk-").unwrap_or(s);
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    hex.len() == 32
        && hex.chars().all(|c| c.is_ascii_hexdigit())
        && s.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
}

/// `arn:PARTITION:kms:REGION:ACCOUNT:REST` → (region, REST).
fn arn(s: &str) -> Option<(&str, &str)> {
    let mut parts = s.splitn(6, ':');
    let (Some("arn"), Some(p), Some("kms"), Some(region), Some(account), Some(rest)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let region_ok =
        !region.is_empty() && region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let account_ok = account.len() == 12 && account.chars().all(|c| c.is_ascii_digit());
    (matches!(p, "aws" | "aws-us-gov" | "aws-cn") && region_ok && account_ok).then_some((region, rest))
}

fn is_alias(s: &str) -> bool {
    s.strip_prefix("alias/").is_some_and(|n| !n.is_empty())
}

/// Parses `signers.kms.kmsref` as sigstore's awskms does.
pub fn parse(kmsref: &str) -> Result<Reference, String> {
    let bad = || format!("signers.kms.kmsref: invalid value {kmsref:?}; allowed: {FORMATS}");
    let rest = kmsref.strip_prefix(SCHEME).ok_or_else(bad)?;
    let (host, key) = rest.split_once('/').ok_or_else(bad)?;
    let region = match arn(key) {
        Some((region, tail)) if tail.strip_prefix("key/").is_some_and(is_key_uuid) || is_alias(tail) => Some(region),
        Some(_) => return Err(bad()),
        None if is_key_uuid(key) || is_alias(key) => None,
        None => return Err(bad()),
    };
    let endpoint = (!host.is_empty()).then(|| host.to_string());
    Ok(Reference { endpoint, key_id: key.to_string(), region: region.map(str::to_string) })
}

/// How a KMS key signs: the algorithm named to `Sign` and the digest it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    EcdsaSha256,
    EcdsaSha384,
    EcdsaSha512,
    /// PKCS #1 v1.5 over SHA-256: what cosign, Rekor and an exported PEM check for RSA.
    RsaPkcs1Sha256,
}

/// The key specs this signer signs with.
pub const SIGNING_SPECS: &str = "ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, RSA_2048, RSA_3072, RSA_4096";

impl Algorithm {
    /// The algorithm for a key's `SigningAlgorithms`, as cosign picks it (the
    /// first), except RSA, which signs PKCS #1 v1.5 when the key offers it.
    pub fn choose(offered: &[&str]) -> Result<Self, String> {
        if offered.contains(&"RSASSA_PKCS1_V1_5_SHA_256") {
            return Ok(Self::RsaPkcs1Sha256);
        }
        match offered.first().copied() {
            Some("ECDSA_SHA_256") => Ok(Self::EcdsaSha256),
            Some("ECDSA_SHA_384") => Ok(Self::EcdsaSha384),
            Some("ECDSA_SHA_512") => Ok(Self::EcdsaSha512),
            other => Err(format!(
                "the key signs with {}; supported key specs: {SIGNING_SPECS}",
                other.map_or_else(|| "nothing (not a SIGN_VERIFY key)".to_string(), |a| a.to_string())
            )),
        }
    }

    /// The name `Sign` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::EcdsaSha256 => "ECDSA_SHA_256",
            Self::EcdsaSha384 => "ECDSA_SHA_384",
            Self::EcdsaSha512 => "ECDSA_SHA_512",
            Self::RsaPkcs1Sha256 => "RSASSA_PKCS1_V1_5_SHA_256",
        }
    }

    /// The digest of `msg` that `Sign` is given (`MessageType: DIGEST`).
    pub fn digest(self, msg: &[u8]) -> Vec<u8> {
        match self {
            Self::EcdsaSha256 | Self::RsaPkcs1Sha256 => Sha256::digest(msg).to_vec(),
            Self::EcdsaSha384 => Sha384::digest(msg).to_vec(),
            Self::EcdsaSha512 => Sha512::digest(msg).to_vec(),
        }
    }
}

/// `GetPublicKey`'s DER SubjectPublicKeyInfo as PEM `PUBLIC KEY`.
pub fn public_pem(der: &[u8]) -> Result<String, String> {
    pkcs8::spki::SubjectPublicKeyInfoRef::from_der(der).map_err(|e| format!("public key is not DER SPKI: {e}"))?;
    let doc = Document::from_der(der).map_err(|e| format!("public key: {e}"))?;
    doc.to_pem("PUBLIC KEY", LineEnding::LF).map_err(|e| format!("public key: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn references_parse_as_sigstore_parses_them() {
        let r = parse(&format!("awskms:///{UUID}")).unwrap();
        assert_eq!((r.endpoint, r.key_id.as_str(), r.region), (None, UUID, None));
        let arn = format!("arn:aws:kms:us-east-2:111122223333:key/{UUID}");
        let r = parse(&format!("awskms://localhost:4566/{arn}")).unwrap();
        assert_eq!(
            (r.endpoint.as_deref(), r.key_id.as_str(), r.region.as_deref()),
            (Some("localhost:4566"), arn.as_str(), Some("us-east-2"))
        );
        let r = parse("awskms:///alias/chains").unwrap();
        assert_eq!(r.key_id, "alias/chains");
        let r = parse("awskms:///arn:aws-cn:kms:cn-north-1:111122223333:alias/x").unwrap();
        assert_eq!(r.region.as_deref(), Some("cn-north-1"));
        assert!(parse(&format!("awskms:///mrk-{}", UUID.replace('-', ""))).is_ok());
    }

    #[test]
    fn bad_references_name_the_key_and_the_formats() {
        for bad in [
            "awskms://",
            "awskms:///",
            "awskms:///alias/",
            "awskms:///not-a-key",
            "awskms:///arn:aws:kms:us-east-2:1111:key/1234",
            "awskms:///arn:aws:s3:us-east-2:111122223333:alias/x",
            "hashivault://k",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains("signers.kms.kmsref") && e.contains("alias/NAME"), "{bad}: {e}");
        }
    }

    #[test]
    fn algorithms_follow_cosign_and_rsa_signs_pkcs1() {
        assert_eq!(Algorithm::choose(&["ECDSA_SHA_256"]), Ok(Algorithm::EcdsaSha256));
        assert_eq!(Algorithm::choose(&["ECDSA_SHA_384"]), Ok(Algorithm::EcdsaSha384));
        let rsa = ["RSASSA_PSS_SHA_256", "RSASSA_PKCS1_V1_5_SHA_256"];
        assert_eq!(Algorithm::choose(&rsa), Ok(Algorithm::RsaPkcs1Sha256));
        let e = Algorithm::choose(&["SM2DSA"]).unwrap_err();
        assert!(e.contains("SM2DSA") && e.contains("ECC_NIST_P256"), "{e}");
        assert!(Algorithm::choose(&[]).unwrap_err().contains("SIGN_VERIFY"));
        assert_eq!(Algorithm::EcdsaSha384.digest(b"x").len(), 48);
    }

    #[test]
    fn public_keys_must_be_spki() {
        use base64::Engine as _;
        let der = base64::engine::general_purpose::STANDARD
            .decode("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEgtn1u43OZOs6cpg+uaDWETdp+tf/hvyuVoEH5KHzk+ndo0/uCGXeNT80jtWB/eXhSJiXyA5CWIiRH+XjGeclNw==")
            .unwrap();
        assert!(public_pem(&der).unwrap().starts_with("-----BEGIN PUBLIC KEY-----\nMFkw"));
        assert!(public_pem(b"\x30\x03junk").is_err());
        assert!(public_pem(&[]).is_err());
    }
}
