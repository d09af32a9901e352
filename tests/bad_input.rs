//! The bad-input catalogue, against the real API server: bad chains-config
//! values and CR fields; malformed results and keys; and hostile remote
//! replies (registries, token endpoints, Rekor) served by a small hostile
//! HTTP server. Each gets a clear Event or condition naming the key, run or
//! host; nothing crashes (no job panics, `/healthz` stays ok); nothing is
//! wrongly signed.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::events::event_with;
use support::hostile::{Body, Hostile, Reply, Seen};
use support::runs::finished_status;
use support::{Env, RunningSigner, eventually, namespace_with_config, runs_api, signer_options, start_signer, tmpdir};
use tekton_chains_operator::crd::TektonChain;

const HEX: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

/// A finished TaskRun with `results` (and `status_extra` merged into its status).
async fn taskrun(env: &Env, ns: &str, name: &str, results: Value) {
    let api = runs_api(env, ns, "TaskRun");
    let tr = json!({ "apiVersion": "tekton.dev/v1", "kind": "TaskRun",
        "metadata": { "name": name, "namespace": ns }, "spec": { "taskRef": { "name": "t" } } });
    api.create(&PostParams::default(), &serde_json::from_value(tr).unwrap()).await.unwrap();
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&finished_status(results))).await.unwrap();
}

async fn settled(env: &Env, ns: &str, name: &str) -> String {
    support::runs::signed(env, ns, "TaskRun", name).await
}

/// An x509.pem key folder (ECDSA P-256 from a fixed seed).
fn x509_keys() -> PathBuf {
    use p256::pkcs8::EncodePrivateKey as _;
    let dir = tmpdir("bad-x509");
    let pem = p256::SecretKey::from_slice(&[5u8; 32]).unwrap().to_pkcs8_pem(p256::pkcs8::LineEnding::LF).unwrap();
    std::fs::write(dir.join("x509.pem"), pem.as_bytes()).unwrap();
    dir
}

fn key_dir(files: &[(&str, Vec<u8>)]) -> PathBuf {
    let dir = tmpdir("bad-key");
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    dir
}

/// Fast settings for the catalogue: quick retries and short remote timeouts.
fn fast(system_ns: &str, keys: &std::path::Path) -> tekton_chains_operator::signer::Options {
    let mut o = signer_options(system_ns, keys, vec![system_ns.to_string()]);
    o.http_timeout = Duration::from_secs(1);
    o.retry_backoff = Duration::from_millis(100);
    o
}

/// No job panicked and the signer is live.
fn healthy(s: &RunningSigner) {
    let m = s.signer.metrics.render();
    assert!(m.contains("signer_job_panics_total 0"), "{m}");
    assert_eq!(s.signer.probes.live(), Ok(()));
}

fn no_secret_in(texts: &[String], secret: &str) {
    for t in texts {
        assert!(!t.contains(secret), "{secret:?} leaked into {t}");
    }
}

const GOOD: &[(&str, &str)] = &[("artifacts.taskrun.format", "in-toto"), ("artifacts.oci.storage", "")];

