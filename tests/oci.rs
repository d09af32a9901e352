//! `oci` storage against real registries (distribution, open and behind
//! TLS + htpasswd), verified with the real cosign.

mod support;

use std::path::Path;
use std::process::Command;

use k8s_openapi::api::core::v1::{Event, Secret, ServiceAccount};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::registry::{docker_secret, registries};
use support::runs::{build_taskrun, build_taskrun_at, cosign, finished_status, signed};
use support::{
    Env, cosign_keys, eventually, namespace_with_config, runs_api, signer_options, start_signer, tmpdir, unique_ns,
};

fn verify(keys: &Path, image: &str, env: &[(&str, &str)]) {
    let (ok, out) = cosign(keys, &["verify", "--key", "cosign.pub", "--insecure-ignore-tlog=true", image], env);
    assert!(ok && out.contains("The signatures were verified against the specified public key"), "{out}");
}

fn verify_attestation(keys: &Path, image: &str, env: &[(&str, &str)]) -> String {
    let args =
        ["verify-attestation", "--key", "cosign.pub", "--insecure-ignore-tlog=true", "--type", "slsaprovenance", image];
    let (ok, out) = cosign(keys, &args, env);
    assert!(ok, "{out}");
    out
}

const OCI_CONFIG: &[(&str, &str)] = &[
    ("artifacts.taskrun.format", "in-toto"),
    ("artifacts.taskrun.storage", "oci,tekton"),
    ("artifacts.oci.storage", "oci"),
    ("artifacts.pipelinerun.format", "in-toto"),
    ("artifacts.pipelinerun.storage", "oci"),
];

async fn service_account(env: &Env, ns: &str, name: &str, secrets: &[&str], pull: &[&str]) {
    let sa: ServiceAccount = serde_json::from_value(json!({
        "metadata": { "name": name, "namespace": ns },
        "secrets": secrets.iter().map(|s| json!({ "name": s })).collect::<Vec<_>>(),
        "imagePullSecrets": pull.iter().map(|s| json!({ "name": s })).collect::<Vec<_>>(),
    }))
    .unwrap();
    Api::<ServiceAccount>::namespaced(env.client.clone(), ns).create(&PostParams::default(), &sa).await.unwrap();
}

