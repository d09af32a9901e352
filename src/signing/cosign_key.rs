//! Decrypting cosign's encrypted private keys (`ENCRYPTED COSIGN PRIVATE
//! KEY` / `ENCRYPTED SIGSTORE PRIVATE KEY`): PEM around JSON naming the KDF
//! (scrypt) and the cipher (nacl secretbox) over a PKCS#8 key.
//!
//! Done here rather than with sigstore's `SigStoreKeyPair::from_encrypted_pem`,
//! which runs scrypt once per key type it tries (ECDSA, ed25519, RSA), each
//! with its own 32 MiB buffer. Here scrypt runs once, with the parameters
//! cosign writes (N 32768 or 65536, r 8, p 1; anything else is refused, so a
//! key file cannot ask for gigabytes), and every secret buffer is zeroized.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use crypto_secretbox::aead::{Aead as _, KeyInit as _};
use serde::Deserialize;
use zeroize::Zeroizing;

/// The PEM labels cosign and skopeo write.
pub const LABELS: &[&str] = &["ENCRYPTED COSIGN PRIVATE KEY", "ENCRYPTED SIGSTORE PRIVATE KEY"];
/// scrypt parameters accepted (as cosign and sigstore accept them).
const SCRYPT_N: &[u64] = &[32768, 65536];
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;
/// Largest key file read.
pub const MAX_PEM: usize = 64 << 10;

/// Why a key could not be decrypted (never with key material in it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    #[error("{0}")]
    Format(String),
    #[error("wrong password or corrupt key")]
    Password,
}

#[derive(Deserialize)]
struct Data {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Deserialize)]
struct Kdf {
    name: String,
    params: KdfParams,
    salt: String,
}

#[derive(Deserialize)]
struct KdfParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

/// The PKCS#8 DER inside an encrypted cosign key.
pub fn decrypt(pem: &[u8], password: &[u8]) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    let format = |m: &str| DecryptError::Format(m.to_string());
    if pem.len() > MAX_PEM {
        return Err(format("larger than a key file can be (64 KiB)"));
    }
    let (label, body) = pkcs8::der::pem::decode_vec(pem).map_err(|_| format("not a PEM file"))?;
    if !LABELS.contains(&label) {
        return Err(DecryptError::Format(format!(
            "PEM type {:?}; expected \"ENCRYPTED COSIGN PRIVATE KEY\" or \"ENCRYPTED SIGSTORE PRIVATE KEY\"",
            crate::http::excerpt(label.as_bytes(), 60)
        )));
    }
    let body = Zeroizing::new(body);
    let data: Data = serde_json::from_slice(&body).map_err(|_| format("the PEM body is not cosign's key JSON"))?;
    if data.kdf.name != "scrypt" || data.cipher.name != "nacl/secretbox" {
        return Err(format("unsupported KDF or cipher (expected scrypt and nacl/secretbox)"));
    }
    let KdfParams { n, r, p } = data.kdf.params;
    if !SCRYPT_N.contains(&n) || r != SCRYPT_R || p != SCRYPT_P {
        return Err(DecryptError::Format(format!(
            "scrypt parameters N={n} r={r} p={p}; cosign's are N=32768 or 65536, r=8, p=1"
        )));
    }
    let salt = STANDARD.decode(&data.kdf.salt).map_err(|_| format("salt is not base64"))?;
    let nonce = STANDARD.decode(&data.cipher.nonce).map_err(|_| format("nonce is not base64"))?;
    let ciphertext = STANDARD.decode(&data.ciphertext).map_err(|_| format("ciphertext is not base64"))?;
    if nonce.len() != 24 {
        return Err(format("nonce is not 24 bytes"));
    }
    let params = scrypt::Params::new(n.trailing_zeros() as u8, r, p).map_err(|_| format("bad scrypt parameters"))?;
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password, &salt, &params, key.as_mut()).map_err(|_| format("scrypt failed"))?;
    #[allow(deprecated)]
    let cipher = crypto_secretbox::XSalsa20Poly1305::new(crypto_secretbox::Key::from_slice(key.as_ref()));
    #[allow(deprecated)]
    let nonce = crypto_secretbox::Nonce::from_slice(&nonce);
    cipher.decrypt(nonce, ciphertext.as_slice()).map(Zeroizing::new).map_err(|_| DecryptError::Password)
}