/// 46 bad chains-config values: each refused as a whole with a Warning
/// Event on chains-config naming the key, the value (never a secret or a
/// URL's password) and what is allowed; the last good config keeps signing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_chains_config_values_are_refused_whole_with_an_event_naming_the_key() {
    let env = Env::new().await;
    let ns = namespace_with_config(&env, "badcfg", GOOD).await;
    let signer = start_signer(env.signer_client(&ns).await, fast(&ns, &x509_keys())).await;
    eventually("the good config loaded", || async { signer.signer.probes.ready().ok() }).await;
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &ns);
    let bad: &[(&str, &str)] = &[
        ("artifacts.taskrun.format", "foo"),
        ("artifacts.taskrun.format", ""),
        ("artifacts.taskrun.format", "in-toto\n"),
        ("artifacts.taskrun.storage", "s3"),
        ("artifacts.taskrun.storage", "tekton,,bogus"),
        ("artifacts.taskrun.storage", "tekton oci"),
        ("artifacts.taskrun.signer", "pgp"),
        ("artifacts.pipelinerun.format", "slsa/v3"),
        ("artifacts.pipelinerun.storage", "TEKTON"),
        ("artifacts.pipelinerun.signer", "X509"),
        ("artifacts.pipelinerun.enable-deep-inspection", "yes"),
        ("artifacts.oci.format", "cosign"),
        ("artifacts.oci.storage", "registry"),
        ("artifacts.oci.signer", ""),
        ("storage.oci.repository.insecure", "maybe"),
        ("storage.oci.encoding-format", "protobuf"),
        ("transparency.enabled", "always"),
        ("transparency.enabled", " true"),
        ("transparency.url", "ftp://rekor.example"),
        ("transparency.url", "not a url"),
        ("transparency.url", "ftp://user:hunter2-secret@rekor.example"),
        ("transparency.entry-kind", "hashedrekord"),
        ("signers.x509.fulcio.enabled", "on"),
        ("signers.x509.fulcio.address", "fulcio"),
        ("signers.x509.fulcio.issuer", "javascript:alert(1)"),
        ("signers.x509.fulcio.provider", "okta"),
        ("signers.x509.tuf.mirror.url", "file:///etc/passwd"),
        ("signers.kms.kmsref", "vault://key"),
        ("builddefinition.buildtype", "https://example.com/other"),
        ("signers.verify-before-skip", "sometimes"),
        ("storage.oci.repository.insecure", "yes"),
        ("storage.gcs.bucket", "gs://chains-signatures"),
        ("storage.gcs.bucket", "Caps"),
        ("storage.docdb.url", "postgres://db/coll"),
        ("storage.docdb.url", "dynamodb://chains"),
        ("storage.docdb.url", "mongo://db/coll?lowercase_fields=true"),
        ("storage.grafeas.projectid", "projects/mine"),
        ("artifacts.oci.storage", "oci,archivista"),
        ("storage.pubsub.topic", "chains/signed"),
        ("storage.pubsub.kafka.bootstrap.servers", "kafka://k:9092"),
    ];
    let good: BTreeMap<&str, &str> = GOOD.iter().copied().collect();
    let mut seen = Vec::new();
    for (key, value) in bad {
        let mut data = good.clone();
        data.insert(key, value);
        cms.patch("chains-config", &PatchParams::default(), &Patch::Merge(&json!({ "data": data }))).await.unwrap();
        let shown = if value.contains("hunter2") {
            "ftp://***@rekor.example".to_string()
        } else if key.ends_with(".storage") {
            // A storage list is refused by its first bad word.
            format!("{:?}", value.split(',').map(str::trim).rfind(|w| !w.is_empty()).unwrap_or_default())
        } else {
            format!("{value:?}")
        };
        let e = event_with(
            &env,
            &ns,
            Some("chains-config"),
            "InvalidConfig",
            &[key, &shown, "allowed", "keeping the last good config"],
        )
        .await;
        seen.push(e);
        // Back to the good config (the next problem is reported again).
        cms.replace(
            "chains-config",
            &PostParams::default(),
            &serde_json::from_value(json!({ "metadata": { "name": "chains-config", "namespace": ns,
                "resourceVersion": cms.get("chains-config").await.unwrap().metadata.resource_version }, "data": good }))
            .unwrap(),
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    // Transparency on with no URL to go to.
    let mut data = good.clone();
    data.extend([("transparency.enabled", "true"), ("transparency.url", "")]);
    cms.patch("chains-config", &PatchParams::default(), &Patch::Merge(&json!({ "data": data }))).await.unwrap();
    seen.push(event_with(&env, &ns, Some("chains-config"), "InvalidConfig", &["transparency.url", "allowed"]).await);
    // gcs selected with no bucket to write to.
    let mut data = good.clone();
    data.extend([("artifacts.taskrun.storage", "tekton,gcs"), ("transparency.enabled", "false")]);
    cms.patch("chains-config", &PatchParams::default(), &Patch::Merge(&json!({ "data": data }))).await.unwrap();
    let needs = ["storage.gcs.bucket", "gcs is in an artifacts.*.storage list", "keeping the last good config"];
    seen.push(event_with(&env, &ns, Some("chains-config"), "InvalidConfig", &needs).await);
    // docdb selected with no collection URL.
    let mut data = good.clone();
    data.extend([("artifacts.taskrun.storage", "tekton,docdb"), ("transparency.enabled", "false")]);
    cms.patch("chains-config", &PatchParams::default(), &Patch::Merge(&json!({ "data": data }))).await.unwrap();
    let needs = ["storage.docdb.url", "docdb is in an artifacts.*.storage list", "mongo://DATABASE/COLLECTION"];
    seen.push(event_with(&env, &ns, Some("chains-config"), "InvalidConfig", &needs).await);
    // grafeas selected with no project, and for runs in the tekton format.
    let mut data = good.clone();
    data.extend([("artifacts.oci.storage", "oci,grafeas"), ("transparency.enabled", "false")]);
    cms.patch("chains-config", &PatchParams::default(), &Patch::Merge(&json!({ "data": data }))).await.unwrap();
    let needs =
        ["storage.grafeas.projectid", "grafeas is in an artifacts.*.storage list", "keeping the last good config"];
    seen.push(event_with(&env, &ns, Some("chains-config"), "InvalidConfig", &needs).await);
    let mut data = good.clone();
    data.extend([
        ("artifacts.taskrun.storage", "tekton,grafeas"),
        ("artifacts.taskrun.format", "tekton"),
        ("storage.grafeas.projectid", "mine"),
        ("transparency.enabled", "false"),
    ]);
    cms.patch("chains-config", &PatchParams::default(), &Patch::Merge(&json!({ "data": data }))).await.unwrap();
    let needs = ["artifacts.taskrun.format", "\"tekton\"", "grafeas in its storage list stores only in-toto"];
    seen.push(event_with(&env, &ns, Some("chains-config"), "InvalidConfig", &needs).await);
    // kafka selected with the inmemory provider, no topic and no brokers: one Event names all three.
    let mut data = good.clone();
    data.extend([
        ("artifacts.taskrun.storage", "tekton,kafka"),
        ("storage.pubsub.provider", "inmemory"),
        ("transparency.enabled", "false"),
    ]);
    cms.patch("chains-config", &PatchParams::default(), &Patch::Merge(&json!({ "data": data }))).await.unwrap();
    let needs = [
        "storage.pubsub.provider",
        "where nothing reads them",
        "storage.pubsub.topic",
        "storage.pubsub.kafka.bootstrap.servers",
        "HOST:PORT",
    ];
    seen.push(event_with(&env, &ns, Some("chains-config"), "InvalidConfig", &needs).await);
    assert_eq!(seen.len(), 46);
    // archivista for images and with no server: both in one Event.
    let both = ["artifacts.oci.storage", "holds only in-toto attestations", "storage.archivista.url"];
    event_with(&env, &ns, Some("chains-config"), "InvalidConfig", &both).await;
    no_secret_in(&seen, "hunter2");
    // Nothing half-applied: a good key next to a bad one does not take
    // effect; the last good config (in-toto) still signs.
    let mixed = json!({ "data": { "artifacts.taskrun.format": "tekton", "transparency.enabled": "maybe" } });
    cms.patch("chains-config", &PatchParams::default(), &Patch::Merge(&mixed)).await.unwrap();
    event_with(&env, &ns, Some("chains-config"), "InvalidConfig", &["transparency.enabled", "\"maybe\""]).await;
    taskrun(&env, &ns, "after-bad-config", json!([])).await;
    assert_eq!(settled(&env, &ns, "after-bad-config").await, "true");
    let run = runs_api(&env, &ns, "TaskRun").get("after-bad-config").await.unwrap();
    let uid = run.metadata.uid.clone().unwrap();
    let sig = run.metadata.annotations.unwrap()[&format!("chains.tekton.dev/signature-taskrun-{uid}")].clone();
    let envelope: Value = serde_json::from_slice(&STANDARD.decode(sig).unwrap()).unwrap();
    assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json", "the bad edit's tekton format was not applied");
    healthy(&signer);
}

/// A signer whose chains-config is invalid, or missing, at start signs
/// nothing, is not ready (saying why, naming the key), records an Event,
/// and signs as soon as the config is fixed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invalid_or_missing_config_at_start_fails_closed_until_fixed() {
    let env = Env::new().await;
    let ns =
        namespace_with_config(&env, "closed", &[("transparency.enabled", "perhaps"), ("artifacts.oci.storage", "")])
            .await;
    let signer = start_signer(env.signer_client(&ns).await, fast(&ns, &x509_keys())).await;
    event_with(
        &env,
        &ns,
        Some("chains-config"),
        "InvalidConfig",
        &["transparency.enabled", "\"perhaps\"", "nothing is signed"],
    )
    .await;
    let why = eventually("not ready", || async { signer.signer.probes.ready().err() }).await;
    assert!(why.contains("transparency.enabled"), "{why}");
    assert_eq!(signer.signer.probes.live(), Ok(()), "not ready, but live");
    taskrun(&env, &ns, "waits", json!([])).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let run = runs_api(&env, &ns, "TaskRun").get("waits").await.unwrap();
    assert!(
        !run.metadata.annotations.unwrap_or_default().contains_key("chains.tekton.dev/signed"),
        "nothing signed, nothing failed"
    );
    // Fixed: the waiting run is signed, and the signer is ready.
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &ns);
    cms.patch(
        "chains-config",
        &PatchParams::default(),
        &Patch::Merge(&json!({ "data": { "transparency.enabled": "false" } })),
    )
    .await
    .unwrap();
    assert_eq!(settled(&env, &ns, "waits").await, "true");
    assert_eq!(signer.signer.probes.ready(), Ok(()));
    // Deleted: fail closed again (no falling back to defaults).
    cms.delete("chains-config", &Default::default()).await.unwrap();
    event_with(&env, &ns, Some("chains-config"), "ConfigMissing", &["does not exist"]).await;
    eventually("not ready without a config", || async { signer.signer.probes.ready().err() }).await;
    taskrun(&env, &ns, "no-config", json!([])).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let run = runs_api(&env, &ns, "TaskRun").get("no-config").await.unwrap();
    assert!(!run.metadata.annotations.unwrap_or_default().contains_key("chains.tekton.dev/signed"));
    let cm =
        json!({ "metadata": { "name": "chains-config", "namespace": ns }, "data": { "artifacts.oci.storage": "" } });
    cms.create(&PostParams::default(), &serde_json::from_value(cm.clone()).unwrap()).await.unwrap();
    assert_eq!(settled(&env, &ns, "no-config").await, "true");
    // Deleted again: the same problem, counted on the same Event (a series of 2).
    cms.delete("chains-config", &Default::default()).await.unwrap();
    eventually("ConfigMissing counted twice", || async {
        let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(env.client.clone(), &ns);
        let list = api.list(&ListParams::default()).await.ok()?;
        let missing =
            list.items.into_iter().filter(|e| e.reason.as_deref() == Some("ConfigMissing")).collect::<Vec<_>>();
        let [e] = missing.as_slice() else { return None };
        (e.series.as_ref()?.count == 2).then_some(())
    })
    .await;
    cms.create(&PostParams::default(), &serde_json::from_value(cm).unwrap()).await.unwrap();

    // A missing config at start.
    let ns2 = support::create_namespace(&env, "noconfig").await;
    let s2 = start_signer(env.signer_client(&ns2).await, fast(&ns2, &x509_keys())).await;
    event_with(&env, &ns2, Some("chains-config"), "ConfigMissing", &[&ns2, "does not exist"]).await;
    assert!(s2.signer.probes.ready().unwrap_err().contains("does not exist"));
    healthy(&signer);
    healthy(&s2);
}

