//! `make bench`, transparency case: the signer (release build, a real
//! process) signing N finished TaskRuns (in-toto, ECDSA P-256, `tekton`
//! storage) with transparency off, and on against a real Rekor v1 (`intoto`
//! and `dsse` entries), side by side in one run, each case twice in
//! A B C C B A order (means reported). Prints runs signed per second, log
//! entries per second and Rekor requests per run. Asserts nothing about
//! speed.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use futures::{StreamExt, stream};
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::json;
use support::{SignerProcess, Table, apply_yaml, ar, client, namespace, workers};

fn n() -> usize {
    std::env::var("BENCH_REKOR_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(200)
}

/// One case: its label and the transparency keys of its chains-config.
struct Case {
    label: &'static str,
    keys: Vec<(&'static str, String)>,
}

#[derive(Default, Clone, Copy)]
struct Figures {
    rate: f64,
    entries: f64,
    requests: f64,
    failures: f64,
    rss: f64,
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let kubeconfig = std::env::var("BENCH_KUBECONFIG").expect("BENCH_KUBECONFIG (make bench sets it)");
    let env_file = std::env::var("BENCH_REKOR_ENV").expect("BENCH_REKOR_ENV (make bench sets it)");
    let text = std::fs::read_to_string(&env_file).unwrap();
    let vars: HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    let url = vars["REKOR_URL"].to_string();
    let cases = [
        Case { label: "off", keys: vec![("transparency.enabled", "false".into())] },
        Case {
            label: "on, intoto",
            keys: vec![("transparency.enabled", "true".into()), ("transparency.url", url.clone())],
        },
        Case {
            label: "on, dsse",
            keys: vec![
                ("transparency.enabled", "true".into()),
                ("transparency.url", url.clone()),
                ("transparency.entry-kind", "dsse".into()),
            ],
        },
    ];
    let client = client(&kubeconfig).await;
    apply_yaml(&client, include_str!("../tests/fixtures/tekton-crds.yaml")).await;
    let n = n();
    println!("bench transparency: N={n} TaskRuns per pass; in-toto + ECDSA P-256; tekton storage; Rekor v1 at {url}");
    let keys = support::p256_keys("bench-rekor-keys");
    let order = [0, 1, 2, 2, 1, 0];
    let mut sums = [Figures::default(); 3];
    for (pass, &c) in order.iter().enumerate() {
        eprintln!("bench transparency: pass {} of {}: {} ...", pass + 1, order.len(), cases[c].label);
        let f = pass_once(&client, &kubeconfig, &keys, &cases[c], pass, n).await;
        let s = &mut sums[c];
        s.rate += f.rate / 2.0;
        s.entries += f.entries / 2.0;
        s.requests += f.requests / 2.0;
        s.failures += f.failures;
        s.rss = s.rss.max(f.rss);
    }
    println!();
    let table = Table { name_width: 40, cell_width: 14, cases: &sums };
    table.header("transparency", cases.iter().map(|c| c.label));
    table.row("runs signed per second", |x| format!("{:.1}", x.rate));
    table.row("log entries per second", |x| format!("{:.1}", x.entries));
    table.row("Rekor requests per run", |x| format!("{:.2}", x.requests));
    table.row("failed attempts", |x| format!("{:.0}", x.failures));
    table.row("peak RSS (VmHWM), MiB", |x| format!("{:.1}", x.rss));
    let off = sums[0].rate;
    table.row("rate vs off", |x| format!("{:.2}x", x.rate / off));
    println!(
        "({} signer workers; means of 2 passes per case, order A B C C B A; rates include process start)",
        workers()
    );
}

/// N finished runs in a namespace of their own, then a signer for them.
async fn pass_once(client: &Client, kubeconfig: &str, keys: &Path, case: &Case, pass: usize, n: usize) -> Figures {
    let ns = format!("bench-rekor-{}-{pass}", std::process::id());
    let mut config = json!({ "artifacts.taskrun.format": "in-toto", "artifacts.taskrun.storage": "tekton",
                             "artifacts.oci.storage": "" });
    for (k, v) in &case.keys {
        config[*k] = json!(v);
    }
    namespace(client, &ns, config).await;
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ar());
    // Each run has its own parameter value, so every payload (and entry) is new
    // (runs that differ only by name have the same provenance).
    let stamp = k8s_openapi::jiff::Timestamp::now().as_second();
    stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            async move {
                let name = format!("t-{i:05}");
                let tr = json!({ "apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": { "name": name },
                    "spec": { "taskRef": { "name": "test" }, "params": [{ "name": "run", "value": format!("{pass}-{stamp}-{i}") }] } });
                api.create(&PostParams::default(), &serde_json::from_value(tr).unwrap()).await.unwrap();
                let status = json!({ "status": {
                    "conditions": [{ "type": "Succeeded", "status": "True", "reason": "Succeeded" }],
                    "startTime": "2026-11-23T10:00:00Z", "completionTime": "2026-11-23T10:00:10Z",
                    "taskSpec": { "steps": [{ "name": "test", "image": "registry.example/tools:1" }] } } });
                api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let bin = env!("CARGO_BIN_EXE_tekton-chains-operator");
    let mut signer = SignerProcess::start(bin.as_ref(), kubeconfig, &ns, keys, 19800 + 10 * pass as u16);
    let secs = signer.wait_signed(n, Instant::now()).await;
    let f = Figures {
        rate: n as f64 / secs,
        entries: signer.metric("watcher_taskrun_payload_uploaded_total") / secs,
        requests: signer.metric("signer_transparency_requests_total") / n as f64,
        failures: signer.metric("watcher_taskrun_signing_failures_total"),
        rss: signer.peak_rss_mib(),
    };
    drop(signer);
    api.delete_collection(&Default::default(), &Default::default()).await.unwrap();
    f
}
