//! The signing loop against a real API server, verified with the real cosign and openssl.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::core::v1::{ConfigMap, Event};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::{
    Env, RunningSigner, cosign_keys, eventually, free_port, http_get, namespace_with_config, runs_api, signer_options,
    start_signer, tmpdir,
};
use tekton_chains_operator::tekton::RunKind;

const IMG_DIGEST: &str = "sha256:5f8a0b3b39a1d1e0e7d3c0e1b5d4c4b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6";
const STEP_DIGEST: &str = "sha256:0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a090807060504030201000";

/// Creates a TaskRun, then finishes it as the Pipelines controller would.
async fn finished_taskrun(env: &Env, ns: &str, name: &str, results: Value, labels: Value) -> String {
    finished_taskrun_managed_by(env, ns, name, results, labels, None).await
}

/// A finished TaskRun whose `spec.managedBy` is `managed_by` (unset when `None`).
async fn finished_taskrun_managed_by(
    env: &Env,
    ns: &str,
    name: &str,
    results: Value,
    labels: Value,
    managed_by: Option<&str>,
) -> String {
    let api = runs_api(env, ns, "TaskRun");
    let mut tr = json!({
        "apiVersion": "tekton.dev/v1", "kind": "TaskRun",
        "metadata": { "name": name, "namespace": ns, "labels": labels },
        "spec": { "taskRef": { "name": "build-push" }, "serviceAccountName": "default",
                  "params": [{ "name": "IMAGE", "value": "registry.example/team/app" }] },
    });
    if let Some(m) = managed_by {
        tr["spec"]["managedBy"] = json!(m);
    }
    let created = api.create(&PostParams::default(), &serde_json::from_value(tr).unwrap()).await.unwrap();
    let status = json!({ "status": {
        "conditions": [{ "type": "Succeeded", "status": "True", "reason": "Succeeded",
                         "lastTransitionTime": "2026-11-23T10:00:10Z" }],
        "startTime": "2026-11-23T10:00:00Z", "completionTime": "2026-11-23T10:00:10Z",
        "podName": format!("{name}-pod"),
        "taskSpec": { "params": [{ "name": "IMAGE", "type": "string" }],
                      "steps": [{ "name": "build", "image": "registry.example/tools/builder:1", "script": "build --push" }] },
        "steps": [{ "name": "build", "container": "step-build",
                    "imageID": format!("docker-pullable://registry.example/tools/builder@{STEP_DIGEST}") }],
        "results": results,
    }});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
    created.metadata.uid.unwrap()
}

fn image_results() -> Value {
    json!([
        { "name": "IMAGE_URL", "type": "string", "value": "registry.example/team/app:v1" },
        { "name": "IMAGE_DIGEST", "type": "string", "value": IMG_DIGEST },
    ])
}

/// Waits for `chains.tekton.dev/signed` to reach `want`; returns the annotations.
async fn wait_signed(env: &Env, ns: &str, kind: &str, name: &str, want: &str) -> BTreeMap<String, String> {
    let api = runs_api(env, ns, kind);
    eventually(&format!("{kind} {ns}/{name} signed={want}"), || async {
        let o = api.get(name).await.ok()?;
        let a = o.metadata.annotations.unwrap_or_default();
        let got = a.get("chains.tekton.dev/signed")?;
        assert!(got == want || got.is_empty(), "{kind} {name}: signed={got}, want {want}: {a:?}");
        Some(a)
    })
    .await
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed: {text}");
    text
}

