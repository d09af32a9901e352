//! `signing::SigningKey` loaders: `from_pkcs8_pem` (x509.pem) and
//! `from_cosign_pem` (cosign.key, scrypt + secretbox) on any PEM and
//! password. Property: no panic; no error message holds the password (as
//! UTF-8, 8 chars or more, and not a word of the messages themselves).
//!
//! Input: `<pem>\0<password>` (no NUL: the whole input is the PEM and the
//! password is empty). sigstore rejects scrypt parameters other than
//! N = 32768 or 65536, r = 8, p = 1 before deriving, so a hostile N costs nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tekton_chains_operator::signing::{KeyError, SigningKey};

fuzz_target!(|data: &[u8]| {
    let (pem, password) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let mut messages = Vec::new();
    if let Ok(text) = std::str::from_utf8(pem) {
        messages.extend(SigningKey::from_pkcs8_pem(text, "x509.pem").err());
    }
    messages.extend(SigningKey::from_cosign_pem(pem, password, "cosign.key", "cosign.password").err());

    let Ok(password) = std::str::from_utf8(password) else { return };
    // The messages' own words (file names, fixed text) are no leak.
    let fixed = [
        KeyError::Decrypt { file: "cosign.key".into(), password_file: "cosign.password".into() },
        KeyError::Unsupported { file: "x509.pem".into() },
    ]
    .map(|e| e.to_string())
    .join(" ");
    if password.chars().count() < 8 || fixed.contains(password) || String::from_utf8_lossy(pem).contains(password) {
        return;
    }
    for e in messages {
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(password), "the password in an error: {shown}");
    }
});
