//! The transparency log against a real Rekor v1 (rekor-server, Trillian,
//! MariaDB; hack/rekor.sh), checked with the real `rekor-cli` and cosign.

mod support;

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{ConfigMap, Event};
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use support::registry::registries;
use support::rekor::{Rekor, rekor};
use support::runs::{build_taskrun, cosign, finished_taskrun, signed};
use support::{
    Env, RunningSigner, cosign_keys, eventually, namespace_with_config, runs_api, signer_options, start_signer,
    unique_ns,
};

const TRANSPARENCY: &str = "chains.tekton.dev/transparency";

/// `cosign verify` online: the layer's bundle checked with the local log's key.
fn verify_online(rekor: &Rekor, keys: &Path, image: &str) {
    let env = rekor.cosign_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (ok, out) = cosign(keys, &["verify", "--key", "cosign.pub", "--rekor-url", &rekor.url, image], &env);
    assert!(ok && out.contains("Existence of the claims in the transparency log was verified"), "{out}");
    let args =
        ["verify-attestation", "--key", "cosign.pub", "--rekor-url", &rekor.url, "--type", "slsaprovenance", image];
    let (ok, out) = cosign(keys, &args, &env);
    assert!(ok && out.contains("Existence of the claims in the transparency log was verified"), "{out}");
}

/// The run's transparency annotation: its logIndex, after checking that the
/// URL is the log's and returns that entry.
async fn logged_index(rekor: &Rekor, env: &Env, ns: &str, kind: &str, name: &str) -> u64 {
    let run = runs_api(env, ns, kind).get(name).await.unwrap();
    let a = run.metadata.annotations.unwrap_or_default();
    let url = a.get(TRANSPARENCY).unwrap_or_else(|| panic!("no {TRANSPARENCY} on {name}: {a:?}"));
    let prefix = format!("{}/api/v1/log/entries?logIndex=", rekor.url);
    let index: u64 = url.strip_prefix(&prefix).unwrap_or_else(|| panic!("{url}")).parse().unwrap();
    let body: Value = reqwest::get(url).await.unwrap().error_for_status().unwrap().json().await.unwrap();
    let entry = body.as_object().unwrap().values().next().unwrap();
    assert_eq!(entry["logIndex"], index);
    index
}

/// A namespace whose chains-config is `config` plus `transparency.url` of
/// the test log, a fresh cosign key pair, and a signer for both.
async fn logging_signer(
    env: &Env,
    rekor: &Rekor,
    prefix: &str,
    config: &[(&str, &str)],
) -> (String, PathBuf, RunningSigner) {
    let keys = cosign_keys(&support::cosign().unwrap());
    let mut config = config.to_vec();
    config.push(("transparency.url", rekor.url.as_str()));
    let ns = namespace_with_config(env, prefix, &config).await;
    let signer = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    (ns, keys, signer)
}

/// Pushes a fresh image to the open registry: (repo, digest, image@digest).
async fn pushed_image(prefix: &str) -> (String, String, String) {
    let regs = registries();
    let repo = format!("team/{}", unique_ns(prefix));
    let digest = regs.push_image(&regs.open, &repo).await;
    let image = format!("{}/{repo}", regs.open);
    let by_digest = format!("{image}@{digest}");
    (image, digest, by_digest)
}

