//! `storage::oci::layout::merge`: the manifest a registry tag holds now (any
//! JSON) plus our layer. Property: no panic, whatever the tag holds; when the
//! answer is `Ok(Merge::Push)`, the manifest is a JSON object whose `layers`
//! array holds our layer's digest (and, from an empty tag, only it).
//!
//! Also `storage::oci::bundle::index_with` (the referrers-tag index a
//! registry holds now plus our referrer): no panic; when it answers an
//! index, that index lists our manifest once.
//!
//! Input: the first byte picks the layer's media type (simplesigning or a
//! DSSE envelope); the rest, when it is JSON, is the existing manifest.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tekton_chains_operator::storage::oci::bundle::{Descriptor, annotations, index_with, referrer_manifest};
use tekton_chains_operator::storage::oci::layout::{DSSE_ENVELOPE, Layer, Merge, SIMPLESIGNING, merge, sha256_digest};

fn check_index(existing: Option<&Value>) {
    let subject = Descriptor { media_type: "m".into(), digest: "sha256:00".into(), size: 1 };
    let a = annotations("p", None);
    let manifest = referrer_manifest(b"bundle", &subject, &a);
    let Ok(Some(index)) = index_with(existing, &manifest, &a) else { return };
    let index: Value = serde_json::from_slice(&index).expect("the index is JSON");
    let listed = index["manifests"].as_array().expect("manifests");
    let ours = sha256_digest(&manifest);
    assert_eq!(listed.iter().filter(|m| m["digest"] == ours.as_str()).count(), 1, "ours once in {index}");
}

fn check(existing: Option<&Value>, layer: &Layer) {
    // A refusal (not an object, an index, layers not a list) is an answer too.
    let Ok(Merge::Push { manifest, .. }) = merge(existing, layer) else { return };
    let manifest: Value = serde_json::from_slice(&manifest).expect("the manifest is JSON");
    let layers = manifest.as_object().expect("the manifest is an object")["layers"].as_array().expect("layers");
    assert!(layers.iter().any(|l| l["digest"] == layer.digest()), "our layer is in {manifest}");
    if existing.is_none() {
        assert_eq!(layers.len(), 1);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let layer = Layer {
        media_type: if pick & 1 == 0 { SIMPLESIGNING } else { DSSE_ENVELOPE },
        data: b"fuzz payload".to_vec(),
        annotations: [("dev.cosignproject.cosign/signature".to_string(), "c2ln".to_string())].into(),
    };
    check(None, &layer);
    check_index(None);
    if let Ok(existing) = serde_json::from_slice::<Value>(rest) {
        check(Some(&existing), &layer);
        check_index(Some(&existing));
    }
});
