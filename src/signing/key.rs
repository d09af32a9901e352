//! A private key that signs: ECDSA P-256, ECDSA P-384 or ed25519.
//!
//! ECDSA signatures are ASN.1 DER over SHA-256, for P-384 too: that is what
//! upstream Chains signs, what `cosign verify --key` checks by default
//! (`--signature-digest-algorithm sha256`) and what Rekor's `hashedrekord`
//! (a SHA-256 digest) can check; ed25519 signs the message itself.

use ed25519_dalek::pkcs8::DecodePrivateKey as _;
use p256::pkcs8::EncodePublicKey as _;
use sha2::{Digest as _, Sha256};

use super::KeyError;

/// A loaded signing key.
pub enum SigningKey {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.algorithm())
    }
}

impl SigningKey {
    /// Reads an unencrypted PKCS#8 key (DER).
    pub fn from_pkcs8_der(der: &[u8], file: &str) -> Result<Self, KeyError> {
        if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_der(der) {
            return Ok(Self::P256(k));
        }
        if let Ok(k) = p384::ecdsa::SigningKey::from_pkcs8_der(der) {
            return Ok(Self::P384(k));
        }
        if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_der(der) {
            return Ok(Self::Ed25519(k));
        }
        Err(KeyError::Unsupported { file: file.into() })
    }

    /// Reads an unencrypted PKCS#8 PEM (`BEGIN PRIVATE KEY`), as in x509.pem.
    pub fn from_pkcs8_pem(pem: &str, file: &str) -> Result<Self, KeyError> {
        let parse_error = |message: String| KeyError::Parse { file: file.into(), message };
        let label = pkcs8::der::pem::decode_label(pem.as_bytes()).map_err(|e| {
            parse_error(format!("not a PEM file ({e}); expected an unencrypted PKCS#8 \"PRIVATE KEY\""))
        })?;
        if label != "PRIVATE KEY" {
            return Err(parse_error(format!("PEM type {label:?}; expected an unencrypted PKCS#8 \"PRIVATE KEY\"")));
        }
        let (_, der) = pkcs8::SecretDocument::from_pem(pem).map_err(|e| parse_error(format!("bad PKCS#8 key: {e}")))?;
        Self::from_pkcs8_der(der.as_bytes(), file)
    }

    /// Reads an encrypted cosign key (`ENCRYPTED COSIGN PRIVATE KEY` or
    /// `ENCRYPTED SIGSTORE PRIVATE KEY`, scrypt + nacl secretbox over PKCS#8).
    pub fn from_cosign_pem(pem: &[u8], password: &[u8], file: &str, password_file: &str) -> Result<Self, KeyError> {
        use super::cosign_key::{DecryptError, decrypt};
        let der = decrypt(pem, password).map_err(|e| match e {
            DecryptError::Password => KeyError::Decrypt { file: file.into(), password_file: password_file.into() },
            DecryptError::Format(message) => KeyError::Parse { file: file.into(), message },
        })?;
        Self::from_pkcs8_der(&der, file)
    }

    /// `ecdsa-p256`, `ecdsa-p384` or `ed25519`.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Self::P256(_) => "ecdsa-p256",
            Self::P384(_) => "ecdsa-p384",
            Self::Ed25519(_) => "ed25519",
        }
    }

    /// Signs `msg`: DER ECDSA over SHA-256 (P-256 and P-384), or raw ed25519.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::hazmat::PrehashSigner as _;
        match self {
            Self::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign_prehash(&Sha256::digest(msg)).expect("32-byte prehash");
                sig.to_der().as_bytes().to_vec()
            }
            Self::P384(k) => {
                let sig: p384::ecdsa::Signature =
                    k.sign_prehash(&Sha256::digest(msg)).expect("a 32-byte prehash is long enough for P-384");
                sig.to_der().as_bytes().to_vec()
            }
            Self::Ed25519(k) => {
                use ed25519_dalek::Signer as _;
                k.sign(msg).to_bytes().to_vec()
            }
        }
    }

    /// Checks a signature made by [`SigningKey::sign`].
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
        match self {
            Self::P256(k) => p256::ecdsa::Signature::from_der(sig)
                .is_ok_and(|s| k.verifying_key().verify_prehash(&Sha256::digest(msg), &s).is_ok()),
            Self::P384(k) => p384::ecdsa::Signature::from_der(sig)
                .is_ok_and(|s| k.verifying_key().verify_prehash(&Sha256::digest(msg), &s).is_ok()),
            Self::Ed25519(k) => ed25519_dalek::Signature::from_slice(sig)
                .is_ok_and(|s| k.verifying_key().verify_strict(msg, &s).is_ok()),
        }
    }

    /// The public key as PEM `PUBLIC KEY` (PKIX).
    pub fn public_key_pem(&self) -> String {
        let le = p256::pkcs8::LineEnding::LF;
        match self {
            Self::P256(k) => k.verifying_key().to_public_key_pem(le),
            Self::P384(k) => k.verifying_key().to_public_key_pem(le),
            Self::Ed25519(k) => k.verifying_key().to_public_key_pem(le),
        }
        .expect("public keys encode")
    }
}
