//! Hardening against tenants and faults, on the real API server, registry
//! and Rekor: a panic in one job is contained; a run edited while it is
//! signed is written once, with one log entry and one layer per tag; a
//! signer that cannot patch stops after bounded attempts; a forged
//! `signed=true` is caught when asked; the probe server is not held by idle
//! clients; hostile retry counts do not overflow.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::registry::registries;
use support::rekor::rekor;
use support::runs::{build_taskrun, finished_status, signed};
use support::{Env, cosign_keys, eventually, namespace_with_config, runs_api, signer_options, start_signer, unique_ns};
use tekton_chains_operator::remote::RemoteError;
use tekton_chains_operator::signing::Signed;
use tekton_chains_operator::transparency::{LogEntry, TransparencyLog};

async fn notes(env: &Env, ns: &str, name: &str) -> Vec<String> {
    let api: Api<Event> = Api::namespaced(env.client.clone(), ns);
    let list = api.list(&ListParams::default()).await.map(|l| l.items).unwrap_or_default();
    list.into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .map(|e| format!("{}: {}", e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
        .collect()
}

async fn finished(env: &Env, ns: &str, name: &str, annotations: Value, results: Value) {
    let api = runs_api(env, ns, "TaskRun");
    let tr = json!({ "apiVersion": "tekton.dev/v1", "kind": "TaskRun",
        "metadata": { "name": name, "namespace": ns, "annotations": annotations }, "spec": { "taskRef": { "name": "t" } } });
    api.create(&PostParams::default(), &serde_json::from_value(tr).unwrap()).await.unwrap();
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&finished_status(results))).await.unwrap();
}

/// A transparency log that panics on payloads holding a marker (a bug in a
/// job, planted at the one seam a test can reach), and logs the rest.
struct Panicky;

#[async_trait::async_trait]
impl TransparencyLog for Panicky {
    async fn upload(&self, signed: &Signed) -> Result<LogEntry, RemoteError> {
        if String::from_utf8_lossy(&signed.payload).contains("PANIC-ME") {
            panic!("planted bug while logging {}", signed.key);
        }
        Ok(LogEntry {
            log_index: 1,
            uuid: "u".into(),
            url: "http://log.test/api/v1/log/entries?logIndex=1".into(),
            bundle: None,
            tlog_entry: None,
        })
    }
}

/// Two runs whose signing panics, on a signer with two workers: each ends
/// `signed=failed` with an Event naming it and the panic; the workers go
/// on (the next run is signed) and `/healthz` stays ok.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_panic_in_one_job_fails_that_run_and_the_signer_goes_on() {
    let env = Env::new().await;
    let config =
        [("artifacts.taskrun.format", "tekton"), ("artifacts.oci.storage", ""), ("transparency.enabled", "true")];
    let ns = namespace_with_config(&env, "panic", &config).await;
    let keys = cosign_keys(&support::cosign().unwrap());
    let mut opts = signer_options(&ns, &keys, vec![ns.clone()]);
    opts.threads_per_controller = 2;
    let real = tekton_chains_operator::signer::Signer::new(env.client.clone(), &opts).await;
    // The same signer, with the panicking log in place of Rekor.
    let metrics = tekton_chains_operator::signer::metrics::Metrics::new();
    let mut parts = real.parts().clone();
    let panicky: std::sync::Arc<dyn TransparencyLog> = std::sync::Arc::new(Panicky);
    let fixed = tekton_chains_operator::seam::Fixed { name: "rekor", part: panicky };
    parts.logs = std::sync::Arc::new(tekton_chains_operator::seam::Registry::of(vec![std::sync::Arc::new(fixed)]));
    let signer = tekton_chains_operator::signer::Signer::with_parts(env.client.clone(), &opts, parts, metrics);
    drop(real);
    let s = signer.clone();
    let (client, o) = (env.client.clone(), opts.clone());
    let task = tokio::spawn(async move { s.run(client, &o).await });
    let marker = json!([{ "name": "note", "value": "PANIC-ME" }]);
    finished(&env, &ns, "bug-1", json!({}), marker.clone()).await;
    finished(&env, &ns, "bug-2", json!({}), marker).await;
    for name in ["bug-1", "bug-2"] {
        assert_eq!(signed(&env, &ns, "TaskRun", name).await, "failed", "{name}");
        let n = eventually("an Event naming the panic", || async {
            notes(&env, &ns, name).await.into_iter().find(|n| n.starts_with("SigningFailed") && n.contains("panic"))
        })
        .await;
        assert!(n.contains(&format!("TaskRun {ns}/{name}")) && n.contains("planted bug"), "{n}");
    }
    finished(&env, &ns, "after", json!({}), json!([])).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "after").await, "true");
    assert_eq!(signer.probes.live(), Ok(()));
    assert!(signer.metrics.render().contains("signer_job_panics_total 2"));
    task.abort();
}