fn layers(m: &Option<Value>) -> usize {
    m.as_ref().and_then(|m| m["layers"].as_array()).map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn taskrun_image_is_signed_and_attested_next_to_it_and_appends_never_replace() {
    let env = Env::new().await;
    let regs = registries();
    let keys = cosign_keys(&support::cosign().unwrap());
    let ns = namespace_with_config(&env, "oci", OCI_CONFIG).await;
    let repo = format!("team/{}", unique_ns("app"));
    let digest = regs.push_image(&regs.open, &repo).await;
    let image = format!("{}/{repo}", regs.open);
    let by_digest = format!("{image}@{digest}");

    // Another signer signed the image first (real cosign, its own key).
    let other = cosign_keys(&support::cosign().unwrap());
    let (ok, out) = cosign(&other, &["sign", "--yes", "--tlog-upload=false", "--key", "cosign.key", &by_digest], &[]);
    assert!(ok, "{out}");

    let s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    build_taskrun(&env, &ns, "build-1", "default", &format!("{image}:v1"), &digest).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "build-1").await, "true");

    verify(&keys, &by_digest, &[]);
    verify(&other, &by_digest, &[]);
    let out = verify_attestation(&keys, &by_digest, &[]);
    assert!(out.contains("Verification for") || out.contains("slsa"), "{out}");
    let sig_tag = format!("{}.sig", digest.replace(':', "-"));
    let att_tag = format!("{}.att", digest.replace(':', "-"));
    assert_eq!(layers(&regs.manifest(&regs.open, &repo, &sig_tag).await), 2, "theirs and ours");
    assert_eq!(layers(&regs.manifest(&regs.open, &repo, &att_tag).await), 1);

    // Signed again (the annotation removed by hand): the same signature adds no layer.
    let api = runs_api(&env, &ns, "TaskRun");
    let unsign = json!({ "metadata": { "annotations": { "chains.tekton.dev/signed": null } } });
    api.patch("build-1", &PatchParams::default(), &Patch::Merge(&unsign)).await.unwrap();
    assert_eq!(signed(&env, &ns, "TaskRun", "build-1").await, "true");
    let pushes = || s.signer.metrics.render();
    eventually("second signing done", || async {
        pushes().contains("watcher_taskrun_marked_signed_total 2").then_some(())
    })
    .await;
    assert_eq!(layers(&regs.manifest(&regs.open, &repo, &sig_tag).await), 2);
    assert_eq!(layers(&regs.manifest(&regs.open, &repo, &att_tag).await), 1);

    // Five runs that built the same image, signed concurrently: every
    // attestation is kept (each run's provenance differs: its finish time).
    for i in 0..5 {
        let at = format!("2026-11-23T10:0{}:10Z", i + 1);
        build_taskrun_at(&env, &ns, &format!("again-{i}"), "default", &image, &digest, &at).await;
    }
    for i in 0..5 {
        assert_eq!(signed(&env, &ns, "TaskRun", &format!("again-{i}")).await, "true");
    }
    assert_eq!(layers(&regs.manifest(&regs.open, &repo, &att_tag).await), 6, "one attestation per run");
    assert_eq!(layers(&regs.manifest(&regs.open, &repo, &sig_tag).await), 2, "one signature per image and key");
    let m = s.signer.metrics.render();
    assert!(m.contains("signer_secret_reads_total"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pipelinerun_attestation_reaches_the_registry() {
    let env = Env::new().await;
    let regs = registries();
    let keys = cosign_keys(&support::cosign().unwrap());
    let ns = namespace_with_config(&env, "ocipr", OCI_CONFIG).await;
    let repo = format!("team/{}", unique_ns("pr"));
    let digest = regs.push_image(&regs.open, &repo).await;
    let image = format!("{}/{repo}", regs.open);
    let _s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;

    // Two child TaskRuns (no images of their own), then the PipelineRun that reports the image.
    let trs = runs_api(&env, &ns, "TaskRun");
    for child in ["pr-fetch", "pr-build"] {
        let tr = json!({ "apiVersion": "tekton.dev/v1", "kind": "TaskRun",
            "metadata": { "name": child, "namespace": ns }, "spec": { "taskRef": { "name": child } } });
        trs.create(&PostParams::default(), &serde_json::from_value(tr).unwrap()).await.unwrap();
        trs.patch_status(child, &PatchParams::default(), &Patch::Merge(&finished_status(json!([])))).await.unwrap();
    }
    let prs = runs_api(&env, &ns, "PipelineRun");
    let pr = json!({ "apiVersion": "tekton.dev/v1", "kind": "PipelineRun",
        "metadata": { "name": "pr", "namespace": ns },
        "spec": { "pipelineRef": { "name": "build" }, "taskRunTemplate": { "serviceAccountName": "pipeline" } } });
    prs.create(&PostParams::default(), &serde_json::from_value(pr).unwrap()).await.unwrap();
    let status = json!({ "status": {
        "conditions": [{ "type": "Succeeded", "status": "True", "reason": "Succeeded" }],
        "startTime": "2026-11-23T10:00:00Z", "completionTime": "2026-11-23T10:00:20Z",
        "pipelineSpec": { "tasks": [{ "name": "fetch" }, { "name": "build" }] },
        "childReferences": [
            { "apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": "pr-fetch", "pipelineTaskName": "fetch" },
            { "apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": "pr-build", "pipelineTaskName": "build" } ],
        "results": [
            { "name": "IMAGE_URL", "value": image },
            { "name": "IMAGE_DIGEST", "value": digest } ] } });
    prs.patch_status("pr", &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
    assert_eq!(signed(&env, &ns, "PipelineRun", "pr").await, "true");
    let by_digest = format!("{image}@{digest}");
    let out = verify_attestation(&keys, &by_digest, &[]);
    assert!(!out.is_empty());
    let att = regs.manifest(&regs.open, &repo, &format!("{}.att", digest.replace(':', "-"))).await;
    assert_eq!(layers(&att), 1, "the PipelineRun's attestation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn storage_oci_repository_sends_both_tags_elsewhere() {
    signs_into_another_repository("storage.oci.repository", "x509").await;
}

/// Seed 001's Chains 1.10 names, `artifacts.oci.repository` and signer
/// `cosign`, work as `storage.oci.repository` and `x509`, with one
/// `DeprecatedConfig` Event on chains-config naming both.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_seeds_older_names_still_work_with_a_deprecation_event() {
    let (env, ns) = signs_into_another_repository("artifacts.oci.repository", "cosign").await;
    let note = support::events::event_with(&env, &ns, Some("chains-config"), "DeprecatedConfig", &[]).await;
    assert!(
        note.contains("artifacts.oci.repository: a deprecated name (Chains 1.10); use storage.oci.repository"),
        "{note}"
    );
    assert!(note.contains(r#"artifacts.oci.signer: "cosign" is deprecated (Chains 1.10); use "x509""#), "{note}");
}

/// Signs an image's signature and attestation into another repository named
/// by `repository_key`, with `signer` for every artifact type.
async fn signs_into_another_repository(repository_key: &str, signer: &str) -> (Env, String) {
    let env = Env::new().await;
    let regs = registries();
    let keys = cosign_keys(&support::cosign().unwrap());
    let sigs = format!("{}/sigs/{}", regs.open, unique_ns("store"));
    let mut config = OCI_CONFIG.to_vec();
    config.push((repository_key, &sigs));
    config.extend([("artifacts.oci.signer", signer), ("artifacts.taskrun.signer", signer)]);
    let ns = namespace_with_config(&env, "ocirepo", &config).await;
    let repo = format!("team/{}", unique_ns("app"));
    let digest = regs.push_image(&regs.open, &repo).await;
    let image = format!("{}/{repo}", regs.open);
    let _s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    build_taskrun(&env, &ns, "build", "default", &image, &digest).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "build").await, "true");
    let by_digest = format!("{image}@{digest}");
    verify(&keys, &by_digest, &[("COSIGN_REPOSITORY", &sigs)]);
    verify_attestation(&keys, &by_digest, &[("COSIGN_REPOSITORY", &sigs)]);
    assert_eq!(regs.tags(&repo).await, vec!["v1".to_string()], "nothing next to the image");
    (env, ns)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn credentials_come_from_the_service_account_and_a_refused_one_is_skipped() {
    let env = Env::new().await;
    let regs = registries();
    let keys = cosign_keys(&support::cosign().unwrap());
    let ns = namespace_with_config(&env, "ociauth", OCI_CONFIG).await;
    let repo = format!("team/{}", unique_ns("private"));
    let digest = regs.push_image(&regs.auth, &repo).await;
    let image = format!("{}/{repo}", regs.auth);
    // The registry refuses the first credential (as a read-only token's push
    // is refused); the second pushes.
    docker_secret(&env, &ns, "readonly", regs.dockerconfigjson(&regs.user, "wrong-password")).await;
    docker_secret(&env, &ns, "push", regs.dockerconfigjson(&regs.user, &regs.password)).await;
    service_account(&env, &ns, "builder", &["readonly"], &["push"]).await;
    let mut opts = signer_options(&ns, &keys, vec![ns.clone()]);
    opts.registry_ca_file = vec![regs.ca.clone()];
    let _s = start_signer(env.signer_client(&ns).await, opts).await;
    build_taskrun(&env, &ns, "build", "builder", &image, &digest).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "build").await, "true");
    let docker = regs.docker_config();
    let by_digest = format!("{image}@{digest}");
    let env_vars = [("DOCKER_CONFIG", docker.to_str().unwrap()), ("SSL_CERT_FILE", regs.ca.to_str().unwrap())];
    verify(&keys, &by_digest, &env_vars);
    verify_attestation(&keys, &by_digest, &env_vars);

    // Seed 002, as written: a Secret from `--from-file=.dockerconfigjson` (here as
    // `oc create secret generic` makes it: Opaque), given to a new ServiceAccount
    // with the seed's `oc patch serviceaccount` body.
    let generic: Secret = serde_json::from_value(json!({
        "metadata": { "name": "registry-credentials", "namespace": ns }, "type": "Opaque",
        "data": { ".dockerconfigjson": base64::Engine::encode(&base64::engine::general_purpose::STANDARD,
                   regs.dockerconfigjson(&regs.user, &regs.password)) },
    }))
    .unwrap();
    Api::<Secret>::namespaced(env.client.clone(), &ns).create(&PostParams::default(), &generic).await.unwrap();
    service_account(&env, &ns, "build-bot", &[], &[]).await;
    let patch: Value = serde_json::from_str(r#"{"imagePullSecrets": [{"name": "registry-credentials"}]}"#).unwrap();
    Api::<ServiceAccount>::namespaced(env.client.clone(), &ns)
        .patch("build-bot", &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
    let repo2 = format!("team/{}", unique_ns("seed"));
    let digest2 = regs.push_image(&regs.auth, &repo2).await;
    let image2 = format!("{}/{repo2}", regs.auth);
    build_taskrun(&env, &ns, "build-push-task-run-2", "build-bot", &image2, &digest2).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "build-push-task-run-2").await, "true");
    verify(&keys, &format!("{image2}@{digest2}"), &env_vars);
}

/// Seed 003: registry credentials on the signer's own ServiceAccount
/// (`kubectl patch serviceaccount tekton-chains-controller -p '{"imagePullSecrets": …}'`)
/// push a run whose ServiceAccount has none, and a run whose credential the
/// registry refuses (tried first), through the signer's real RBAC.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_signers_own_service_account_backs_up_the_runs() {
    let env = Env::new().await;
    let regs = registries();
    let keys = cosign_keys(&support::cosign().unwrap());
    let ns = namespace_with_config(&env, "ownsa", OCI_CONFIG).await;
    let client = env.signer_client(&ns).await;
    docker_secret(&env, &ns, "registry-credentials", regs.dockerconfigjson(&regs.user, &regs.password)).await;
    let patch: Value = serde_json::from_str(r#"{"imagePullSecrets": [{"name": "registry-credentials"}]}"#).unwrap();
    Api::<ServiceAccount>::namespaced(env.client.clone(), &ns)
        .patch(support::SIGNER_SERVICE_ACCOUNT, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
    let builds = support::create_namespace(&env, "ownsa-builds").await;
    let mut opts = signer_options(&ns, &keys, vec![builds.clone()]);
    opts.registry_ca_file = vec![regs.ca.clone()];
    let s = start_signer(client, opts).await;
    let docker = regs.docker_config();
    let env_vars = [("DOCKER_CONFIG", docker.to_str().unwrap()), ("SSL_CERT_FILE", regs.ca.to_str().unwrap())];

    // The run's ServiceAccount (`default`) has no credentials at all.
    let repo = format!("team/{}", unique_ns("own"));
    let digest = regs.push_image(&regs.auth, &repo).await;
    let image = format!("{}/{repo}", regs.auth);
    build_taskrun(&env, &builds, "build", "default", &image, &digest).await;
    assert_eq!(signed(&env, &builds, "TaskRun", "build").await, "true");
    verify(&keys, &format!("{image}@{digest}"), &env_vars);
    verify_attestation(&keys, &format!("{image}@{digest}"), &env_vars);

    // The run's own credential is refused (tried first), then the signer's pushes.
    docker_secret(&env, &builds, "readonly", regs.dockerconfigjson(&regs.user, "wrong-password")).await;
    service_account(&env, &builds, "builder", &["readonly"], &[]).await;
    let repo2 = format!("team/{}", unique_ns("own2"));
    let digest2 = regs.push_image(&regs.auth, &repo2).await;
    let image2 = format!("{}/{repo2}", regs.auth);
    build_taskrun(&env, &builds, "build-2", "builder", &image2, &digest2).await;
    assert_eq!(signed(&env, &builds, "TaskRun", "build-2").await, "true");
    verify(&keys, &format!("{image2}@{digest2}"), &env_vars);
    let m = s.signer.metrics.render();
    assert!(m.contains("signer_job_panics_total 0"), "{m}");
}

/// The real binary with wrong credentials: the run ends signed=failed with
/// an Event naming backend, registry, repository and status, and the
/// password is in no log line, Event or annotation.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_credentials_fail_the_run_with_an_event_and_never_leak() {
    let env = Env::new().await;
    let regs = registries();
    let keys = cosign_keys(&support::cosign().unwrap());
    let ns = namespace_with_config(&env, "ocibad", OCI_CONFIG).await;
    let repo = format!("team/{}", unique_ns("private"));
    let digest = regs.push_image(&regs.auth, &repo).await;
    let image = format!("{}/{repo}", regs.auth);
    let secret_pw = "wrong-but-secret-Pa55";
    docker_secret(&env, &ns, "bad", regs.dockerconfigjson(&regs.user, secret_pw)).await;
    service_account(&env, &ns, "default", &[], &["bad"]).await;
    let log = tmpdir("signer-log").join("signer.log");
    let signer = env.signer_identity(&ns).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tekton-chains-operator"))
        .args(["signer", "--namespace", &ns, "--system-namespace", &ns, "--leader-election=false"])
        .args(["--retry-backoff", "100ms", "--metrics-addr", "127.0.0.1:0", "--probes-addr", "127.0.0.1:0"])
        .arg("--signing-secrets-dir")
        .arg(&keys)
        .arg("--registry-ca-file")
        .arg(&regs.ca)
        .env("KUBECONFIG", &signer.kubeconfig)
        .env("RUST_LOG", "trace")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::options().append(true).open(&log).unwrap())
        .spawn()
        .unwrap();
    build_taskrun(&env, &ns, "build", "default", &image, &digest).await;
    let result = signed(&env, &ns, "TaskRun", "build").await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(result, "failed");
    let events: Api<Event> = Api::namespaced(env.client.clone(), &ns);
    let notes: Vec<String> =
        events.list(&ListParams::default()).await.unwrap().items.into_iter().filter_map(|e| e.message).collect();
    let note = notes.iter().find(|n| n.contains("giving up")).unwrap_or_else(|| panic!("{notes:?}"));
    assert!(note.contains("oci storage"), "{note}");
    assert!(
        note.contains(&format!("registry {}", regs.auth)) && note.contains(&format!("repository {repo}")),
        "{note}"
    );
    assert!(note.contains("HTTP 401"), "{note}");
    let run = runs_api(&env, &ns, "TaskRun").get("build").await.unwrap();
    // `tekton` storage stored its part; the run is still not signed.
    let uid = run.metadata.uid.clone().unwrap();
    let annotations = run.metadata.annotations.clone().unwrap_or_default();
    assert!(annotations.contains_key(&format!("chains.tekton.dev/payload-taskrun-{uid}")), "{annotations:?}");
    let everything =
        format!("{}\n{}\n{:?}", std::fs::read_to_string(&log).unwrap(), notes.join("\n"), run.metadata.annotations);
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("{}:{secret_pw}", regs.user));
    assert!(!everything.contains(secret_pw) && !everything.contains(&b64), "a credential leaked");
    assert!(everything.contains("signing failed"), "the log was captured");
}

