use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::hazmat::PrehashSigner as _;
use p256::pkcs8::EncodePublicKey as _;

use super::*;
use crate::config::Artifact;
use crate::signing::dsse;

fn signed(cert: Option<&str>, envelope: bool) -> Signed {
    Signed::fixture(
        Artifact::TaskRun,
        "taskrun-uid",
        br#"{"_type":"https://in-toto.io/Statement/v0.1"}"#,
        cert,
        envelope,
    )
}

fn b64(s: &str) -> String {
    STANDARD.encode(s)
}

#[test]
fn plain_signatures_are_hashedrekord_over_the_payload_digest() {
    let s = signed(None, false);
    let v = proposed(&s, LogEntryKind::InToto);
    assert_eq!(v["kind"], "hashedrekord");
    assert_eq!(v["apiVersion"], "0.0.1");
    assert_eq!(v["spec"]["data"]["hash"]["value"], sha256_hex(&s.payload));
    assert_eq!(v["spec"]["signature"]["content"], b64("sig"));
    assert_eq!(v["spec"]["signature"]["publicKey"]["content"], b64("PEM"));
    // A certificate, when there is one, is the verifier.
    let v = proposed(&signed(Some("CERT"), false), LogEntryKind::InToto);
    assert_eq!(v["spec"]["signature"]["publicKey"]["content"], b64("CERT"));
}

#[test]
fn attestations_are_intoto_v002_with_both_digests() {
    let s = signed(None, true);
    let v = proposed(&s, LogEntryKind::InToto);
    assert_eq!((v["kind"].as_str(), v["apiVersion"].as_str()), (Some("intoto"), Some("0.0.2")));
    let c = &v["spec"]["content"];
    let env = s.envelope.as_ref().unwrap();
    assert_eq!(c["envelope"]["payloadType"], dsse::IN_TOTO_PAYLOAD_TYPE);
    // The envelope's base64 strings, base64-encoded once more.
    assert_eq!(c["envelope"]["payload"], b64(&env.payload));
    assert_eq!(c["envelope"]["signatures"][0]["sig"], b64(&env.signatures[0].sig));
    assert_eq!(c["envelope"]["signatures"][0]["publicKey"], b64("PEM"));
    assert_eq!(c["hash"]["value"], sha256_hex(&s.stored_signature()));
    assert_eq!(c["payloadHash"]["value"], sha256_hex(&s.payload));
}

#[test]
fn attestations_can_be_dsse_entries() {
    let s = signed(Some("CERT"), true);
    let v = proposed(&s, LogEntryKind::Dsse);
    assert_eq!((v["kind"].as_str(), v["apiVersion"].as_str()), (Some("dsse"), Some("0.0.1")));
    let p = &v["spec"]["proposedContent"];
    assert_eq!(p["envelope"].as_str().unwrap().as_bytes(), s.stored_signature());
    assert_eq!(p["verifiers"], json!([b64("CERT")]));
}