/// Ten bad TektonChain fields: each is refused (the CRD schema, or the
/// operator's validator with `Ready=False InvalidValue`) naming the field
/// and the value; nothing of the bad spec reaches chains-config.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_tektonchain_fields_are_refused_naming_the_field() {
    let env = Env::new().await;
    let _op = env.start_operator();
    let chains: Api<TektonChain> = Api::all(env.client.clone());
    let ns = support::unique_ns("badcr");
    let apply = |spec: Value| {
        let chains = chains.clone();
        async move {
            let body = json!({ "apiVersion": "operator.tekton.dev/v1alpha1", "kind": "TektonChain",
                               "metadata": { "name": "chain" }, "spec": spec });
            chains.patch("chain", &PatchParams::apply("bad-input-test").force(), &Patch::Apply(&body)).await
        }
    };
    apply(json!({ "targetNamespace": ns })).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &ns);
    eventually("installed", || async { cms.get_opt("chains-config").await.ok()? }).await;
    let validator: &[(&str, Value)] = &[
        ("artifacts.taskrun.format", json!("foo")),
        ("transparency.enabled", json!("perhaps")),
        ("artifacts.oci.storage", json!("gcs,bogus")),
        ("signers.kms.kmsref", json!("vault://x")),
        ("transparency.url", json!("ftp://x")),
        ("builddefinition.buildtype", json!("x")),
        ("signers.verify-before-skip", json!("maybe")),
    ];
    for (field, value) in validator {
        apply(json!({ "targetNamespace": ns, *field: value })).await.unwrap();
        // A storage list is refused by its bad word.
        let shown = value.as_str().unwrap().rsplit(',').next().unwrap().to_string();
        eventually(&format!("{field} refused"), || async {
            let c = chains.get("chain").await.ok()?.status?.conditions;
            let ready = c.iter().find(|c| c.type_ == "Ready")?;
            (ready.reason == "InvalidValue" && ready.message.contains(field) && ready.message.contains(&shown))
                .then_some(())
        })
        .await;
        let data = cms.get("chains-config").await.unwrap().data.unwrap_or_default();
        assert!(!data.values().any(|v| *v == shown), "{field}={shown} reached chains-config: {data:?}");
    }
    let schema: &[(Value, &str)] = &[
        (json!({ "targetNamespace": ns, "performance": { "kube-api-qps": -1 } }), "kube-api-qps"),
        (json!({ "targetNamespace": ns, "performance": { "buckets": 11 } }), "buckets"),
        (json!({ "targetNamespace": "Bad_NS" }), "targetNamespace"),
    ];
    for (spec, field) in schema {
        let err = apply(spec.clone()).await.unwrap_err().to_string();
        assert!(err.contains(field), "{field}: {err}");
    }
}