/// Seed 004 end to end: TektonConfig's chain section (in-toto, `oci`
/// storage, transparency on) through the operator to chains-config, then a
/// run that pushed an image. The run points at its entry, `rekor-cli` finds
/// and shows the provenance, and cosign verifies against the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seed_004_through_the_operator_lands_in_rekor_and_verifies_online() {
    let env = Env::new().await;
    let rekor = rekor();
    let _op = env.start_operator();
    let ns = unique_ns("seed4");
    let tc = json!({ "apiVersion": "operator.tekton.dev/v1alpha1", "kind": "TektonConfig",
        "metadata": { "name": "config" },
        "spec": { "targetNamespace": ns, "chain": {
            "artifacts.oci.storage": "oci", "artifacts.taskrun.format": "in-toto",
            "artifacts.taskrun.storage": "oci", "transparency.enabled": true, "transparency.url": rekor.url,
        } } });
    let configs: Api<tekton_chains_operator::crd::TektonConfig> = env.cluster_api();
    configs.patch("config", &PatchParams::apply("test-admin").force(), &Patch::Apply(&tc)).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &ns);
    eventually("chains-config written by the operator", || async {
        let d = cms.get("chains-config").await.ok()?.data?;
        (d.get("transparency.url") == Some(&rekor.url)).then_some(())
    })
    .await;
    let keys = cosign_keys(&support::cosign().unwrap());
    let runs_ns = support::create_namespace(&env, "seed4-runs").await;
    let _s = start_signer(
        env.token_client(&ns, support::SIGNER_SERVICE_ACCOUNT).await,
        signer_options(&ns, &keys, vec![runs_ns.clone()]),
    )
    .await;
    let (image, digest, by_digest) = pushed_image("seed4").await;
    build_taskrun(&env, &runs_ns, "build-sign-image", "default", &format!("{image}:v1"), &digest).await;
    assert_eq!(signed(&env, &runs_ns, "TaskRun", "build-sign-image").await, "true");
    let index = logged_index(&rekor, &env, &runs_ns, "TaskRun", "build-sign-image").await;

    // `rekor-cli search --sha <digest>` lists the attestation (its subject is the image).
    let uuids = rekor.search(&digest);
    assert_eq!(uuids.len(), 1, "{uuids:?}");
    let (ok, out, err) = rekor.cli(&["get", "--uuid", &uuids[0], "--format", "json"]);
    assert!(ok, "{err}");
    let got: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(got["LogIndex"], index);
    // rekor-cli 1.5 prints the stored attestation as text; older ones as base64.
    let att = got["Attestation"].as_str().unwrap_or_default();
    let att = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, att)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|_| att.to_string());
    let statement: Value = serde_json::from_str(&att).unwrap_or_else(|e| panic!("{e}: {att}"));
    assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v0.2");
    assert_eq!(statement["subject"][0]["digest"]["sha256"], digest.trim_start_matches("sha256:"));

    verify_online(&rekor, &keys, &by_digest);
    configs.delete("config", &Default::default()).await.ok();
}

/// `manual`: only runs annotated `transparency-upload: "true"` are logged,
/// and they get the annotation (upstream #1117); `dsse` entries verify too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn manual_mode_logs_only_annotated_runs_and_dsse_entries_verify() {
    let env = Env::new().await;
    let rekor = rekor();
    let config = [
        ("artifacts.taskrun.format", "in-toto"),
        ("artifacts.taskrun.storage", "oci,tekton"),
        ("artifacts.oci.storage", "oci"),
        ("transparency.enabled", "manual"),
        ("transparency.entry-kind", "dsse"),
    ];
    let (ns, keys, _s) = logging_signer(&env, &rekor, "manual", &config).await;
    let (image, digest, by_digest) = pushed_image("manual").await;
    let (_, other_digest, _) = pushed_image("manual-off").await;
    let api = runs_api(&env, &ns, "TaskRun");
    for (name, d, upload) in [("logged", &digest, "true"), ("not-logged", &other_digest, "false")] {
        let results =
            json!([{ "name": "IMAGE_URL", "value": format!("{image}:v1") }, { "name": "IMAGE_DIGEST", "value": d }]);
        let annotations = json!({ "chains.tekton.dev/transparency-upload": upload });
        finished_taskrun(&env, &ns, name, annotations, results).await;
    }
    assert_eq!(signed(&env, &ns, "TaskRun", "logged").await, "true");
    assert_eq!(signed(&env, &ns, "TaskRun", "not-logged").await, "true");
    logged_index(&rekor, &env, &ns, "TaskRun", "logged").await;
    let quiet = api.get("not-logged").await.unwrap().metadata.annotations.unwrap_or_default();
    assert!(!quiet.contains_key(TRANSPARENCY), "{quiet:?}");
    assert_eq!(rekor.search(&digest).len(), 1);
    assert!(rekor.search(&other_digest).is_empty());
    let uuid = &rekor.search(&digest)[0];
    let (ok, out, err) = rekor.cli(&["get", "--uuid", uuid, "--format", "json"]);
    assert!(ok, "{err}");
    let got: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(got["Body"]["DSSEObj"]["payloadHash"]["algorithm"], "sha256", "{got}");
    verify_online(&rekor, &keys, &by_digest);
}