/// `storage.oci.repository.insecure` accepts the TLS registry's self-signed
/// certificate for that repository's registry only; without it the push is
/// refused (no --registry-ca-file here).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn insecure_applies_to_the_configured_repository_only() {
    let env = Env::new().await;
    let regs = registries();
    let keys = cosign_keys(&support::cosign().unwrap());
    let sigs_repo = format!("sigs/{}", unique_ns("insecure"));
    let sigs = format!("{}/{sigs_repo}", regs.auth);
    let mut config = OCI_CONFIG.to_vec();
    config.extend([("storage.oci.repository", sigs.as_str()), ("storage.oci.repository.insecure", "true")]);
    let ns = namespace_with_config(&env, "ociinsecure", &config).await;
    docker_secret(&env, &ns, "push", regs.dockerconfigjson(&regs.user, &regs.password)).await;
    service_account(&env, &ns, "default", &[], &["push"]).await;
    let repo = format!("team/{}", unique_ns("app"));
    let digest = regs.push_image(&regs.open, &repo).await;
    let _s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    build_taskrun(&env, &ns, "build", "default", &format!("{}/{repo}", regs.open), &digest).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "build").await, "true");
    let sig = regs.manifest(&regs.auth, &sigs_repo, &format!("{}.sig", digest.replace(':', "-"))).await;
    assert_eq!(layers(&sig), 1);

    // The same registry as the image's own (not the configured repository): verified TLS, refused.
    let ns2 = namespace_with_config(&env, "ocistrict", OCI_CONFIG).await;
    docker_secret(&env, &ns2, "push", regs.dockerconfigjson(&regs.user, &regs.password)).await;
    service_account(&env, &ns2, "default", &[], &["push"]).await;
    let repo2 = format!("team/{}", unique_ns("private"));
    let digest2 = regs.push_image(&regs.auth, &repo2).await;
    let _s2 = start_signer(env.signer_client(&ns2).await, signer_options(&ns2, &keys, vec![ns2.clone()])).await;
    build_taskrun(&env, &ns2, "build", "default", &format!("{}/{repo2}", regs.auth), &digest2).await;
    assert_eq!(signed(&env, &ns2, "TaskRun", "build").await, "failed");
    // The Event is recorded just after the failed mark: wait for it.
    let events: Api<Event> = Api::namespaced(env.client.clone(), &ns2);
    eventually("the SigningFailed Event naming the certificate", || async {
        let notes: Vec<String> =
            events.list(&ListParams::default()).await.ok()?.items.into_iter().filter_map(|e| e.message).collect();
        notes.iter().any(|n| n.contains("giving up") && n.contains("certificate")).then_some(())
    })
    .await;
}

