//! Storage backends against real servers, read back and verified with the
//! real cosign and openssl: `gcs` against fake-gcs-server.

mod support;

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use support::events::event_with;
use support::gcs::{Gcs, gcs};
use support::runs::{build_taskrun, run, signed};
use support::{Env, cosign_keys, eventually, namespace_with_config, runs_api, signer_options, start_signer, tmpdir};

const DIGEST: &str = "sha256:9a1d1e0e7d3c0e1b5d4c4b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d65f8a0b3b3";

/// A namespace signing TaskRuns (in-toto) and their images with a cosign
/// key, stored in `storage` (both), gcs in `bucket`.
async fn gcs_namespace(env: &Env, prefix: &str, storage: &str, bucket: &str) -> String {
    let config = [
        ("artifacts.taskrun.format", "in-toto"),
        ("artifacts.taskrun.storage", storage),
        ("artifacts.oci.storage", storage),
        ("storage.gcs.bucket", bucket),
    ];
    namespace_with_config(env, prefix, &config).await
}

/// The run's uid.
async fn uid(env: &Env, ns: &str, name: &str) -> String {
    runs_api(env, ns, "TaskRun").get(name).await.unwrap().metadata.uid.unwrap()
}

/// `cosign ARGS` in `keys`, checking that it verified.
fn cosign_verifies(keys: &Path, args: &[&str]) {
    let (ok, out) = support::runs::cosign(keys, args, &[]);
    assert!(ok && out.contains("Verified OK"), "cosign {args:?}: {out}");
}

/// Reads back and verifies what a signed run of `ns` left in `store`: the
/// TaskRun's attestation (cosign verify-blob-attestation) and the image's
/// simplesigning signature (cosign verify-blob, and openssl on the raw
/// bytes), and nothing else under the run's prefix.
async fn verify_stored(store: &Gcs, ns: &str, name: &str, uid: &str, keys: &Path) {
    let prefix = format!("taskrun-{ns}-{name}/");
    let img = &DIGEST.trim_start_matches("sha256:")[..12];
    let want: Vec<String> = [format!("{img}.payload"), format!("{img}.signature")]
        .into_iter()
        .chain([format!("taskrun-{uid}.payload"), format!("taskrun-{uid}.signature")])
        .map(|o| format!("{prefix}{o}"))
        .collect();
    assert_eq!(store.list(&prefix).await, want, "a key signer has no .cert or .chain objects");

    let dir = tmpdir("gcs-verify");
    let prefix = &prefix;
    let read = |o: String| async move { store.read(&format!("{prefix}{o}")).await.expect("object") };
    let envelope = read(format!("taskrun-{uid}.signature")).await;
    let file = |name: &str, bytes: &[u8]| {
        std::fs::write(dir.join(name), bytes).unwrap();
        dir.join(name).to_str().unwrap().to_string()
    };
    let att = file("att.json", &envelope);
    cosign_verifies(
        keys,
        &[
            "verify-blob-attestation",
            "--insecure-ignore-tlog",
            "--key",
            "cosign.pub",
            "--signature",
            &att,
            "--type",
            "slsaprovenance",
            "--check-claims=false",
            "/dev/null",
        ],
    );
    let statement: Value = serde_json::from_slice(&read(format!("taskrun-{uid}.payload")).await).unwrap();
    let env: Value = serde_json::from_slice(&envelope).unwrap();
    let inner = STANDARD.decode(env["payload"].as_str().unwrap()).unwrap();
    assert_eq!(statement, serde_json::from_slice::<Value>(&inner).unwrap(), ".payload is the signed statement");
    assert_eq!(statement["subject"][0]["digest"]["sha256"], DIGEST.trim_start_matches("sha256:"));

    let raw = read(format!("{img}.signature")).await;
    let payload = read(format!("{img}.payload")).await;
    let (sig_raw, sig, img_payload) =
        (file("img.sig.raw", &raw), file("img.sig", STANDARD.encode(&raw).as_bytes()), file("img.payload", &payload));
    cosign_verifies(
        keys,
        &["verify-blob", "--insecure-ignore-tlog=true", "--key", "cosign.pub", "--signature", &sig, &img_payload],
    );
    let (ok, out) = run(Command::new("openssl")
        .args(["dgst", "-sha256", "-verify", "cosign.pub", "-signature", &sig_raw, &img_payload])
        .current_dir(keys));
    assert!(ok && out.contains("Verified OK"), "openssl: {out}");
    let simple: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(simple["critical"]["image"]["docker-manifest-digest"], DIGEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gcs_objects_are_named_as_upstream_and_verify_with_cosign_and_openssl() {
    let env = Env::new().await;
    let store = gcs();
    let keys = cosign_keys(&support::cosign().expect("COSIGN_BIN"));
    let ns = gcs_namespace(&env, "gcs", "tekton,gcs", &store.bucket).await;
    let s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    build_taskrun(&env, &ns, "build", "default", "registry.example/team/app", DIGEST).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "build").await, "true");
    let uid = uid(&env, &ns, "build").await;
    verify_stored(&store, &ns, "build", &uid, &keys).await;
    // Both payloads in both backends: the tekton annotations are there too.
    let a = runs_api(&env, &ns, "TaskRun").get("build").await.unwrap().metadata.annotations.unwrap();
    assert!(a.contains_key(&format!("chains.tekton.dev/signature-taskrun-{uid}")));
    // Two objects per payload, one request each; nothing read back.
    let m = s.signer.metrics.render();
    assert!(m.contains(r#"signer_storage_requests_total{backend="gcs"} 4"#), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_missing_bucket_fails_the_run_at_once_and_the_event_names_it() {
    let env = Env::new().await;
    let _store = gcs();
    let keys = cosign_keys(&support::cosign().expect("COSIGN_BIN"));
    let ns = gcs_namespace(&env, "gcs-nobucket", "tekton,gcs", "no-such-bucket").await;
    let _s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    build_taskrun(&env, &ns, "build", "default", "registry.example/team/app", DIGEST).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "build").await, "failed");
    let target = format!("gs://no-such-bucket/taskrun-{ns}-build/");
    let note = event_with(&env, &ns, Some("build"), "SigningFailed", &["gcs storage", &target]).await;
    assert!(note.contains("retrying cannot help"), "{note}");
    // What tekton storage did keep is written with the failure; the run is not signed.
    let a = runs_api(&env, &ns, "TaskRun").get("build").await.unwrap().metadata.annotations.unwrap();
    assert_eq!(a["chains.tekton.dev/signed"], "failed");
}

