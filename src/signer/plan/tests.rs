use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::config::ChainsConfig;
use crate::formats::detect;
use crate::signer::worker::patch_body;

const D: &str = "sha256:abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789";

fn config(pairs: &[(&str, &str)]) -> ChainsConfig {
    ChainsConfig::parse(&pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()).unwrap()
}

fn taskrun() -> serde_json::Value {
    json!({
        "metadata": { "name": "tr", "namespace": "ns", "uid": "u-1", "resourceVersion": "42",
                      "finalizers": ["other/keep", "chains.tekton.dev/taskrun"] },
        "status": { "conditions": [{ "type": "Succeeded", "status": "True" }],
                    "results": [{ "name": "IMAGE_URL", "value": "quay.io/a/b" }, { "name": "IMAGE_DIGEST", "value": D }] },
    })
}

fn key() -> crate::signing::SigningKey {
    use p256::pkcs8::EncodePrivateKey as _;
    let pem = p256::SecretKey::from_slice(&[5u8; 32]).unwrap().to_pkcs8_pem(Default::default()).unwrap();
    crate::signing::SigningKey::from_pkcs8_pem(&pem, "x509.pem").unwrap()
}

#[test]
fn default_config_signs_the_run_in_toto_and_images_need_oci_storage() {
    let obj = taskrun();
    let run = Run::new(RunKind::TaskRun, &obj);
    // Default oci storage is "oci", which this release cannot write: a clear error.
    let err = plan(&run, &ChainsConfig::default(), &detect(&run), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "storage backend \"oci\" (artifacts.oci.storage) is not supported yet; supported: \"tekton\""
    );
    let s = plan(&run, &config(&[("artifacts.oci.storage", "tekton")]), &detect(&run), &[]).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!((s[0].key.as_str(), s[0].dsse, s[0].artifact), ("taskrun-u-1", true, "taskrun"));
    assert_eq!((s[1].key.as_str(), s[1].dsse, s[1].artifact), ("abcdef012345", false, "oci"));
}

#[test]
fn signer_none_and_empty_storage_disable_an_artifact_type() {
    let obj = taskrun();
    let run = Run::new(RunKind::TaskRun, &obj);
    let c = config(&[("artifacts.oci.signer", "none"), ("artifacts.taskrun.storage", "")]);
    assert!(plan(&run, &c, &detect(&run), &[]).unwrap().is_empty());
}

#[test]
fn annotations_carry_base64_payload_and_signature_for_each_key() {
    let obj = taskrun();
    let run = Run::new(RunKind::TaskRun, &obj);
    let c = config(&[("artifacts.oci.storage", "tekton"), ("artifacts.taskrun.format", "tekton")]);
    let s = plan(&run, &c, &detect(&run), &[]).unwrap();
    let k = key();
    let a = sign_into_annotations(&s, &k);
    let keys: Vec<_> = a.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "chains.tekton.dev/cert-abcdef012345",
            "chains.tekton.dev/cert-taskrun-u-1",
            "chains.tekton.dev/chain-abcdef012345",
            "chains.tekton.dev/chain-taskrun-u-1",
            "chains.tekton.dev/payload-abcdef012345",
            "chains.tekton.dev/payload-taskrun-u-1",
            "chains.tekton.dev/signature-abcdef012345",
            "chains.tekton.dev/signature-taskrun-u-1",
        ]
    );
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = b64.decode(&a["chains.tekton.dev/payload-taskrun-u-1"]).unwrap();
    let sig = b64.decode(&a["chains.tekton.dev/signature-taskrun-u-1"]).unwrap();
    assert!(k.verify(&payload, &sig));
}

#[test]
fn the_signed_patch_is_conditional_and_drops_only_our_finalizer() {
    let obj = taskrun();
    let run = Run::new(RunKind::TaskRun, &obj);
    let body = patch_body(&run, BTreeMap::from([(SIGNED.to_string(), "true".to_string())]));
    assert_eq!(
        body,
        json!({ "metadata": { "resourceVersion": "42", "annotations": { SIGNED: "true" }, "finalizers": ["other/keep"] } })
    );
    // A retry keeps the finalizer: the run is not done with yet.
    let retry = patch_body(&run, BTreeMap::from([(RETRIES.to_string(), "1".to_string())]));
    assert!(retry["metadata"].get("finalizers").is_none());
}

#[test]
fn only_finished_unsigned_runs_need_signing() {
    let mut obj = taskrun();
    assert!(needs_signing(&Run::new(RunKind::TaskRun, &obj)));
    obj["metadata"]["annotations"] = json!({ SIGNED: "failed" });
    assert!(!needs_signing(&Run::new(RunKind::TaskRun, &obj)));
    obj["metadata"]["annotations"] = json!({});
    obj["status"]["conditions"][0]["status"] = json!("Unknown");
    assert!(!needs_signing(&Run::new(RunKind::TaskRun, &obj)));
}

#[test]
fn kms_and_keyless_are_refused_rather_than_signed_with_the_local_key() {
    let obj = taskrun();
    let run = Run::new(RunKind::TaskRun, &obj);
    let err = plan(&run, &config(&[("artifacts.taskrun.signer", "kms")]), &detect(&run), &[]).unwrap_err();
    assert!(err.to_string().starts_with("signer \"kms\" (artifacts.taskrun.signer) is not supported yet"), "{err}");
    let err = plan(&run, &config(&[("signers.x509.fulcio.enabled", "true")]), &detect(&run), &[]).unwrap_err();
    assert_eq!(err, PlanError::Keyless);
}