/// A run annotated 20 times while it is being signed (oci storage and
/// Rekor): it is signed once; one Rekor entry per artifact, one layer per
/// tag, however many patches conflicted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_edited_while_it_is_signed_is_logged_and_pushed_once() {
    let env = Env::new().await;
    let rekor = rekor();
    let regs = registries();
    let keys = cosign_keys(&support::cosign().unwrap());
    let config = [
        ("artifacts.taskrun.format", "in-toto"),
        ("artifacts.taskrun.storage", "oci,tekton"),
        ("artifacts.oci.storage", "oci"),
        ("transparency.enabled", "true"),
        ("transparency.url", rekor.url.as_str()),
    ];
    let ns = namespace_with_config(&env, "edited", &config).await;
    let s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    let api = runs_api(&env, &ns, "TaskRun");
    let mut conflicts = 0;
    // Edits must land while the signer works; a few tries make that sure.
    for attempt in 0..3 {
        let repo = format!("team/{}", unique_ns("edited"));
        let digest = regs.push_image(&regs.open, &repo).await;
        let image = format!("{}/{repo}", regs.open);
        let name = format!("edited-{attempt}");
        build_taskrun(&env, &ns, &name, "default", &image, &digest).await;
        for i in 0..20 {
            let p = json!({ "metadata": { "annotations": { "example.com/edit": i.to_string() } } });
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&p)).await.unwrap();
        }
        assert_eq!(signed(&env, &ns, "TaskRun", &name).await, "true");
        let what = "one entry for each image signature, one for each attestation";
        rekor.expect_entries_by_key(&keys.join("cosign.pub"), 2 * (attempt + 1), what).await;
        assert_eq!(rekor.search(&digest).len(), 1, "one attestation entry for the image");
        for tag in ["sig", "att"] {
            let m = regs.manifest(&regs.open, &repo, &format!("{}.{tag}", digest.replace(':', "-"))).await.unwrap();
            assert_eq!(m["layers"].as_array().unwrap().len(), 1, ".{tag} holds one layer");
        }
        let m = s.signer.metrics.render();
        conflicts = m
            .lines()
            .find_map(|l| l.strip_prefix("signer_patch_conflicts_total "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if conflicts > 0 {
            break;
        }
    }
    assert!(conflicts > 0, "no edit landed while signing: the test proved nothing");
}