/// Malformed results: each skipped with a MalformedResult Event naming the
/// result, the run still signed; too many images fails the run at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_results_are_named_and_skipped_and_too_many_images_fail() {
    let env = Env::new().await;
    let ns = namespace_with_config(&env, "badres", &[("artifacts.taskrun.format", "in-toto")]).await;
    let signer = start_signer(env.signer_client(&ns).await, fast(&ns, &x509_keys())).await;
    let r = |name: &str, value: Value| json!({ "name": name, "value": value });
    let digest = format!("sha256:{HEX}");
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "bad-digest",
            json!([r("IMAGE_URL", json!("registry.example/a")), r("IMAGE_DIGEST", json!("sha256:xyz"))]),
            "IMAGE_URL",
        ),
        ("no-digest", json!([r("IMAGE_URL", json!("registry.example/a"))]), "no IMAGE_DIGEST"),
        ("junk-images", json!([r("IMAGES", json!("junk, also junk"))]), "IMAGES"),
        ("ansi-images", json!([r("IMAGES", json!(format!("\u{1b}[31mevil@{digest}")))]), "IMAGES"),
        (
            "bad-alg",
            json!([r("ARTIFACT_URI", json!("pkg:x")), r("ARTIFACT_DIGEST", json!("md5:abc"))]),
            "ARTIFACT_DIGEST",
        ),
        ("string-outputs", json!([r("X_ARTIFACT_OUTPUTS", json!("not an object"))]), "X_ARTIFACT_OUTPUTS"),
        ("no-digest-outputs", json!([r("Y_ARTIFACT_OUTPUTS", json!({ "uri": "pkg:y" }))]), "Y_ARTIFACT_OUTPUTS"),
        ("object-url", json!([r("IMAGE_URL", json!({ "a": 1 })), r("IMAGE_DIGEST", json!(digest))]), "IMAGE_URL"),
        ("uri-without-digest", json!([r("ARTIFACT_URI", json!("pkg:z"))]), "ARTIFACT_URI"),
        (
            "bad-image-name",
            json!([r("IMAGE_URL", json!("UPPER/Case Image")), r("IMAGE_DIGEST", json!(digest))]),
            "IMAGE_URL",
        ),
    ];
    for (name, results, _) in &cases {
        taskrun(&env, &ns, name, results.clone()).await;
    }
    let images: Vec<String> = (0..300).map(|i| format!("registry.example/app-{i}@{digest}")).collect();
    taskrun(&env, &ns, "too-many-images", json!([r("IMAGES", json!(images.join(",")))])).await;
    // Not a list of results at all.
    let api = runs_api(&env, &ns, "TaskRun");
    let tr = json!({ "apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": { "name": "results-not-a-list", "namespace": ns },
                     "spec": { "taskRef": { "name": "t" } } });
    api.create(&PostParams::default(), &serde_json::from_value(tr).unwrap()).await.unwrap();
    let mut status = finished_status(json!([]));
    status["status"]["results"] = json!("surprise");
    status["status"]["steps"] = json!({ "not": "a list" });
    api.patch_status("results-not-a-list", &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();

    for (name, _, part) in &cases {
        assert_eq!(settled(&env, &ns, name).await, "true", "{name}");
        let e = event_with(&env, &ns, Some(name), "MalformedResult", &[part]).await;
        assert!(!e.contains('\u{1b}'), "escape codes reached an Event: {e:?}");
    }
    assert_eq!(settled(&env, &ns, "results-not-a-list").await, "true");
    assert_eq!(settled(&env, &ns, "too-many-images").await, "failed");
    event_with(&env, &ns, Some("too-many-images"), "SigningFailed", &["300 images", "at most 256"]).await;
    healthy(&signer);
}