/// A signer process (the binary) whose gcs is `host`, retrying every 100 ms.
async fn gcs_signer_process(env: &Env, ns: &str, keys: &Path, host: &str) -> support::SignerProcess {
    let identity = env.signer_identity(ns).await;
    let vars = [("STORAGE_EMULATOR_HOST", Some(host))];
    support::signer_process_with(ns, &identity, &vars, keys, &["--retry-backoff", "100ms"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gcs_down_is_retried_until_it_is_back_then_given_up_with_an_event() {
    let env = Env::new().await;
    let keys = cosign_keys(&support::cosign().expect("COSIGN_BIN"));
    let dir = tmpdir("gcs-outage");
    let port = support::free_port();
    let host = format!("127.0.0.1:{port}");
    let ns = gcs_namespace(&env, "gcs-down", "gcs", "chains-signatures").await;
    let signer = gcs_signer_process(&env, &ns, &keys, &host).await;

    // Down: retried (the attempts count up), not failed.
    build_taskrun(&env, &ns, "while-down", "default", "registry.example/team/app", DIGEST).await;
    let api = runs_api(&env, &ns, "TaskRun");
    eventually("a retry of the run while gcs is down", || async {
        let a = api.get("while-down").await.ok()?.metadata.annotations?;
        assert_ne!(a.get("chains.tekton.dev/signed").map(String::as_str), Some("failed"), "{}", signer.output());
        (a.get("chains.tekton.dev/retries").and_then(|r| r.parse::<u32>().ok()) >= Some(2)).then_some(())
    })
    .await;
    // Back: the run is signed, and what it stored verifies.
    let store = support::gcs::script("up", &dir, port);
    assert_eq!(signed(&env, &ns, "TaskRun", "while-down").await, "true", "{}", signer.output());
    let uid = uid(&env, &ns, "while-down").await;
    verify_stored(&store, &ns, "while-down", &uid, &keys).await;

    // Down for good: after the retry limit the run ends failed, with an
    // Event naming the backend and the target.
    support::gcs::script("stop", &dir, port);
    build_taskrun(&env, &ns, "stays-down", "default", "registry.example/team/app", DIGEST).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "stays-down").await, "failed");
    let note =
        event_with(&env, &ns, Some("stays-down"), "SigningFailed", &["gcs storage", "gs://chains-signatures/"]).await;
    assert!(note.contains("giving up after 10 attempts") && note.contains("unreachable"), "{note}");
    support::gcs::script("down", &dir, port);
}