/// A registry CA set from the TektonChain (`options.configMaps`, into the
/// `config-trusted-cabundle` the operator installs and OpenShift fills), as
/// for a registry with a private CA: the operator mounts the CA bundles and
/// passes them to the controller; the real binary, started with the
/// Deployment's own arguments on those files as the kubelet lays them out,
/// as the installed ServiceAccount, pushes to the TLS registry.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_registry_ca_set_from_the_tektonchain_is_trusted_by_the_installed_signer() {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::ConfigMap;
    let env = Env::new().await;
    let regs = registries();
    let keys = cosign_keys(&support::cosign().unwrap());
    let ns = unique_ns("ocica");
    let ca = std::fs::read_to_string(&regs.ca).unwrap();
    let mut spec = json!({ "targetNamespace": ns, "options": { "configMaps": {
        "config-trusted-cabundle": { "data": { "registry-ca.crt": ca } } } } });
    for (k, v) in OCI_CONFIG {
        spec[*k] = json!(v);
    }
    let _op = env.start_operator();
    let chain = json!({ "apiVersion": "operator.tekton.dev/v1alpha1", "kind": "TektonChain",
                        "metadata": { "name": "chain" }, "spec": spec });
    let chains: Api<tekton_chains_operator::crd::TektonChain> = Api::all(env.client.clone());
    chains.patch("chain", &PatchParams::apply("test-admin").force(), &Patch::Apply(&chain)).await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(env.client.clone(), &ns);
    let pod = eventually("the controller Deployment", || async {
        deployments.get_opt("tekton-chains-controller").await.ok()??.spec?.template.spec
    })
    .await;
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &ns);
    let trusted = cms.get("config-trusted-cabundle").await.unwrap();
    assert_eq!(trusted.metadata.labels.unwrap()["config.openshift.io/inject-trusted-cabundle"], "true");
    let service = cms.get("config-service-cabundle").await.unwrap();
    assert_eq!(service.metadata.annotations.unwrap()["service.beta.openshift.io/inject-cabundle"], "true");

    // The kubelet's part: each ConfigMap volume a folder of its keys
    // (`..data` link to a timestamped folder), at a local path.
    let root = tmpdir("ca-mounts");
    let container = &pod.containers[0];
    let mut local = Vec::new();
    for volume in pod.volumes.unwrap_or_default() {
        let Some(cm) = volume.config_map else { continue };
        let mount = container.volume_mounts.iter().flatten().find(|m| m.name == volume.name).unwrap();
        assert_eq!(cm.optional, Some(true), "{}", volume.name);
        let dir = root.join(&volume.name);
        let stamp = dir.join("..2026_12_07_00_00_00.000000001");
        std::fs::create_dir_all(&stamp).unwrap();
        std::os::unix::fs::symlink(&stamp, dir.join("..data")).unwrap();
        let data = cms.get(&cm.name).await.unwrap().data.unwrap_or_default();
        for (key, value) in data {
            std::fs::write(stamp.join(&key), value).unwrap();
            std::os::unix::fs::symlink(format!("..data/{key}"), dir.join(&key)).unwrap();
        }
        local.push((mount.mount_path.clone(), dir));
    }
    let args: Vec<String> = container
        .args
        .iter()
        .flatten()
        .filter_map(|a| a.strip_prefix("--registry-ca-file="))
        .map(|path| {
            let (_, dir) = local.iter().find(|(m, _)| m == path).unwrap_or_else(|| panic!("{path} is not mounted"));
            format!("--registry-ca-file={}", dir.display())
        })
        .collect();
    assert_eq!(args.len(), 2, "{:?}", container.args);

    docker_secret(&env, &ns, "push", regs.dockerconfigjson(&regs.user, &regs.password)).await;
    service_account(&env, &ns, "default", &[], &["push"]).await;
    let sas: Api<ServiceAccount> = Api::namespaced(env.client.clone(), &ns);
    eventually("the installed ServiceAccount", || async { sas.get_opt("tekton-chains-controller").await.ok()? }).await;
    let identity = env.token_identity(&ns, "tekton-chains-controller").await;
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let signer = support::signer_process_with(&ns, &identity, &[], &keys, &arg_refs);
    let repo = format!("team/{}", unique_ns("privateca"));
    let digest = regs.push_image(&regs.auth, &repo).await;
    let image = format!("{}/{repo}", regs.auth);
    build_taskrun(&env, &ns, "build", "default", &image, &digest).await;
    let result = signed(&env, &ns, "TaskRun", "build").await;
    assert_eq!(result, "true", "{}", signer.output());
    assert!(signer.output().contains("registry-ca.crt"), "the CA file is named in the log: {}", signer.output());
    let docker = regs.docker_config();
    let env_vars = [("DOCKER_CONFIG", docker.to_str().unwrap()), ("SSL_CERT_FILE", regs.ca.to_str().unwrap())];
    verify(&keys, &format!("{image}@{digest}"), &env_vars);
}
