//! Signing keys: generation now; loading and signing come with the signer.

mod keygen;

pub use keygen::{GeneratedKeyPair, KeyError, generate_cosign_key_pair};
