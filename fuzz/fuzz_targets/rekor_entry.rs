//! `transparency::entry`: the log's answer for one entry (any bytes) through
//! `parse`, then `verify` against a fixed P-256 log key, `bundle` and
//! `signed_payload`. Property: no panic; the bundle is JSON; and the same
//! entry, given the key's logID and a SignedEntryTimestamp made with the key
//! over its `signed_payload`, verifies, and no longer does once its body changes.
#![no_main]

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use p256::ecdsa::signature::Signer as _;
use tekton_chains_operator::transparency::entry::{self, LogKey};

static SIGNER: LazyLock<p256::ecdsa::SigningKey> =
    LazyLock::new(|| p256::ecdsa::SigningKey::from_slice(&[0x5a; 32]).expect("a fixed P-256 scalar"));
static KEY: LazyLock<LogKey> = LazyLock::new(|| LogKey::P256(*SIGNER.verifying_key()));

fuzz_target!(|data: &[u8]| {
    let Ok((_uuid, mut entry)) = entry::parse(data) else { return };
    let _ = entry.verify(&KEY);
    serde_json::from_str::<serde_json::Value>(&entry.bundle()).expect("the bundle is JSON");

    entry.log_id = KEY.log_id();
    let sig: p256::ecdsa::Signature = SIGNER.sign(&entry.signed_payload());
    entry.verification.signed_entry_timestamp = STANDARD.encode(sig.to_der().as_bytes());
    assert_eq!(entry.verify(&KEY), Ok(()), "a SignedEntryTimestamp made with the key verifies");
    entry.body.push('x');
    assert!(entry.verify(&KEY).is_err(), "a changed body no longer verifies");
});
