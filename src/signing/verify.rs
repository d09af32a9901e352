//! Checking a signature against a public key (pure): what
//! `signers.verify-before-skip` uses to tell a real `signed=true` from one
//! somebody wrote by hand.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::pkcs8::DecodePublicKey as _;
use sha2::{Digest as _, Sha256, Sha384};

use super::dsse::{self, Envelope};

/// True when `sig` is a signature over `msg` by the key in `public_key_pem`
/// (ECDSA P-256 over SHA-256; P-384 over SHA-256, as we and Vault sign, or
/// SHA-384, as AWS KMS signs; DER; or ed25519). RSA keys are not checked
/// (false).
pub fn verify(public_key_pem: &str, msg: &[u8], sig: &[u8]) -> bool {
    use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
    if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_pem(public_key_pem) {
        return p256::ecdsa::Signature::from_der(sig).is_ok_and(|s| k.verify_prehash(&Sha256::digest(msg), &s).is_ok());
    }
    if let Ok(k) = p384::ecdsa::VerifyingKey::from_public_key_pem(public_key_pem) {
        let ok = |s: &p384::ecdsa::Signature| {
            k.verify_prehash(&Sha256::digest(msg), s).is_ok() || k.verify_prehash(&Sha384::digest(msg), s).is_ok()
        };
        return p384::ecdsa::Signature::from_der(sig).is_ok_and(|s| ok(&s));
    }
    if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_pem(public_key_pem) {
        return ed25519_dalek::Signature::from_slice(sig).is_ok_and(|s| k.verify_strict(msg, &s).is_ok());
    }
    false
}

/// Checks what `tekton` storage keeps for one payload: `stored_payload`
/// (the payload annotation, base64) must be `payload`, and `stored_sig`
/// (the signature annotation, base64: a DSSE envelope when `dsse`) must be
/// a signature over it by `public_key_pem`. `Err` says what is wrong.
pub fn check_stored(
    public_key_pem: &str,
    payload: &[u8],
    dsse: bool,
    stored_payload: Option<&str>,
    stored_sig: Option<&str>,
) -> Result<(), &'static str> {
    let decode = |v: Option<&str>| v.and_then(|v| STANDARD.decode(v.trim()).ok());
    let (Some(p), Some(sig)) = (decode(stored_payload), decode(stored_sig)) else {
        return Err("no stored payload and signature");
    };
    if p != payload {
        return Err("the stored payload is not this run's");
    }
    let ok = if dsse {
        let Ok(env) = serde_json::from_slice::<Envelope>(&sig) else { return Err("the stored envelope is not DSSE") };
        let inner = STANDARD.decode(&env.payload).unwrap_or_default();
        inner == payload
            && env.signatures.iter().any(|s| {
                STANDARD
                    .decode(&s.sig)
                    .is_ok_and(|raw| verify(public_key_pem, &dsse::pae(&env.payload_type, &inner), &raw))
            })
    } else {
        verify(public_key_pem, payload, &sig)
    };
    if ok { Ok(()) } else { Err("the stored signature does not verify with the current key") }
}