/// A signer that may read runs but not patch them (RBAC): the first
/// attempt logs the run in Rekor; the next attempts reuse that result (no
/// more requests to the log); after the cap it stops, with an Event saying
/// the failure could not be written, and never tries the run again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_signer_that_cannot_patch_stops_after_bounded_attempts_without_more_uploads() {
    let env = Env::new().await;
    let rekor = rekor();
    let keys = cosign_keys(&support::cosign().unwrap());
    let config = [
        ("artifacts.taskrun.format", "tekton"),
        ("artifacts.oci.storage", ""),
        ("transparency.enabled", "true"),
        ("transparency.url", rekor.url.as_str()),
    ];
    let ns = namespace_with_config(&env, "nopatch", &config).await;
    for obj in [
        json!({ "apiVersion": "v1", "kind": "ServiceAccount", "metadata": { "name": "cannot-patch", "namespace": ns } }),
        json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": { "name": "cannot-patch", "namespace": ns },
                "rules": [
                    { "apiGroups": ["tekton.dev"], "resources": ["taskruns", "pipelineruns"], "verbs": ["get", "list", "watch"] },
                    { "apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"] },
                    { "apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"] },
                ] }),
        json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": { "name": "cannot-patch", "namespace": ns },
                "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cannot-patch" },
                "subjects": [{ "kind": "ServiceAccount", "name": "cannot-patch", "namespace": ns }] }),
    ] {
        support::apply(&env.client, &obj).await;
    }
    let mut opts = signer_options(&ns, &keys, vec![ns.clone()]);
    opts.leader_election = false;
    let s = start_signer(env.token_client(&ns, "cannot-patch").await, opts).await;
    finished(&env, &ns, "unwritable", json!({}), json!([])).await;
    let note = eventually("the give-up Event", || async {
        notes(&env, &ns, "unwritable").await.into_iter().find(|n| n.contains("could not be written"))
    })
    .await;
    assert!(
        note.starts_with("SigningFailed") && note.contains("giving up after 3 attempts") && note.contains("403"),
        "{note}"
    );
    let requests = |m: &str| {
        m.lines()
            .find_map(|l| l.strip_prefix("signer_transparency_requests_total "))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let after_give_up = requests(&s.signer.metrics.render()).unwrap();
    assert!(after_give_up <= 2, "one upload (and the log's key), then none: {after_give_up}");
    // Nothing more happens to the run, even as it changes.
    let p = json!({ "metadata": { "labels": { "touched": "yes" } } });
    runs_api(&env, &ns, "TaskRun").patch("unwritable", &PatchParams::default(), &Patch::Merge(&p)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let m = s.signer.metrics.render();
    assert_eq!(requests(&m), Some(after_give_up));
    assert!(m.contains("watcher_taskrun_signing_failures_total 3"), "{m}");
    rekor.expect_entries_by_key(&keys.join("cosign.pub"), 1, "one entry").await;
    let run = runs_api(&env, &ns, "TaskRun").get("unwritable").await.unwrap();
    assert!(!run.metadata.annotations.unwrap_or_default().contains_key("chains.tekton.dev/signed"));
}

/// `signers.verify-before-skip: "true"`: a run created with a planted
/// `signed=true` (and a forged signature) is signed again, with an Event
/// and a metric; a run this signer signed is not checked twice. Without
/// the key, a planted mark is trusted, as upstream does.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_planted_signed_mark_is_caught_when_verify_before_skip_is_on() {
    let env = Env::new().await;
    let keys = cosign_keys(&support::cosign().unwrap());
    let verify = [
        ("artifacts.taskrun.format", "in-toto"),
        ("artifacts.oci.storage", ""),
        ("signers.verify-before-skip", "true"),
    ];
    let ns = namespace_with_config(&env, "forged", &verify).await;
    let s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &keys, vec![ns.clone()])).await;
    let planted = json!({ "chains.tekton.dev/signed": "true", "chains.tekton.dev/signature-taskrun-x": "Zm9yZ2Vk" });
    finished(&env, &ns, "planted", planted.clone(), json!([])).await;
    let n = eventually("SignatureNotVerified Event", || async {
        notes(&env, &ns, "planted").await.into_iter().find(|n| n.starts_with("SignatureNotVerified"))
    })
    .await;
    assert!(n.contains("no stored payload and signature"), "{n}");
    let api = runs_api(&env, &ns, "TaskRun");
    let uid = eventually("re-signed", || async {
        let run = api.get("planted").await.ok()?;
        let uid = run.metadata.uid.clone()?;
        run.metadata.annotations?.contains_key(&format!("chains.tekton.dev/signature-taskrun-{uid}")).then_some(uid)
    })
    .await;
    // The new signature verifies with the real cosign.
    let run = api.get("planted").await.unwrap();
    let a = run.metadata.annotations.unwrap();
    let sig = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        &a[&format!("chains.tekton.dev/signature-taskrun-{uid}")],
    )
    .unwrap();
    std::fs::write(keys.join("planted.sig"), sig).unwrap();
    let args = [
        "verify-blob-attestation",
        "--insecure-ignore-tlog",
        "--key",
        "cosign.pub",
        "--signature",
        "planted.sig",
        "--type",
        "slsaprovenance",
        "--check-claims=false",
        "/dev/null",
    ];
    let (ok, out) = support::runs::cosign(&keys, &args, &[]);
    assert!(ok, "{out}");
    // A copied, valid signature of another run is not this run's.
    finished(&env, &ns, "genuine", json!({}), json!([])).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "genuine").await, "true");
    let g = api.get("genuine").await.unwrap();
    let guid = g.metadata.uid.clone().unwrap();
    let ga = g.metadata.annotations.unwrap();
    let copy_name = "copier";
    // Another build (its own params), so its provenance differs from the genuine run's.
    let tr = json!({ "apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": { "name": copy_name, "namespace": ns },
                     "spec": { "taskRef": { "name": "t" }, "params": [{ "name": "revision", "value": "evil" }] } });
    api.create(&PostParams::default(), &serde_json::from_value(tr).unwrap()).await.unwrap();
    let cuid = api.get(copy_name).await.unwrap().metadata.uid.unwrap();
    let stolen = json!({ "metadata": { "annotations": {
        "chains.tekton.dev/signed": "true",
        format!("chains.tekton.dev/payload-taskrun-{cuid}"): ga[&format!("chains.tekton.dev/payload-taskrun-{guid}")],
        format!("chains.tekton.dev/signature-taskrun-{cuid}"): ga[&format!("chains.tekton.dev/signature-taskrun-{guid}")],
    } } });
    api.patch(copy_name, &PatchParams::default(), &Patch::Merge(&stolen)).await.unwrap();
    api.patch_status(copy_name, &PatchParams::default(), &Patch::Merge(&finished_status(json!([])))).await.unwrap();
    let n = eventually("the copied signature is caught", || async {
        notes(&env, &ns, copy_name).await.into_iter().find(|n| n.starts_with("SignatureNotVerified"))
    })
    .await;
    assert!(n.contains("not this run's"), "{n}");
    // The planted and the copied, not the genuine (the metric follows the Event).
    eventually("unverified_signed_total 2", || async {
        s.signer.metrics.render().contains("watcher_taskrun_unverified_signed_total 2").then_some(())
    })
    .await;
    assert!(notes(&env, &ns, "genuine").await.iter().all(|n| !n.starts_with("SignatureNotVerified")));

    // Off (the default): the mark is trusted.
    let ns2 = namespace_with_config(&env, "trusting", &[("artifacts.oci.storage", "")]).await;
    let _s2 = start_signer(env.signer_client(&ns2).await, signer_options(&ns2, &keys, vec![ns2.clone()])).await;
    finished(&env, &ns2, "planted", planted, json!([])).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let run = runs_api(&env, &ns2, "TaskRun").get("planted").await.unwrap();
    let uid2 = run.metadata.uid.unwrap();
    assert!(!run.metadata.annotations.unwrap().contains_key(&format!("chains.tekton.dev/signature-taskrun-{uid2}")));
}

