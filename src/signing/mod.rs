//! Signing keys and signatures: loading x509.pem / cosign.key, signing,
//! DSSE envelopes, and cosign-compatible key generation.

pub mod dsse;
mod key;
mod keydir;
mod keygen;

use std::path::PathBuf;

pub use key::SigningKey;
pub use keydir::{KEY_FILES, KeyDir, LoadedKey};
pub use keygen::{GeneratedKeyPair, generate_cosign_key_pair};

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
}

#[cfg(test)]
mod tests;