/// Broken keys: the run is never signed; it fails with an Event naming the
/// file and the problem, never the key or the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broken_keys_fail_runs_with_an_event_naming_the_file() {
    let env = Env::new().await;
    let g = tekton_chains_operator::signing::generate_cosign_key_pair().unwrap();
    let hostile_scrypt = {
        let (label, body) = pkcs8::der::pem::decode_vec(g.private_pem.as_bytes()).unwrap();
        let mut v: Value = serde_json::from_slice(&body).unwrap();
        v["kdf"]["params"]["N"] = json!(1u64 << 32);
        pkcs8::der::pem::encode_string(label, pkcs8::LineEnding::LF, &serde_json::to_vec(&v).unwrap()).unwrap()
    };
    let rsa = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
        .output()
        .unwrap()
        .stdout;
    let cosign_key =
        |pem: &[u8], pw: &str| vec![("cosign.key", pem.to_vec()), ("cosign.password", pw.as_bytes().to_vec())];
    let half = &g.private_pem.as_bytes()[..g.private_pem.len() / 2];
    type Files = Vec<(&'static str, Vec<u8>)>;
    let cases: Vec<(&str, Files, &str)> = vec![
        ("garbage-x509", vec![("x509.pem", b"\x00\x01 not a key".to_vec())], "x509.pem: not a PEM file"),
        ("rsa-x509", vec![("x509.pem", rsa)], "x509.pem: unsupported key type"),
        (
            "wrong-password",
            cosign_key(g.private_pem.as_bytes(), "not-the-password"),
            "cannot decrypt with the password in cosign.password",
        ),
        ("hostile-scrypt", cosign_key(hostile_scrypt.as_bytes(), g.password.as_str()), "scrypt parameters"),
        ("truncated-cosign", cosign_key(half, g.password.as_str()), "cosign.key"),
    ];
    let mut signers = Vec::new();
    let mut names = Vec::new();
    for (name, files, _) in &cases {
        let ns = namespace_with_config(&env, name, &[("artifacts.oci.storage", "")]).await;
        signers.push(start_signer(env.signer_client(&ns).await, fast(&ns, &key_dir(files))).await);
        taskrun(&env, &ns, "run", json!([])).await;
        names.push(ns);
    }
    for ((name, _, part), ns) in cases.iter().zip(&names) {
        assert_eq!(settled(&env, ns, "run").await, "failed", "{name}");
        let e = event_with(&env, ns, Some("run"), "SigningFailed", &[part]).await;
        no_secret_in(&[e], g.password.as_str());
    }
    for s in &signers {
        healthy(s);
    }
}