/// A log key and an entry signed by it, as Rekor answers.
fn logged() -> (LogKey, Entry) {
    let sk = SigningKey::from_slice(&[7u8; 32]).unwrap();
    let pem = sk.verifying_key().to_public_key_pem(p256::pkcs8::LineEnding::LF).unwrap();
    let key = LogKey::from_pem(&pem).unwrap();
    let mut entry = Entry {
        body: b64(r#"{"kind":"hashedrekord"}"#),
        integrated_time: 1_700_000_000,
        log_id: key.log_id(),
        log_index: 42,
        verification: Verification { signed_entry_timestamp: String::new(), inclusion_proof: None },
    };
    let sig: p256::ecdsa::Signature = sk.sign_prehash(&Sha256::digest(entry.signed_payload())).unwrap();
    entry.verification.signed_entry_timestamp = STANDARD.encode(sig.to_der().as_bytes());
    (key, entry)
}

#[test]
fn the_signed_entry_timestamp_is_checked_with_the_log_key() {
    let (key, entry) = logged();
    assert_eq!(
        String::from_utf8(entry.signed_payload()).unwrap(),
        format!(r#"{{"body":"{}","integratedTime":1700000000,"logID":"{}","logIndex":42}}"#, entry.body, entry.log_id)
    );
    entry.verify(&key).unwrap();
    let mut moved = entry.clone();
    moved.log_index = 43;
    assert_eq!(moved.verify(&key), Err(EntryError::BadTimestamp));
    let mut other = entry.clone();
    other.log_id = "00".repeat(32);
    assert!(matches!(other.verify(&key), Err(EntryError::WrongLog { .. })));
    assert!(LogKey::from_pem("not a key").is_err());
}

#[test]
fn answers_parse_and_become_cosign_bundles() {
    let (_, mut entry) = logged();
    entry.verification.inclusion_proof = Some(json!({ "hashes": [] }));
    let answer = json!({ "24296fb2": {
        "body": entry.body, "integratedTime": entry.integrated_time, "logID": entry.log_id,
        "logIndex": 42, "verification": { "signedEntryTimestamp": entry.verification.signed_entry_timestamp,
        "inclusionProof": { "hashes": [] } },
    }});
    let (uuid, parsed) = parse(&serde_json::to_vec(&answer).unwrap()).unwrap();
    assert_eq!((uuid.as_str(), &parsed), ("24296fb2", &entry));
    let bundle: Value = serde_json::from_str(&entry.bundle()).unwrap();
    assert_eq!(bundle["SignedEntryTimestamp"], entry.verification.signed_entry_timestamp.as_str());
    assert_eq!(bundle["Payload"]["logIndex"], 42);
    assert_eq!(bundle["Payload"]["body"], entry.body.as_str());
    assert!(matches!(parse(b"{}"), Err(EntryError::Malformed(_))));
}

#[test]
fn an_entry_with_an_inclusion_proof_becomes_a_bundle_tlog_entry() {
    let (_, mut entry) = logged();
    entry.body = b64(r#"{"apiVersion":"0.0.2","kind":"intoto","spec":{}}"#);
    assert!(entry.tlog_entry().is_none(), "no proof, no bundle entry");
    let proof = InclusionProof {
        log_index: 41,
        root_hash: "ab".repeat(32),
        tree_size: 50,
        hashes: vec!["cd".repeat(32)],
        checkpoint: "rekor - 1\n50\nq80=\n\n— rekor sig\n".into(),
    };
    entry.verification.inclusion_proof = Some(serde_json::to_value(&proof).unwrap());
    let t = entry.tlog_entry().unwrap();
    assert_eq!(t["logIndex"], "42");
    assert_eq!(t["integratedTime"], "1700000000");
    assert_eq!(t["kindVersion"], json!({ "kind": "intoto", "version": "0.0.2" }));
    assert_eq!(t["logId"]["keyId"], STANDARD.encode(hex_bytes(&entry.log_id).unwrap()));
    assert_eq!(t["inclusionPromise"]["signedEntryTimestamp"], entry.verification.signed_entry_timestamp);
    assert_eq!(t["inclusionProof"]["logIndex"], "41");
    assert_eq!(t["inclusionProof"]["treeSize"], "50");
    assert_eq!(t["inclusionProof"]["rootHash"], STANDARD.encode([0xab; 32]));
    assert_eq!(t["inclusionProof"]["hashes"], json!([STANDARD.encode([0xcd; 32])]));
    assert_eq!(t["inclusionProof"]["checkpoint"]["envelope"], "rekor - 1\n50\nq80=\n\n— rekor sig\n");
    assert_eq!(t["canonicalizedBody"], entry.body);
    // Hashes that are not hex give no entry rather than a wrong one.
    entry.verification.inclusion_proof =
        Some(serde_json::to_value(InclusionProof { hashes: vec!["zz".into()], ..proof }).unwrap());
    assert!(entry.tlog_entry().is_none());
    entry.verification.inclusion_proof = Some(json!("junk"));
    assert!(entry.tlog_entry().is_none());
    assert_eq!(hex_bytes("abc"), None);
}
