use p256::pkcs8::EncodePublicKey as _;

use super::*;
use crate::config::Artifact;

fn signed(envelope: bool) -> Signed {
    let mut s = Signed::fixture(Artifact::TaskRun, "k", br#"{"_type":"x"}"#, None, envelope);
    let key = p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
    s.verifier.public_key_pem = key.verifying_key().to_public_key_pem(Default::default()).unwrap().into();
    s
}

fn subject() -> Descriptor {
    Descriptor { media_type: OCI_MANIFEST.into(), digest: format!("sha256:{}", "c".repeat(64)), size: 321 }
}

#[test]
fn a_dsse_bundle_carries_the_envelope_a_key_hint_and_no_entries_without_a_log() {
    let s = signed(true);
    let b: Value = serde_json::from_slice(&sigstore_bundle(&s).unwrap()).unwrap();
    assert_eq!(b["mediaType"], BUNDLE_V03);
    let env = s.envelope.as_ref().unwrap();
    assert_eq!(b["dsseEnvelope"]["payload"], env.payload);
    assert_eq!(b["dsseEnvelope"]["payloadType"], env.payload_type);
    assert_eq!(b["dsseEnvelope"]["signatures"][0]["sig"], env.signatures[0].sig);
    let der = key_der(&s.verifier.public_key_pem).unwrap();
    assert_eq!(b["verificationMaterial"]["publicKey"]["hint"], STANDARD.encode(Sha256::digest(der)));
    assert_eq!(b["verificationMaterial"]["tlogEntries"], json!([]));
    // A raw signature has no bundle here.
    assert!(sigstore_bundle(&signed(false)).is_none());
}

#[test]
fn a_logged_bundle_lists_its_entry() {
    let mut s = signed(true);
    let entry = json!({ "logIndex": "4" });
    s.log_entry = Some(crate::transparency::LogEntry {
        log_index: 4,
        uuid: "u".into(),
        url: "http://rekor/4".into(),
        bundle: None,
        tlog_entry: Some(entry.clone()),
    });
    let b: Value = serde_json::from_slice(&sigstore_bundle(&s).unwrap()).unwrap();
    assert_eq!(b["verificationMaterial"]["tlogEntries"], json!([entry]));
}

#[test]
fn the_referrer_manifest_follows_cosigns_bundle_spec() {
    let bundle = br#"{"mediaType":"b"}"#;
    let a = annotations("https://slsa.dev/provenance/v0.2", Some("2026-12-07T00:00:00Z"));
    let m: Value = serde_json::from_slice(&referrer_manifest(bundle, &subject(), &a)).unwrap();
    assert_eq!(m["artifactType"], BUNDLE_V03);
    assert_eq!(m["mediaType"], OCI_MANIFEST);
    assert_eq!(m["config"]["mediaType"], EMPTY_CONFIG_TYPE);
    assert_eq!(m["config"]["digest"], "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
    assert_eq!(m["layers"][0]["digest"], sha256_digest(bundle));
    assert_eq!(m["layers"][0]["mediaType"], BUNDLE_V03);
    let title = m["layers"][0]["annotations"][TITLE_ANNOTATION].as_str().unwrap();
    assert!(title.starts_with("sha256-") && title.ends_with(".sigstore.json"), "{title}");
    assert_eq!(m["subject"], json!({ "mediaType": OCI_MANIFEST, "digest": subject().digest, "size": 321 }));
    assert_eq!(m["annotations"][CONTENT_ANNOTATION], "dsse-envelope");
    assert_eq!(m["annotations"][PREDICATE_ANNOTATION], "https://slsa.dev/provenance/v0.2");
    assert_eq!(m["annotations"][CREATED_ANNOTATION], "2026-12-07T00:00:00Z");
    // The same inputs make the same manifest (a retry pushes nothing new).
    assert_eq!(referrer_manifest(bundle, &subject(), &a), referrer_manifest(bundle, &subject(), &a));
}

#[test]
fn the_referrers_index_gains_each_manifest_once_and_keeps_the_others() {
    let a = annotations("p", None);
    let one = referrer_manifest(b"1", &subject(), &a);
    let two = referrer_manifest(b"2", &subject(), &a);
    let first: Value = serde_json::from_slice(&index_with(None, &one, &a).unwrap().unwrap()).unwrap();
    assert_eq!(first["mediaType"], OCI_INDEX);
    assert_eq!(first["manifests"][0]["digest"], sha256_digest(&one));
    assert_eq!(first["manifests"][0]["artifactType"], BUNDLE_V03);
    assert_eq!(first["manifests"][0]["size"], one.len());
    assert!(index_with(Some(&first), &one, &a).unwrap().is_none(), "listed already");
    let both: Value = serde_json::from_slice(&index_with(Some(&first), &two, &a).unwrap().unwrap()).unwrap();
    assert_eq!(both["manifests"].as_array().unwrap().len(), 2);
    assert_eq!(both["manifests"][0], first["manifests"][0]);
}

#[test]
fn a_junk_index_is_refused() {
    let a = annotations("p", None);
    let m = referrer_manifest(b"1", &subject(), &a);
    for junk in [json!([1]), json!({"mediaType": OCI_MANIFEST}), json!({"manifests": "x"}), json!({"manifests": [1]})] {
        assert!(index_with(Some(&junk), &m, &a).is_err(), "{junk}");
    }
    assert_eq!(referrers_tag("sha256:ab"), "sha256-ab");
}
