use super::*;
use crate::config::Artifact;

fn signed(cert: Option<&str>, envelope: bool) -> Signed {
    Signed::fixture(Artifact::Oci, "k", br#"{"critical":{}}"#, cert, envelope)
}

fn manifest(m: &Merge) -> Value {
    match m {
        Merge::Push { manifest, .. } => serde_json::from_slice(manifest).unwrap(),
        Merge::Present => panic!("expected a push"),
    }
}

#[test]
fn tags_follow_cosign() {
    let d = format!("sha256:{}", "ab".repeat(32));
    assert_eq!(Tag::Signature.for_digest(&d), format!("sha256-{}.sig", "ab".repeat(32)));
    assert_eq!(Tag::Attestation.for_digest(&d), format!("sha256-{}.att", "ab".repeat(32)));
}

#[test]
fn a_signature_layer_carries_payload_signature_and_certificate() {
    let l = Layer::signature(&signed(Some("CERT"), false));
    assert_eq!(l.media_type, SIMPLESIGNING);
    assert_eq!(l.data, br#"{"critical":{}}"#);
    assert_eq!(l.annotations[SIGNATURE_ANNOTATION], STANDARD.encode(b"sig"));
    assert_eq!(l.annotations[CERTIFICATE_ANNOTATION], "CERT");
    assert!(!l.annotations.contains_key(CHAIN_ANNOTATION));
}

#[test]
fn an_attestation_layer_is_the_envelope_with_its_predicate_type() {
    let s = signed(None, true);
    let l = Layer::attestation(&s, "https://slsa.dev/provenance/v0.2");
    assert_eq!(l.media_type, DSSE_ENVELOPE);
    assert_eq!(l.data, s.stored_signature());
    assert_eq!(l.annotations[PREDICATE_TYPE_ANNOTATION], "https://slsa.dev/provenance/v0.2");
    assert_eq!(l.annotations[SIGNATURE_ANNOTATION], "");
    assert!(!l.annotations.contains_key(BUNDLE_ANNOTATION));
}

#[test]
fn logged_signatures_carry_the_rekor_bundle() {
    let mut s = signed(None, true);
    let bundle = r#"{"SignedEntryTimestamp":"c2V0","Payload":{}}"#;
    s.log_entry = Some(crate::transparency::LogEntry {
        log_index: 3,
        uuid: "u".into(),
        url: "http://rekor/api/v1/log/entries?logIndex=3".into(),
        bundle: Some(bundle.into()),
        tlog_entry: None,
    });
    assert_eq!(Layer::attestation(&s, "p").annotations[BUNDLE_ANNOTATION], bundle);
    s.envelope = None;
    assert_eq!(Layer::signature(&s).annotations[BUNDLE_ANNOTATION], bundle);
}

#[test]
fn a_new_tag_gets_an_oci_manifest_with_a_matching_config() {
    let l = Layer::signature(&signed(None, false));
    let m = merge(None, &l).unwrap();
    let Merge::Push { config, media_type, .. } = &m else { panic!() };
    let v = manifest(&m);
    assert_eq!(media_type, OCI_MANIFEST);
    assert_eq!(v["schemaVersion"], 2);
    assert_eq!(v["layers"].as_array().unwrap().len(), 1);
    assert_eq!(v["layers"][0]["digest"], l.digest());
    assert_eq!(v["config"]["digest"], sha256_digest(config));
    let c: Value = serde_json::from_slice(config).unwrap();
    assert_eq!(c["rootfs"]["diff_ids"], json!([l.digest()]));
}

#[test]
fn another_signers_layers_and_fields_are_kept_and_ours_is_added_once() {
    let theirs = json!({
        "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": { "mediaType": DOCKER_CONFIG, "size": 1, "digest": "sha256:00" },
        "layers": [{ "mediaType": SIMPLESIGNING, "size": 3, "digest": "sha256:11",
                     "annotations": { SIGNATURE_ANNOTATION: "other" } }],
        "annotations": { "org.example/keep": "yes" },
    });
    let l = Layer::signature(&signed(None, false));
    let m = merge(Some(&theirs), &l).unwrap();
    let Merge::Push { media_type, .. } = &m else { panic!() };
    assert_eq!(media_type, DOCKER_MANIFEST);
    let v = manifest(&m);
    assert_eq!(v["layers"].as_array().unwrap().len(), 2);
    assert_eq!(v["layers"][0]["annotations"][SIGNATURE_ANNOTATION], "other");
    assert_eq!(v["annotations"]["org.example/keep"], "yes");
    assert_eq!(v["config"]["mediaType"], DOCKER_CONFIG);
    // Pushed again (a retry): nothing to do.
    assert_eq!(merge(Some(&v), &l), Ok(Merge::Present));
    // The same payload with another certificate is another signature.
    assert!(matches!(merge(Some(&v), &Layer::signature(&signed(Some("C"), false))), Ok(Merge::Push { .. })));
    // A retry whose log entry came back with a fresh timestamp: still present.
    let mut again = l.clone();
    again.annotations.insert(BUNDLE_ANNOTATION.into(), r#"{"SignedEntryTimestamp":"bmV3"}"#.into());
    assert_eq!(merge(Some(&v), &again), Ok(Merge::Present));
}

#[test]
fn a_manifest_that_is_not_an_image_manifest_is_refused_not_a_panic() {
    let l = Layer::signature(&signed(None, false));
    // 777777 and 521: the two crashes `make fuzz` (layout_merge) found in c1f2914.
    for junk in [json!([]), json!(1), json!(777777), json!(521), json!("x"), json!(null), json!(true)] {
        assert_eq!(merge(Some(&junk), &l), Err(LayoutError::NotAnObject), "{junk}");
    }
    for junk in [
        json!({ "layers": 5 }),
        json!({ "layers": [1, 2] }),
        json!({ "layers": {} }),
        json!({ "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [] }),
        json!({ "mediaType": 7 }),
    ] {
        assert!(matches!(merge(Some(&junk), &l), Err(LayoutError::Field(_))), "{junk}");
    }
    // Odd but harmless fields are kept.
    let odd = json!({ "layers": [{ "digest": 5, "annotations": [] }], "config": "x" });
    assert!(matches!(merge(Some(&odd), &l), Ok(Merge::Push { .. })));
}
