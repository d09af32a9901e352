//! Signing: the [`Signer`] seam and its first implementation, the local key
//! folder ([`KeyDir`]: x509.pem / cosign.key); DSSE envelopes; the [`Signed`]
//! value handed to storage; cosign-compatible key generation.

mod awskms;
mod azurekms;
pub mod cosign_key;
pub mod dsse;
mod fulcio;
mod gcpkms;
mod hashivault;
mod key;
mod keydir;
mod keygen;
mod kmsref;
#[cfg(test)]
mod replay;
mod signed;
mod signer;
pub(crate) mod tokens;
pub mod verify;

use std::path::PathBuf;

pub use key::SigningKey;
pub use keydir::{KeyDir, LoadedKey};
pub use keygen::{GeneratedKeyPair, generate_cosign_key_pair};
pub use signed::{LogEntry, Signed, Subject};
pub use signer::{Signature, Signer, Verifier};

use crate::config::SigningIdentity;
use crate::remote::RemoteError;
use crate::seam::{Maker, Registry};

/// The pure parsers of what remote signers send back (Vault Transit, AWS
/// KMS, Cloud KMS, Fulcio): untrusted input, fuzzed by `make fuzz`.
pub mod replies {
    pub use super::awskms::key::{parse as aws_reference, public_pem as aws_public_pem};
    pub use super::azurekms::key::{
        Algorithm as AzureAlgorithm, parse as azure_reference, parse_key as azure_key,
        parse_signature as azure_signature,
    };
    pub use super::fulcio::cert::{parse as fulcio_certificate, subject as token_subject};
    pub use super::gcpkms::key::{
        Input as GcpInput, newest_enabled as gcp_newest_enabled, parse as gcp_reference,
        parse_public_key as gcp_public_key, parse_signature as gcp_signature,
    };
    pub use super::hashivault::transit::{
        key_name as vault_key_name, parse_key as vault_key, parse_login as vault_login,
        parse_signature as vault_signature,
    };
}

/// The registry name of the keyless (Fulcio) signer.
pub const KEYLESS: &str = "keyless";

/// The signing identities' registry.
pub type Signers = Registry<SigningIdentity, dyn Signer>;

/// Every signer this release has: one line each.
pub const SIGNERS: &[Maker<SigningIdentity, dyn Signer>] =
    &[keydir::factory, hashivault::factory, awskms::factory, azurekms::factory, gcpkms::factory, fulcio::factory];

/// Why a signer could not sign: a local key problem, or a remote signer
/// (KMS, Fulcio) that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Remote(#[from] RemoteError),
}

impl SignError {
    /// Whether trying again later can help.
    pub fn retryable(&self) -> bool {
        match self {
            Self::Key(e) => e.retryable(),
            Self::Remote(e) => e.retryable,
        }
    }

    /// Whether the signer's remote is down for a while.
    pub fn unavailable(&self) -> bool {
        matches!(self, Self::Remote(e) if e.unavailable)
    }

    /// Short label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Key(e) => e.metric_label(),
            Self::Remote(e) => e.metric_label(),
        }
    }
}

/// Key problems. Messages name files, never key material or passwords.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("no signing key in {dir}: looked for {looked_for}")]
    Missing { dir: PathBuf, looked_for: String },
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: cannot decrypt with the password in {password_file} (wrong password or corrupt key)")]
    Decrypt { file: String, password_file: String },
    #[error("{file}: unsupported key type; supported: ECDSA P-256, ECDSA P-384, ed25519")]
    Unsupported { file: String },
    #[error("generating a key: {0}")]
    Generate(String),
    #[error("the key files in {dir} changed while being read; trying again")]
    Changing { dir: PathBuf },
}

impl KeyError {
    /// Whether trying again later can help (a key may be added or fixed meanwhile).
    pub fn retryable(&self) -> bool {
        !matches!(self, Self::Generate(_))
    }

    /// Short label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Missing { .. } => "key_missing",
            Self::Parse { .. } | Self::Unsupported { .. } => "key_invalid",
            Self::Decrypt { .. } => "key_decrypt",
            Self::Generate(_) => "key_generate",
            Self::Changing { .. } => "key_changing",
        }
    }
}

#[cfg(test)]
mod tests;
