//! The `Signer` seam: bytes in, a signature and its verifier out. The local
//! key folder ([`super::KeyDir`]) is the first signer; KMS and Fulcio
//! (keyless) come later, each as one more file with a factory in
//! [`super::SIGNERS`].

use std::sync::Arc;

use super::SignError;

/// What verifies a signature: the public key, and the certificate and its
/// chain when the signer has them (Fulcio, or an x509 certificate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    /// PEM `PUBLIC KEY`.
    pub public_key_pem: Arc<str>,
    /// PEM certificate, if any.
    pub cert: Option<Arc<str>>,
    /// PEM certificate chain, if any.
    pub chain: Option<Arc<str>>,
}

/// One signature, with the verifier of the key that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub bytes: Vec<u8>,
    pub verifier: Verifier,
}

/// Turns bytes into a signature.
#[async_trait::async_trait]
pub trait Signer: Send + Sync {
    /// Signs `msg` with the key in force now.
    async fn sign(&self, msg: &[u8]) -> Result<Signature, SignError>;

    /// The verifier (public key, cert, chain) of the key in force now.
    async fn verifier(&self) -> Result<Verifier, SignError>;
}