fn b64d(s: &str) -> Vec<u8> {
    STANDARD.decode(s).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tekton_format_with_a_cosign_key_verifies_with_cosign_verify_blob() {
    let env = Env::new().await;
    let cosign = support::cosign().expect("COSIGN_BIN");
    let keys = cosign_keys(&cosign);
    let ns = namespace_with_config(
        &env,
        "sig-tekton",
        &[
            ("artifacts.oci.storage", ""),
            ("artifacts.taskrun.format", "tekton"),
            ("artifacts.taskrun.storage", "tekton"),
        ],
    )
    .await;
    let _s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    let uid = finished_taskrun(&env, &ns, "build-push-run", image_results(), json!({})).await;
    let a = wait_signed(&env, &ns, "TaskRun", "build-push-run", "true").await;

    // As seed 000 does: the signature stays base64, the payload is decoded.
    let dir = tmpdir("verify");
    std::fs::write(dir.join("signature"), &a[&format!("chains.tekton.dev/signature-taskrun-{uid}")]).unwrap();
    let payload = b64d(&a[&format!("chains.tekton.dev/payload-taskrun-{uid}")]);
    std::fs::write(dir.join("payload"), &payload).unwrap();
    let out = run(Command::new(&cosign)
        .args(["verify-blob", "--insecure-ignore-tlog=true", "--key"])
        .arg(keys.join("cosign.pub"))
        .args(["--signature", "signature", "payload"])
        .current_dir(&dir));
    assert!(out.contains("Verified OK"), "{out}");
    let status: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(status["conditions"][0]["type"], "Succeeded", "the tekton payload is the run's status");
    // One patch signed the run: no annotation for OCI (its storage is disabled).
    assert!(!a.keys().any(|k| k.contains("signature-5f8a0b3b39a1")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_toto_with_a_cosign_key_verifies_with_cosign_verify_blob_attestation() {
    let env = Env::new().await;
    let cosign = support::cosign().expect("COSIGN_BIN");
    let keys = cosign_keys(&cosign);
    let ns = namespace_with_config(
        &env,
        "sig-intoto",
        &[
            ("artifacts.taskrun.format", "in-toto"),
            ("artifacts.taskrun.storage", "tekton"),
            ("artifacts.oci.storage", "tekton"),
        ],
    )
    .await;
    let s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    let uid = finished_taskrun(&env, &ns, "kaniko-run", image_results(), json!({ "tekton.dev/task": "kaniko" })).await;
    let a = wait_signed(&env, &ns, "TaskRun", "kaniko-run", "true").await;

    let dir = tmpdir("verify");
    let envelope = b64d(&a[&format!("chains.tekton.dev/signature-taskrun-{uid}")]);
    std::fs::write(dir.join("sig"), &envelope).unwrap();
    let out = run(Command::new(&cosign)
        .args(["verify-blob-attestation", "--insecure-ignore-tlog", "--key"])
        .arg(keys.join("cosign.pub"))
        .args(["--signature", "sig", "--type", "slsaprovenance", "--check-claims=false", "/dev/null"])
        .current_dir(&dir));
    assert!(out.contains("Verified OK"), "{out}");

    let statement: Value =
        serde_json::from_slice(&b64d(&a[&format!("chains.tekton.dev/payload-taskrun-{uid}")])).unwrap();
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v0.1");
    assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v0.2");
    let hex = IMG_DIGEST.trim_start_matches("sha256:");
    assert_eq!(statement["subject"], json!([{ "name": "registry.example/team/app", "digest": { "sha256": hex } }]));
    let step_hex = STEP_DIGEST.trim_start_matches("sha256:");
    assert_eq!(
        statement["predicate"]["materials"],
        json!([{ "uri": "oci://registry.example/tools/builder", "digest": { "sha256": step_hex } }])
    );
    assert_eq!(statement["predicate"]["buildType"], "tekton.dev/v1/TaskRun");
    assert_eq!(statement["predicate"]["invocation"]["parameters"]["IMAGE"], "registry.example/team/app");
    assert_eq!(statement["predicate"]["buildConfig"]["steps"][0]["entryPoint"], "build --push");

    // The image got a simplesigning signature under the digest's first 12 hex (oci storage = tekton).
    let img_key = &hex[..12];
    let payload = b64d(&a[&format!("chains.tekton.dev/payload-{img_key}")]);
    let simple: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(simple["critical"]["identity"]["docker-reference"], "registry.example/team/app");
    std::fs::write(dir.join("img.sig"), &a[&format!("chains.tekton.dev/signature-{img_key}")]).unwrap();
    std::fs::write(dir.join("img.payload"), &payload).unwrap();
    let out = run(Command::new(&cosign)
        .args(["verify-blob", "--insecure-ignore-tlog=true", "--key"])
        .arg(keys.join("cosign.pub"))
        .args(["--signature", "img.sig", "img.payload"])
        .current_dir(&dir));
    assert!(out.contains("Verified OK"), "{out}");
    let m = s.signer.metrics.render();
    assert!(m.contains("watcher_taskrun_marked_signed_total 1"), "{m}");
    assert!(m.contains("watcher_taskrun_sign_created_total 2"), "{m}");
}

/// Makes an x509.pem with openssl; returns the folder and the public key path.
fn openssl_key(alg: &str) -> (PathBuf, PathBuf) {
    let dir = tmpdir("x509");
    let args: Vec<&str> = match alg {
        "ed25519" => vec!["genpkey", "-algorithm", "ed25519", "-out", "x509.pem"],
        "p384" => vec!["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", "x509.pem"],
        _ => vec!["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "x509.pem"],
    };
    run(Command::new("openssl").args(&args).current_dir(&dir));
    run(Command::new("openssl").args(["pkey", "-in", "x509.pem", "-pubout", "-out", "pub.pem"]).current_dir(&dir));
    // Only the key belongs in the signing-secrets folder.
    let pubkey = dir.with_extension("pub.pem");
    std::fs::rename(dir.join("pub.pem"), &pubkey).unwrap();
    (dir, pubkey)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_x509_p384_key_signs_what_cosign_verifies() {
    let env = Env::new().await;
    let cosign = support::cosign().expect("cosign");
    let (keys, pubkey) = openssl_key("p384");
    let config = [("artifacts.taskrun.format", "tekton"), ("artifacts.oci.storage", "")];
    let ns = namespace_with_config(&env, "x509-p384", &config).await;
    let _s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    let uid = finished_taskrun(&env, &ns, "build", json!([]), json!({})).await;
    let a = wait_signed(&env, &ns, "TaskRun", "build", "true").await;
    let dir = tmpdir("p384");
    std::fs::write(dir.join("sig"), &a[&format!("chains.tekton.dev/signature-taskrun-{uid}")]).unwrap();
    std::fs::write(dir.join("payload"), b64d(&a[&format!("chains.tekton.dev/payload-taskrun-{uid}")])).unwrap();
    // cosign's default digest for a key file is SHA-256, P-384 included.
    let out = run(Command::new(&cosign)
        .args(["verify-blob", "--insecure-ignore-tlog=true", "--key"])
        .arg(&pubkey)
        .args(["--signature", "sig", "payload"])
        .current_dir(&dir));
    assert!(out.contains("Verified OK"), "{out}");
}

fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn x509_ecdsa_and_ed25519_keys_verify_with_openssl() {
    let env = Env::new().await;
    for alg in ["ecdsa", "ed25519"] {
        let (keys, pubkey) = openssl_key(alg);
        let ns = namespace_with_config(
            &env,
            &format!("x509-{alg}"),
            &[("artifacts.taskrun.format", "in-toto"), ("artifacts.oci.storage", "")],
        )
        .await;
        let _s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
        let uid = finished_taskrun(&env, &ns, "build", image_results(), json!({})).await;
        let a = wait_signed(&env, &ns, "TaskRun", "build", "true").await;
        let envelope: Value =
            serde_json::from_slice(&b64d(&a[&format!("chains.tekton.dev/signature-taskrun-{uid}")])).unwrap();
        assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");
        let body = b64d(envelope["payload"].as_str().unwrap());
        assert_eq!(
            body,
            b64d(&a[&format!("chains.tekton.dev/payload-taskrun-{uid}")]),
            "payload annotation = statement"
        );
        let dir = tmpdir("ossl");
        std::fs::write(dir.join("pae"), pae("application/vnd.in-toto+json", &body)).unwrap();
        std::fs::write(dir.join("sig"), b64d(envelope["signatures"][0]["sig"].as_str().unwrap())).unwrap();
        let out = match alg {
            "ed25519" => run(Command::new("openssl")
                .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
                .arg(&pubkey)
                .args(["-rawin", "-in", "pae", "-sigfile", "sig"])
                .current_dir(&dir)),
            _ => run(Command::new("openssl")
                .args(["dgst", "-sha256", "-verify"])
                .arg(&pubkey)
                .args(["-signature", "sig", "pae"])
                .current_dir(&dir)),
        };
        assert!(out.contains("Verified OK") || out.contains("Signature Verified Successfully"), "{alg}: {out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_a_key_runs_end_failed_with_retries_and_an_event_never_signed() {
    let env = Env::new().await;
    let empty = tmpdir("nokey");
    let ns = namespace_with_config(&env, "nokey", &[("artifacts.oci.storage", "")]).await;
    let _s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &empty, vec![ns.clone()])).await;
    finished_taskrun(&env, &ns, "orphan", image_results(), json!({})).await;
    let a = wait_signed(&env, &ns, "TaskRun", "orphan", "failed").await;
    assert_eq!(a["chains.tekton.dev/retries"], "3");
    assert!(!a.keys().any(|k| k.starts_with("chains.tekton.dev/signature-")));
    let events: Api<Event> = Api::namespaced(env.client.clone(), &ns);
    let note = eventually("SigningFailed event", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items.into_iter().find(|e| e.reason.as_deref() == Some("SigningFailed")).and_then(|e| e.message)
    })
    .await;
    assert!(note.contains("looked for x509.pem, or cosign.key with cosign.password"), "{note}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_results_still_sign_with_a_warning_event() {
    let env = Env::new().await;
    let (keys, _) = openssl_key("ecdsa");
    let ns = namespace_with_config(&env, "badres", &[("artifacts.oci.storage", "tekton")]).await;
    let _s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    let results = json!([
        { "name": "IMAGE_URL", "type": "string", "value": "registry.example/team/app" },
        { "name": "IMAGE_DIGEST", "type": "string", "value": "sha256:not-a-digest" },
        { "name": "IMAGES", "type": "string", "value": "junk-without-digest" },
    ]);
    let uid = finished_taskrun(&env, &ns, "odd", results, json!({})).await;
    let a = wait_signed(&env, &ns, "TaskRun", "odd", "true").await;
    assert!(a.contains_key(&format!("chains.tekton.dev/signature-taskrun-{uid}")));
    let events: Api<Event> = Api::namespaced(env.client.clone(), &ns);
    let note = eventually("MalformedResult event", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items.into_iter().find(|e| e.reason.as_deref() == Some("MalformedResult")).and_then(|e| e.message)
    })
    .await;
    assert!(note.contains("result IMAGE_URL") && note.contains("result IMAGES"), "{note}");
}

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn digest_of(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slsa_v2alpha4_pipelinerun_with_deep_inspection_takes_both_childrens_subjects() {
    let env = Env::new().await;
    let cosign = support::cosign().expect("COSIGN_BIN");
    let (keys, pubkey) = openssl_key("ecdsa");
    let ns = namespace_with_config(
        &env,
        "deep",
        &[
            ("artifacts.pipelinerun.format", "slsa/v2alpha4"),
            ("artifacts.pipelinerun.enable-deep-inspection", "true"),
            ("artifacts.oci.storage", ""),
        ],
    )
    .await;
    let _s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;

    // The PipelineRun is created and finished first: it must wait for its children.
    let prs = runs_api(&env, &ns, "PipelineRun");
    let pr = json!({ "apiVersion": "tekton.dev/v1", "kind": "PipelineRun",
                     "metadata": { "name": "release", "namespace": ns },
                     "spec": { "pipelineRef": { "name": "release" }, "taskRunTemplate": { "serviceAccountName": "default" } } });
    let created = prs.create(&PostParams::default(), &serde_json::from_value(pr).unwrap()).await.unwrap();
    let pr_uid = created.metadata.uid.unwrap();
    let status = json!({ "status": {
        "conditions": [{ "type": "Succeeded", "status": "True", "reason": "Succeeded" }],
        "startTime": "2026-11-23T10:00:00Z", "completionTime": now(),
        "pipelineSpec": { "tasks": [{ "name": "build-a" }, { "name": "build-b", "runAfter": ["build-a"] }] },
        "childReferences": [
            { "apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": "release-build-a", "pipelineTaskName": "build-a" },
            { "apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": "release-build-b", "pipelineTaskName": "build-b" },
        ],
        "results": [{ "name": "release-notes", "value": "v1" }],
    }});
    prs.patch_status("release", &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let early = prs.get("release").await.unwrap();
    assert!(
        !early.metadata.annotations.unwrap_or_default().contains_key("chains.tekton.dev/signed"),
        "a PipelineRun is not signed before its child TaskRuns"
    );

    for (task, n) in [("build-a", 1u8), ("build-b", 2u8)] {
        let results = json!([
            { "name": "IMAGE_URL", "type": "string", "value": format!("registry.example/team/{task}") },
            { "name": "IMAGE_DIGEST", "type": "string", "value": digest_of(n) },
        ]);
        let labels = json!({ "tekton.dev/pipelineTask": task, "tekton.dev/pipelineRun": "release" });
        finished_taskrun(&env, &ns, &format!("release-{task}"), results, labels).await;
    }
    let a = wait_signed(&env, &ns, "PipelineRun", "release", "true").await;
    for child in ["release-build-a", "release-build-b"] {
        let c = runs_api(&env, &ns, "TaskRun").get(child).await.unwrap();
        assert_eq!(c.metadata.annotations.unwrap()["chains.tekton.dev/signed"], "true");
    }
    let statement: Value =
        serde_json::from_slice(&b64d(&a[&format!("chains.tekton.dev/payload-pipelinerun-{pr_uid}")])).unwrap();
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");
    let names: Vec<&str> =
        statement["subject"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["registry.example/team/build-a", "registry.example/team/build-b"]);
    assert_eq!(statement["predicate"]["runDetails"]["metadata"]["invocationId"], pr_uid.as_str());
    assert_eq!(statement["predicate"]["buildDefinition"]["buildType"], "https://tekton.dev/chains/v2/slsa");

    let dir = tmpdir("verify");
    std::fs::write(dir.join("sig"), b64d(&a[&format!("chains.tekton.dev/signature-pipelinerun-{pr_uid}")])).unwrap();
    let out = run(Command::new(&cosign)
        .args(["verify-blob-attestation", "--insecure-ignore-tlog", "--key"])
        .arg(&pubkey)
        .args(["--signature", "sig", "--type", "slsaprovenance1", "--check-claims=false", "/dev/null"])
        .current_dir(&dir));
    assert!(out.contains("Verified OK"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finalizer_guards_unsigned_runs_and_never_blocks_deletion() {
    let env = Env::new().await;
    let (keys, _) = openssl_key("ecdsa");
    let ns = namespace_with_config(&env, "fin", &[("artifacts.oci.storage", "")]).await;
    let _s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    let api = runs_api(&env, &ns, "TaskRun");
    let has_finalizer =
        |o: &DynamicObject| o.metadata.finalizers.iter().flatten().any(|f| f == "chains.tekton.dev/taskrun");
    for name in ["running", "deleted-early"] {
        let tr = json!({ "apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": { "name": name, "namespace": ns },
                         "spec": { "taskRef": { "name": "t" } } });
        api.create(&PostParams::default(), &serde_json::from_value(tr).unwrap()).await.unwrap();
        eventually(&format!("finalizer on {name}"), || async {
            has_finalizer(&api.get(name).await.ok()?).then_some(())
        })
        .await;
    }
    // Finishing the run gets it signed, and the same patch releases it.
    let status = json!({ "status": { "conditions": [{ "type": "Succeeded", "status": "False", "reason": "Failed" }],
                                     "completionTime": "2026-11-23T10:00:10Z" } });
    api.patch_status("running", &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
    wait_signed(&env, &ns, "TaskRun", "running", "true").await;
    assert!(!has_finalizer(&api.get("running").await.unwrap()));
    // Deleting a run that never finished is not held up.
    api.delete("deleted-early", &Default::default()).await.unwrap();
    eventually("deleted-early is gone", || async { api.get_opt("deleted-early").await.ok()?.is_none().then_some(()) })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn config_changes_apply_without_restart_and_bad_config_keeps_the_last_good() {
    let env = Env::new().await;
    let (keys, _) = openssl_key("ecdsa");
    let ns =
        namespace_with_config(&env, "reload", &[("artifacts.oci.storage", ""), ("artifacts.taskrun.format", "tekton")])
            .await;
    let _s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    let uid = finished_taskrun(&env, &ns, "first", json!([]), json!({})).await;
    let a = wait_signed(&env, &ns, "TaskRun", "first", "true").await;
    assert!(
        serde_json::from_slice::<Value>(&b64d(&a[&format!("chains.tekton.dev/payload-taskrun-{uid}")]))
            .unwrap()
            .get("_type")
            .is_none()
    );

    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &ns);
    let set = |format: &'static str| json!({ "data": { "artifacts.taskrun.format": format } });
    cms.patch("chains-config", &PatchParams::default(), &Patch::Merge(&set("in-toto"))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A bad value is refused as a whole; the in-toto config stays in force.
    cms.patch("chains-config", &PatchParams::default(), &Patch::Merge(&set("bogus"))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let uid = finished_taskrun(&env, &ns, "second", json!([]), json!({})).await;
    let a = wait_signed(&env, &ns, "TaskRun", "second", "true").await;
    let statement: Value =
        serde_json::from_slice(&b64d(&a[&format!("chains.tekton.dev/payload-taskrun-{uid}")])).unwrap();
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v0.1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signer_restart_while_100_runs_finish_signs_each_exactly_once() {
    let env = Env::new().await;
    let (keys, _) = openssl_key("ecdsa");
    let ns = namespace_with_config(&env, "restart", &[("artifacts.oci.storage", "")]).await;
    let api = runs_api(&env, &ns, "TaskRun");

    // Record every distinct signature each run ever carried.
    let seen: Arc<std::sync::Mutex<BTreeMap<String, std::collections::BTreeSet<String>>>> = Default::default();
    let (w_api, w_seen) = (api.clone(), seen.clone());
    let recorder = tokio::spawn(async move {
        use futures::StreamExt;
        let mut s = kube::runtime::watcher(w_api, Default::default()).boxed();
        while let Some(Ok(ev)) = s.next().await {
            if let kube::runtime::watcher::Event::Apply(o) | kube::runtime::watcher::Event::InitApply(o) = ev {
                let uid = o.metadata.uid.clone().unwrap_or_default();
                for (k, v) in o.metadata.annotations.unwrap_or_default() {
                    if k.starts_with("chains.tekton.dev/signature-") {
                        w_seen.lock().unwrap().entry(uid.clone()).or_default().insert(v);
                    }
                }
            }
        }
    });

    let first = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    let creating = {
        let env_client = env.client.clone();
        let ns = ns.clone();
        tokio::spawn(async move {
            let api = Api::<DynamicObject>::namespaced_with(env_client, &ns, &RunKind::TaskRun.api_resource());
            for i in 0..100 {
                create_finished(&api, &ns, &format!("run-{i:03}")).await;
            }
        })
    };
    eventually("a third of the runs signed", || async { (count_signed(&api).await >= 30).then_some(()) }).await;
    drop(first);
    let _second = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    creating.await.unwrap();
    eventually("all 100 runs signed", || async { (count_signed(&api).await == 100).then_some(()) }).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    recorder.abort();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 100);
    for (uid, sigs) in seen.iter() {
        assert_eq!(sigs.len(), 1, "run {uid} was signed {} times", sigs.len());
    }
}

async fn create_finished(api: &Api<DynamicObject>, ns: &str, name: &str) {
    let tr = json!({ "apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": { "name": name, "namespace": ns },
                     "spec": { "taskRef": { "name": "t" } } });
    api.create(&PostParams::default(), &serde_json::from_value(tr).unwrap()).await.unwrap();
    let status = json!({ "status": { "conditions": [{ "type": "Succeeded", "status": "True", "reason": "Succeeded" }],
                                     "startTime": "2026-11-23T10:00:00Z", "completionTime": "2026-11-23T10:00:05Z" } });
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
}

async fn count_signed(api: &Api<DynamicObject>) -> usize {
    let list = api.list(&ListParams::default()).await.unwrap();
    list.items
        .iter()
        .filter(|o| {
            o.metadata.annotations.as_ref().and_then(|a| a.get("chains.tekton.dev/signed")).map(String::as_str)
                == Some("true")
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_two_replicas_only_the_lease_holder_signs() {
    let env = Env::new().await;
    let (keys, _) = openssl_key("ecdsa");
    let ns = namespace_with_config(&env, "lease", &[("artifacts.oci.storage", "")]).await;
    let a = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    let b = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    let api = runs_api(&env, &ns, "TaskRun");
    for i in 0..10 {
        create_finished(&api, &ns, &format!("r{i}")).await;
    }
    eventually("10 runs signed", || async { (count_signed(&api).await == 10).then_some(()) }).await;
    let signed = |s: &RunningSigner| {
        let m = s.signer.metrics.render();
        m.lines().find_map(|l| l.strip_prefix("watcher_taskrun_marked_signed_total ")).unwrap().parse::<u64>().unwrap()
    };
    // The counter moves just after the patch returns, so wait for it too.
    let (sa, sb) = eventually("both counters caught up", || {
        let (sa, sb) = (signed(&a), signed(&b));
        async move { (sa + sb >= 10).then_some((sa, sb)) }
    })
    .await;
    assert!((sa, sb) == (10, 0) || (sa, sb) == (0, 10), "one leader signs everything: a={sa} b={sb}");
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(env.client.clone(), &ns);
    let lease = leases.get("tekton-chains-signer").await.unwrap();
    assert!(lease.spec.unwrap().holder_identity.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_added_while_retrying_is_picked_up_without_restart() {
    let env = Env::new().await;
    let dir = tmpdir("latekey");
    let ns = namespace_with_config(&env, "latekey", &[("artifacts.oci.storage", "")]).await;
    let mut opts = signer_options(&ns, &dir, vec![ns.clone()]);
    opts.retry_backoff = Duration::from_millis(1500);
    let _s = start_signer(env.signer_client(&ns).await, opts).await;
    finished_taskrun(&env, &ns, "early", json!([]), json!({})).await;
    let api = runs_api(&env, &ns, "TaskRun");
    eventually("first failed attempt counted", || async {
        let o = api.get("early").await.ok()?;
        o.metadata.annotations?.get("chains.tekton.dev/retries").cloned()
    })
    .await;
    // The admin adds the key (as a Secret volume update would).
    let (keys, _) = openssl_key("ed25519");
    std::fs::copy(keys.join("x509.pem"), dir.join("x509.pem")).unwrap();
    let a = wait_signed(&env, &ns, "TaskRun", "early", "true").await;
    assert_eq!(a["chains.tekton.dev/retries"], "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_signer_binary_serves_health_and_metrics_and_logs_json_with_run_fields() {
    let env = Env::new().await;
    let (keys, _) = openssl_key("ecdsa");
    let ns = namespace_with_config(&env, "binary", &[("artifacts.oci.storage", "")]).await;
    let (probes, metrics) = (free_port(), free_port());
    let signer = env.signer_identity(&ns).await;
    let log = std::env::temp_dir().join(format!("{ns}.log"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_tekton-chains-operator"))
        .args(["--log-format", "json", "signer", "--namespace", &ns, "--system-namespace", &ns])
        .arg("--signing-secrets-dir")
        .arg(&keys)
        .arg(format!("--probes-addr=127.0.0.1:{probes}"))
        .arg(format!("--metrics-addr=127.0.0.1:{metrics}"))
        .env("KUBECONFIG", &signer.kubeconfig)
        .stdout(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let uid = finished_taskrun(&env, &ns, "via-binary", json!([]), json!({})).await;
    wait_signed(&env, &ns, "TaskRun", "via-binary", "true").await;
    assert!(http_get(probes, "/healthz").starts_with("HTTP/1.1 200"));
    assert!(http_get(probes, "/readyz").starts_with("HTTP/1.1 200"));
    // Counters after the mark move just after its patch returns.
    let m = eventually("marked_signed counted", || {
        let m = http_get(metrics, "/metrics");
        async move { m.contains("watcher_reconcile_duration_seconds_count 1").then_some(m) }
    })
    .await;
    for name in [
        "watcher_taskrun_sign_created_total 1",
        "watcher_taskrun_payload_stored_total 1",
        "watcher_taskrun_marked_signed_total 1",
        "watcher_taskrun_signing_failures_total 0",
        "watcher_pipelinerun_marked_signed_total 0",
        "watcher_reconcile_duration_seconds_count 1",
    ] {
        assert!(m.contains(name), "missing {name} in {m}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    let signed: Value = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == "signed")
        .unwrap_or_else(|| panic!("no JSON 'signed' line in {text}"));
    assert_eq!((signed["namespace"].as_str(), signed["name"].as_str()), (Some(ns.as_str()), Some("via-binary")));
    assert_eq!(signed["uid"].as_str(), Some(uid.as_str()));
    assert!(!text.contains("BEGIN PRIVATE KEY"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_setting_this_signer_cannot_serve_ends_failed_at_once_with_events() {
    let env = Env::new().await;
    let (keys, _) = openssl_key("ecdsa");
    // Keyless signing with GitHub Actions' token, outside a GitHub Actions job
    // (no ACTIONS_ID_TOKEN_REQUEST_URL here): a setting this signer cannot serve.
    let config = [("signers.x509.fulcio.enabled", "true"), ("signers.x509.fulcio.provider", "github")];
    let ns = namespace_with_config(&env, "nobundle", &config).await;
    let s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    finished_taskrun(&env, &ns, "pushes-image", image_results(), json!({})).await;
    let a = wait_signed(&env, &ns, "TaskRun", "pushes-image", "failed").await;
    assert!(!a.keys().any(|k| k.starts_with("chains.tekton.dev/signature-")));
    assert_eq!(a["chains.tekton.dev/retries"], "1", "retrying cannot help, so there are no retries");
    let events: Api<Event> = Api::namespaced(env.client.clone(), &ns);
    let event = |reason: &'static str| {
        let events = events.clone();
        async move {
            eventually(&format!("{reason} event"), || async {
                let list = events.list(&ListParams::default()).await.ok()?;
                list.items.into_iter().find(|e| e.reason.as_deref() == Some(reason))
            })
            .await
        }
    };
    let failed = event("SigningFailed").await;
    let note = failed.message.unwrap_or_default();
    let want = r#"keyless signer "github" (signers.x509.fulcio.provider) is not supported yet"#;
    assert!(note.contains(want), "{note}");
    assert!(note.contains("retrying cannot help"), "{note}");
    // Refused once when the config was loaded, on chains-config itself:
    // one Event naming the key and what is supported.
    let refused = event("UnsupportedConfig").await;
    assert_eq!(refused.involved_object.name.as_deref(), Some("chains-config"));
    let note = refused.message.unwrap_or_default();
    assert!(note.contains("signers.x509.fulcio.provider") && note.contains("ACTIONS_ID_TOKEN_REQUEST_URL"), "{note}");
    let m = s.signer.metrics.render();
    assert!(m.contains(r#"signing_failures_total{kind="taskrun",reason="unsupported"} 1"#), "{m}");
}

/// `filter.managed-by`: runs with no `spec.managedBy`, or `tekton.dev/pipeline`,
/// or a listed controller are signed; another controller's run is left alone
/// (no signature, no finalizer of ours), also by the real signer process's
/// library here, against the real API server.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runs_managed_by_another_controller_are_signed_only_when_listed() {
    let env = Env::new().await;
    let (keys, _) = openssl_key("ecdsa");
    let config = [
        ("artifacts.taskrun.format", "tekton"),
        ("artifacts.oci.storage", ""),
        ("filter.managed-by", "kueue.x-k8s.io/multikueue, "),
    ];
    let ns = namespace_with_config(&env, "managedby", &config).await;
    let _s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    let cases = [
        ("unset", None),
        ("pipelines", Some("tekton.dev/pipeline")),
        ("listed", Some("kueue.x-k8s.io/multikueue")),
        ("other", Some("other.example/controller")),
    ];
    for (name, managed_by) in cases {
        finished_taskrun_managed_by(&env, &ns, name, json!([]), json!({}), managed_by).await;
    }
    for name in ["unset", "pipelines", "listed"] {
        let a = wait_signed(&env, &ns, "TaskRun", name, "true").await;
        assert!(a.keys().any(|k| k.starts_with("chains.tekton.dev/signature-taskrun-")), "{name}: {a:?}");
    }
    // The other controller's run: give the signer time, then look.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let other = runs_api(&env, &ns, "TaskRun").get("other").await.unwrap();
    let a = other.metadata.annotations.unwrap_or_default();
    assert!(!a.keys().any(|k| k.starts_with("chains.tekton.dev/")), "left alone: {a:?}");
    let finalizers = other.metadata.finalizers.unwrap_or_default();
    assert!(!finalizers.iter().any(|f| f.starts_with("chains.tekton.dev/")), "{finalizers:?}");
}