/// `tekton` storage only: the signature and payload in the run's
/// annotations verify online with `cosign verify-blob --rekor-url`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tekton_storage_signatures_verify_blob_online() {
    let env = Env::new().await;
    let rekor = rekor();
    let config = [
        ("artifacts.taskrun.format", "tekton"),
        ("artifacts.taskrun.storage", "tekton"),
        ("artifacts.oci.storage", ""),
        ("transparency.enabled", "true"),
    ];
    let (ns, keys, _s) = logging_signer(&env, &rekor, "blob", &config).await;
    let api = runs_api(&env, &ns, "TaskRun");
    finished_taskrun(&env, &ns, "unit-tests", json!({}), json!([])).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "unit-tests").await, "true");
    logged_index(&rekor, &env, &ns, "TaskRun", "unit-tests").await;
    let run = api.get("unit-tests").await.unwrap();
    let uid = run.metadata.uid.clone().unwrap();
    let a = run.metadata.annotations.unwrap();
    let b64 = |k: &str| a[&format!("chains.tekton.dev/{k}-taskrun-{uid}")].clone();
    let payload = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64("payload")).unwrap();
    std::fs::write(keys.join("payload"), payload).unwrap();
    std::fs::write(keys.join("sig"), b64("signature")).unwrap();
    let env_vars = rekor.cosign_env();
    let env_vars: Vec<(&str, &str)> = env_vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let args = ["verify-blob", "--rekor-url", &rekor.url, "--key", "cosign.pub", "--signature", "sig", "payload"];
    let (ok, out) = cosign(&keys, &args, &env_vars);
    assert!(ok && out.contains("Verified OK"), "{out}");
}

/// A ServiceAccount that may read runs, config and credentials and record
/// Events, but not patch runs: a signer that uploads and then cannot save.
async fn read_only_signer_account(env: &Env, ns: &str) {
    let apply = |v: Value| async move { support::apply(&env.client, &v).await };
    apply(json!({ "apiVersion": "v1", "kind": "ServiceAccount", "metadata": { "name": "no-patch", "namespace": ns } }))
        .await;
    apply(json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": { "name": "no-patch", "namespace": ns },
        "rules": [
            { "apiGroups": ["tekton.dev"], "resources": ["taskruns", "pipelineruns"], "verbs": ["get", "list", "watch"] },
            { "apiGroups": [""], "resources": ["configmaps", "secrets", "serviceaccounts"], "verbs": ["get", "list", "watch"] },
            { "apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"] },
        ] }))
    .await;
    apply(json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": { "name": "no-patch", "namespace": ns },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "no-patch" },
        "subjects": [{ "kind": "ServiceAccount", "name": "no-patch", "namespace": ns }] }))
    .await;
}

/// A signer stopped after its uploads and before its patch (here: it may
/// not patch runs, and is then dropped, as a killed process would be). The
/// next signer signs the run and the log still holds one entry per artifact.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_signer_stopped_between_upload_and_patch_never_logs_twice() {
    let env = Env::new().await;
    let rekor = rekor();
    let keys = cosign_keys(&support::cosign().unwrap());
    let config = [
        ("artifacts.taskrun.format", "in-toto"),
        ("artifacts.taskrun.storage", "oci"),
        ("artifacts.oci.storage", "oci"),
        ("transparency.enabled", "true"),
        ("transparency.url", rekor.url.as_str()),
    ];
    let ns = namespace_with_config(&env, "restart", &config).await;
    read_only_signer_account(&env, &ns).await;
    let (image, digest, _) = pushed_image("restart").await;
    let mut opts = signer_options(&ns, &keys, vec![ns.clone()]);
    opts.leader_election = false;
    let public_key = keys.join("cosign.pub");
    let first = start_signer(env.token_client(&ns, "no-patch").await, opts).await;
    build_taskrun(&env, &ns, "build", "default", &format!("{image}:v1"), &digest).await;
    // Both artifacts (the image's signature, the run's attestation) are logged…
    rekor.expect_entries_by_key(&public_key, 2, "both uploads in the log").await;
    assert_eq!(rekor.search(&digest).len(), 1, "the attestation, found by its subject");
    // …but the run is not signed, and the signer goes away.
    let a = runs_api(&env, &ns, "TaskRun").get("build").await.unwrap().metadata.annotations.unwrap_or_default();
    assert!(!a.contains_key("chains.tekton.dev/signed"), "{a:?}");
    drop(first);

    let _second = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "build").await, "true");
    logged_index(&rekor, &env, &ns, "TaskRun", "build").await;
    rekor.expect_entries_by_key(&public_key, 2, "one entry per artifact").await;
    assert_eq!(rekor.search(&digest).len(), 1);
    // The second signer's layers matched the first's: nothing appended twice.
    let regs = registries();
    let repo = image.strip_prefix(&format!("{}/", regs.open)).unwrap();
    for suffix in ["sig", "att"] {
        let tag = format!("{}.{suffix}", digest.replace(':', "-"));
        let m = regs.manifest(&regs.open, repo, &tag).await.unwrap();
        assert_eq!(m["layers"].as_array().unwrap().len(), 1, "{tag}: {m}");
        assert!(m["layers"][0]["annotations"]["dev.sigstore.cosign/bundle"].is_string(), "{m}");
    }
}

