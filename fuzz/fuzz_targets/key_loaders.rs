//! `signing::SigningKey` loaders: `from_pkcs8_pem` (x509.pem) and
//! `from_cosign_pem` (cosign.key, scrypt + secretbox) on any PEM and
//! password. Property: no panic; no cosign.key error holds the password (as
//! UTF-8, 8 chars or more, and not a word the message has with any password).
//!
//! Input: `<pem>\0<password>` (no NUL: the whole input is the PEM and the
//! password is empty). signing/cosign_key.rs rejects scrypt parameters other than
//! N = 32768 or 65536, r = 8, p = 1 before deriving, so a hostile N costs nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tekton_chains_operator::signing::SigningKey;

fuzz_target!(|data: &[u8]| {
    let (pem, password) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    // x509.pem takes no password: only no panic.
    if let Ok(text) = std::str::from_utf8(pem) {
        let _ = SigningKey::from_pkcs8_pem(text, "x509.pem");
    }
    let shown = |password: &[u8]| {
        SigningKey::from_cosign_pem(pem, password, "cosign.key", "cosign.password").err().map(|e| format!("{e} {e:?}"))
    };
    let Some(with_it) = shown(password) else { return };

    let Ok(text) = std::str::from_utf8(password) else { return };
    if text.chars().count() < 8 || String::from_utf8_lossy(pem).contains(text) {
        return;
    }
    // The same PEM with another password of the same length: a password
    // that is a word of the message itself (`PRIVATE KEY`, a file name) is
    // in both, and is no leak (the first crash this target found was that).
    let other: Vec<u8> = password.iter().map(|&b| if b == b'#' { b'%' } else { b'#' }).collect();
    let without = shown(&other).unwrap_or_default();
    assert!(!with_it.contains(text) || without.contains(text), "the password in an error: {with_it}");
});