/// One hostile registry per case; returns the server and the image it serves.
async fn registry(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> (Hostile, String) {
    let h = Hostile::start(handler).await;
    let image = format!("{}/team/app", h.addr);
    (h, image)
}

fn manifest_path(s: &Seen) -> bool {
    s.path.contains("/manifests/")
}

/// A registry answering `reply` for every manifest and `{}` for anything else.
async fn manifest_serves(reply: Reply) -> (Hostile, String) {
    registry(move |s| if manifest_path(s) { reply.clone() } else { Reply::new(200, "{}") }).await
}

/// Hostile registries and token endpoints: junk manifests, oversized and
/// dripping bodies, a 500 storm, wrong content types, garbage tokens, an
/// upload sent elsewhere, a huge escaped error. The run is never signed; it
/// fails with an Event naming the registry; requests stay bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_registries_never_crash_hang_or_sign() {
    let env = Env::new().await;
    let config = &[
        ("artifacts.taskrun.format", "in-toto"),
        ("artifacts.taskrun.storage", "oci"),
        ("artifacts.oci.storage", "oci"),
    ];
    let ns = namespace_with_config(&env, "hostilereg", config).await;
    let signer = start_signer(env.signer_client(&ns).await, fast(&ns, &x509_keys())).await;
    let v2_ok = |s: &Seen| s.path == "/v2/";
    let mut cases: Vec<(&str, Hostile, String, &str)> = Vec::new();
    let mut add =
        |name: &'static str, part: &'static str, pair: (Hostile, String)| cases.push((name, pair.0, pair.1, part));

    add(
        "array-manifest",
        "not a JSON object",
        registry(move |s| if v2_ok(s) { Reply::new(200, "{}") } else { Reply::new(200, "[]") }).await,
    );
    add(
        "number-manifest",
        "not a JSON object",
        registry(move |s| if v2_ok(s) { Reply::new(200, "{}") } else { Reply::new(200, "1") }).await,
    );
    add(
        "index-manifest",
        "not an image manifest",
        manifest_serves(Reply::new(200, r#"{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#))
            .await,
    );
    add(
        "huge-manifest",
        "larger than the 4194304-byte limit",
        manifest_serves(Reply::new(200, "").body(Body::Huge { byte: b'[', n: 6 << 20 })).await,
    );
    add(
        "drip-manifest",
        "reading the answer",
        manifest_serves(Reply::new(200, "").body(Body::Drip { every: Duration::from_millis(300), n: 100 })).await,
    );
    add(
        "html-manifest",
        "is not JSON",
        manifest_serves(Reply::new(200, "<html><body>login</body></html>").header("content-type", "text/html")).await,
    );
    add(
        "storm-500",
        "HTTP 500",
        registry(move |s| {
            if v2_ok(s) {
                Reply::new(200, "{}")
            } else {
                Reply::new(500, format!("\u{1b}[2J\u{1b}[31mboom{}", "!".repeat(5000)))
            }
        })
        .await,
    );
    add(
        "huge-error",
        "HTTP 403",
        registry(move |s| {
            if v2_ok(s) {
                Reply::new(200, "{}")
            } else {
                Reply::new(403, "").body(Body::Huge { byte: b'x', n: 3 << 20 })
            }
        })
        .await,
    );
    // Token auth: the registry names a realm; the realm answers junk.
    for (name, part, token) in [
        ("token-html", "not a token", Reply::new(200, "<html>nope</html>")),
        ("token-huge", "larger than", Reply::new(200, "").body(Body::Huge { byte: b'{', n: 2 << 20 })),
        ("token-injection", "not a header-safe string", Reply::new(200, r#"{"token":"a\r\nX-Injected: 1"}"#)),
        ("token-empty", "holds no token", Reply::new(200, r#"{"token":""}"#)),
    ] {
        let pair = {
            let h = Hostile::start(move |s: &Seen| {
                if s.path.starts_with("/token") {
                    token.clone()
                } else {
                    let realm = format!(
                        "Bearer realm=\"http://{}/token\",service=\"reg\"",
                        s.header("host").unwrap_or_default()
                    );
                    Reply::new(401, r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#).header("www-authenticate", &realm)
                }
            })
            .await;
            let image = format!("{}/team/app", h.addr);
            (h, image)
        };
        add(name, part, pair);
    }
    add(
        "upload-elsewhere",
        "another host",
        registry(move |s| {
            if manifest_path(s) && s.method == "GET" {
                Reply::new(404, r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#)
            } else if s.path.contains("/blobs/uploads/") {
                Reply::new(202, "").header("location", "http://169.254.169.254/steal")
            } else {
                Reply::new(200, "{}")
            }
        })
        .await,
    );

    for (name, _, image, _) in &cases {
        let results = json!([{ "name": "IMAGE_URL", "value": image }, { "name": "IMAGE_DIGEST", "value": format!("sha256:{HEX}") }]);
        taskrun(&env, &ns, name, results).await;
    }
    for (name, server, _, part) in &cases {
        assert_eq!(settled(&env, &ns, name).await, "failed", "{name}");
        let e = event_with(&env, &ns, Some(name), "SigningFailed", &[&server.addr, part]).await;
        assert!(!e.contains('\u{1b}') && e.len() < 1200, "{name}: {e:?}");
        // Bounded: a few requests per attempt, at most 10 attempts.
        assert!(server.seen().len() < 120, "{name}: {} requests", server.seen().len());
    }
    healthy(&signer);
}

/// A hostile Rekor per case (the log URL is config-wide, so one signer
/// each): junk answers, an entry for something else, a forged
/// SignedEntryTimestamp, a 409 pointing at another host, a huge answer, a
/// 500 storm. The run is never signed; the Event names the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_transparency_logs_are_never_trusted() {
    let env = Env::new().await;
    use p256::pkcs8::EncodePublicKey as _;
    let log_key = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap();
    let public = log_key.verifying_key().to_public_key_pem(p256::pkcs8::LineEnding::LF).unwrap();
    let der = log_key.verifying_key().to_public_key_der().unwrap();
    let log_id: String = sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(der.as_bytes()))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let entry = move |body: &[u8], set: &str| {
        json!({ "24296fb24b8ad77a": { "body": STANDARD.encode(body), "integratedTime": 1, "logID": log_id.clone(),
                                       "logIndex": 7, "verification": { "signedEntryTimestamp": set } } })
        .to_string()
    };
    let key_or = move |s: &Seen, post: Reply| {
        if s.path == "/api/v1/log/publicKey" {
            Reply::new(200, public.clone()).header("content-type", "application/x-pem-file")
        } else {
            post
        }
    };
    type Case = (&'static str, &'static str, Box<dyn Fn(&Seen) -> Reply + Send + Sync>);
    let (e1, e2, k1, k2, k3, k4, k5, k6) = (
        entry.clone(),
        entry.clone(),
        key_or.clone(),
        key_or.clone(),
        key_or.clone(),
        key_or.clone(),
        key_or.clone(),
        key_or.clone(),
    );
    let other = br#"{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":"00"}},"signature":{"content":"AA=="}}}"#;
    let cases: Vec<Case> = vec![
        ("array", "unexpected answer", Box::new(move |s| k1(s, Reply::new(201, "[]")))),
        (
            "someone-elses-entry",
            "an entry for something else",
            Box::new(move |s| k2(s, Reply::new(201, e1(other, "AA==")))),
        ),
        (
            "forged-set",
            "SignedEntryTimestamp does not verify",
            Box::new(move |s| k3(s, Reply::new(201, e2(&s.body, "Zm9yZ2Vk")))),
        ),
        (
            "conflict-elsewhere",
            "another host",
            Box::new(move |s| {
                k4(
                    s,
                    Reply::new(409, r#"{"code":409,"message":"exists"}"#)
                        .header("location", "http://169.254.169.254/api/v1/log/entries/x"),
                )
            }),
        ),
        (
            "huge",
            "larger than",
            Box::new(move |s| k5(s, Reply::new(201, "").body(Body::Huge { byte: b'{', n: 12 << 20 }))),
        ),
        ("storm", "500", Box::new(move |s| k6(s, Reply::new(500, r#"{"code":500,"message":"down"}"#)))),
    ];
    let mut running = Vec::new();
    for (name, part, handler) in cases {
        let server = Hostile::start(handler).await;
        let url = format!("http://{}", server.addr);
        let config = [
            ("artifacts.taskrun.format", "tekton"),
            ("artifacts.oci.storage", ""),
            ("transparency.enabled", "true"),
            ("transparency.url", url.as_str()),
        ];
        let ns = namespace_with_config(&env, name, &config).await;
        let signer = start_signer(env.signer_client(&ns).await, fast(&ns, &x509_keys())).await;
        taskrun(&env, &ns, "run", json!([])).await;
        running.push((name, part, server, ns, signer));
    }
    for (name, part, server, ns, signer) in &running {
        assert_eq!(settled(&env, ns, "run").await, "failed", "{name}");
        let e = event_with(&env, ns, Some("run"), "SigningFailed", &[&server.addr, part]).await;
        assert!(e.len() < 1200, "{e}");
        assert!(server.seen().len() < 60, "{name}: {} requests", server.seen().len());
        let run = runs_api(&env, ns, "TaskRun").get("run").await.unwrap();
        assert!(!run.metadata.annotations.unwrap_or_default().contains_key("chains.tekton.dev/transparency"), "{name}");
        healthy(signer);
    }
}
