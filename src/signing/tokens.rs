//! Where the cloud KMS signers (gcpkms, azurekms) get OAuth access tokens:
//! one trait, so their HTTP edges are tested with a fixed token.

use crate::remote::RemoteError;

/// A source of bearer tokens (cached and renewed by the implementation).
#[async_trait::async_trait]
pub trait Tokens: Send + Sync {
    /// A token valid now.
    async fn bearer(&self) -> Result<String, RemoteError>;
}

/// A fixed token, for tests of the HTTP edges.
#[cfg(test)]
pub struct Fixed(pub &'static str);

#[cfg(test)]
#[async_trait::async_trait]
impl Tokens for Fixed {
    async fn bearer(&self) -> Result<String, RemoteError> {
        Ok(self.0.to_string())
    }
}