/// A run carrying a hostile retry count (`4294967295`) and no usable key:
/// no overflow, it ends `signed=failed` with an Event.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hostile_retry_count_does_not_overflow() {
    let env = Env::new().await;
    let ns = namespace_with_config(&env, "retries", &[("artifacts.oci.storage", "")]).await;
    let empty = support::tmpdir("no-key");
    let s = start_signer(env.signer_client(&ns).await, signer_options(&ns, &empty, vec![ns.clone()])).await;
    finished(&env, &ns, "max", json!({ "chains.tekton.dev/retries": "4294967295" }), json!([])).await;
    assert_eq!(signed(&env, &ns, "TaskRun", "max").await, "failed");
    let run = runs_api(&env, &ns, "TaskRun").get("max").await.unwrap();
    assert_eq!(run.metadata.annotations.unwrap()["chains.tekton.dev/retries"], "4294967295");
    assert!(s.signer.metrics.render().contains("signer_job_panics_total 0"));
}

/// Idle clients cannot hold the probe endpoint: with ten connections open
/// and silent, `/healthz` still answers at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_clients_do_not_hold_the_probe_endpoint() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let server = tokio::spawn(tekton_chains_operator::telemetry::serve(
        addr.clone(),
        vec![],
        tekton_chains_operator::telemetry::Probes::ok(),
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut idle = Vec::new();
    for _ in 0..10 {
        idle.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    let started = std::time::Instant::now();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(
        out.starts_with("HTTP/1.1 200") && started.elapsed() < Duration::from_secs(2),
        "{out} after {:?}",
        started.elapsed()
    );
    drop(idle);
    server.abort();
}
