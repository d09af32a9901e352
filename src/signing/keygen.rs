//! Generation of cosign-compatible key pairs (what `cosign generate-key-pair` writes).

use rand::distr::{Alphanumeric, SampleString};
use sigstore::crypto::signing_key::ecdsa::{ECDSAKeys, EllipticCurve};
use zeroize::Zeroizing;

use super::KeyError;

/// A new key pair: `cosign.key`, `cosign.pub`, `cosign.password`.
pub struct GeneratedKeyPair {
    /// PEM `ENCRYPTED SIGSTORE PRIVATE KEY` (scrypt + nacl secretbox over PKCS#8).
    pub private_pem: Zeroizing<String>,
    /// PEM `PUBLIC KEY` (PKIX).
    pub public_pem: String,
    /// The random password that decrypts `private_pem`.
    pub password: Zeroizing<String>,
}

impl std::fmt::Debug for GeneratedKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKeyPair").field("public_pem", &self.public_pem).finish_non_exhaustive()
    }
}

/// Makes an ECDSA P-256 key pair encrypted with a random 32-character password.
pub fn generate_cosign_key_pair() -> Result<GeneratedKeyPair, KeyError> {
    let keys = ECDSAKeys::new(EllipticCurve::P256).map_err(|e| KeyError::Generate(e.to_string()))?;
    let password = Zeroizing::new(Alphanumeric.sample_string(&mut rand::rng(), 32));
    let pair = keys.as_inner();
    let private_pem =
        pair.private_key_to_encrypted_pem(password.as_bytes()).map_err(|e| KeyError::Generate(e.to_string()))?;
    let public_pem = pair.public_key_to_pem().map_err(|e| KeyError::Generate(e.to_string()))?;
    // LF line endings, as `cosign generate-key-pair` writes them.
    let private_pem = Zeroizing::new(private_pem.replace("\r\n", "\n"));
    let public_pem = public_pem.replace("\r\n", "\n");
    Ok(GeneratedKeyPair { private_pem, public_pem, password })
}

#[cfg(test)]
mod tests {
    use sigstore::crypto::signing_key::SigStoreKeyPair;

    use super::*;

    #[test]
    fn generated_key_decrypts_and_matches_its_public_key() {
        let k = generate_cosign_key_pair().unwrap();
        assert!(k.private_pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"));
        assert!(k.public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        assert_eq!(k.password.len(), 32);
        let back = SigStoreKeyPair::from_encrypted_pem(k.private_pem.as_bytes(), k.password.as_bytes()).unwrap();
        assert_eq!(back.public_key_to_pem().unwrap().replace("\r\n", "\n"), k.public_pem);
        assert!(!k.private_pem.contains('\r'));
        assert!(SigStoreKeyPair::from_encrypted_pem(k.private_pem.as_bytes(), b"wrong").is_err());
        assert!(!format!("{k:?}").contains(k.password.as_str()));
    }
}