/// Runs whose provenance is the same (they differ by name only) share one
/// entry: uploaded once while the others wait, never refused by the log's
/// "already exists" answer while it integrates the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn identical_attestations_of_concurrent_runs_share_one_entry() {
    let env = Env::new().await;
    let rekor = rekor();
    let keys = cosign_keys(&support::cosign().unwrap());
    let config = [
        ("artifacts.taskrun.format", "in-toto"),
        ("artifacts.taskrun.storage", "tekton"),
        ("transparency.enabled", "true"),
        ("transparency.url", rekor.url.as_str()),
    ];
    let ns = namespace_with_config(&env, "same", &config).await;
    let names: Vec<String> = (0..8).map(|i| format!("same-{i}")).collect();
    for name in &names {
        finished_taskrun(&env, &ns, name, json!({}), json!([])).await;
    }
    let s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    let mut indexes = Vec::new();
    for name in &names {
        assert_eq!(signed(&env, &ns, "TaskRun", name).await, "true");
        indexes.push(logged_index(&rekor, &env, &ns, "TaskRun", name).await);
    }
    indexes.dedup();
    assert_eq!(indexes.len(), 1, "{indexes:?}");
    rekor.expect_entries_by_key(&keys.join("cosign.pub"), 1, "one entry for the eight runs").await;
    let m = s.signer.metrics.render();
    assert!(!m.contains(r#"reason="transparency""#), "no failed attempt: {m}");
}

/// Restarts rekor-server when dropped, so a failing test leaves it running.
struct Outage<'a>(&'a Rekor);

impl Drop for Outage<'_> {
    fn drop(&mut self) {
        self.0.script("start-server");
    }
}

/// Rekor down: the run is retried, then ends `signed=failed` with an Event
/// naming the log; Rekor back: new runs are signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rekor_down_fails_runs_with_an_event_and_back_up_signs_again() {
    let env = Env::new().await;
    let rekor = rekor();
    let config = [
        ("artifacts.taskrun.format", "in-toto"),
        ("artifacts.taskrun.storage", "tekton"),
        ("transparency.enabled", "true"),
    ];
    let (ns, _keys, s) = logging_signer(&env, &rekor, "outage", &config).await;
    {
        let _outage = Outage(&rekor);
        rekor.script("stop-server");
        finished_taskrun(&env, &ns, "while-down", json!({}), json!([])).await;
        assert_eq!(signed(&env, &ns, "TaskRun", "while-down").await, "failed");
        let events: Api<Event> = Api::namespaced(env.client.clone(), &ns);
        let notes: Vec<String> =
            events.list(&ListParams::default()).await.unwrap().items.into_iter().filter_map(|e| e.message).collect();
        let note = notes.iter().find(|n| n.contains("giving up")).unwrap_or_else(|| panic!("{notes:?}"));
        assert!(note.contains("transparency log") && note.contains(&rekor.url), "{note}");
        assert!(note.contains("giving up after"), "retried first: {note}");
        let m = s.signer.metrics.render();
        assert!(m.contains(r#"reason="transparency""#), "{m}");
    }
    finished_taskrun(&env, &ns, "after", json!({}), json!([])).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "after").await, "true");
    logged_index(&rekor, &env, &ns, "TaskRun", "after").await;
}

/// A log at an address where nothing listens: retried, then failed, with
/// an Event naming the URL; the run is never marked signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_log_never_marks_a_run_signed() {
    let env = Env::new().await;
    let keys = cosign_keys(&support::cosign().unwrap());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let config = [
        ("artifacts.taskrun.format", "tekton"),
        ("artifacts.taskrun.storage", "tekton"),
        ("transparency.enabled", "true"),
        ("transparency.url", url.as_str()),
    ];
    let ns = namespace_with_config(&env, "nolog", &config).await;
    let _s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    let api = runs_api(&env, &ns, "TaskRun");
    finished_taskrun(&env, &ns, "r", json!({}), json!([])).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "r").await, "failed");
    let a = api.get("r").await.unwrap().metadata.annotations.unwrap_or_default();
    assert!(!a.contains_key(TRANSPARENCY), "{a:?}");
    let events: Api<Event> = Api::namespaced(env.client.clone(), &ns);
    let notes: Vec<String> =
        events.list(&ListParams::default()).await.unwrap().items.into_iter().filter_map(|e| e.message).collect();
    assert!(notes.iter().any(|n| n.contains(&url) && n.contains("unreachable")), "{notes:?}");
}
