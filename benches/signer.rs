//! `make bench`: the signer (this binary, release build, as a real process)
//! against a real API server. Prints figures; asserts nothing about speed.
//! With BENCH_BASELINE_BIN (another build of the binary, e.g. from main),
//! every signer case runs for both, side by side in one run: cases 2-4 twice
//! per build in A B B A order (means reported), case 5 once per build with
//! both backlogs created before either signer starts.
//!
//! 1. ceiling: bare annotation patches on N finished TaskRuns, same client
//!    concurrency as the signer's workers;
//! 2. backlog: N finished TaskRuns (in-toto, ECDSA key, tekton storage), then
//!    the signer starts: signed runs/s, API writes per run;
//! 3. steady state: runs that exist already finish at a steady 20 runs/s
//!    while the signer runs: completion→signed p50/p99;
//! 4. memory: with 10k signed runs present, a restarted signer's peak RSS;
//! 5. big backlog: BENCH_BACKLOG (20,000) finished unsigned TaskRuns, then the
//!    signer starts: peak RSS (VmHWM) while it signs them all, time to the
//!    first signature, throughput.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::json;
use tekton_chains_operator::config::ChainsConfig;
use tekton_chains_operator::formats::{Run, RunKind};
use tekton_chains_operator::seam::Env;
use tekton_chains_operator::signer::pipeline::{Parts, Pipeline};
use tekton_chains_operator::tekton::annotations::SIGNED;

use support::{SignerProcess, ar, bench_cluster, namespace, workers};

fn n() -> usize {
    std::env::var("BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000)
}

fn backlog() -> usize {
    std::env::var("BENCH_BACKLOG").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000)
}

fn present_target() -> usize {
    std::env::var("BENCH_PRESENT").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

/// Creates `count` finished TaskRuns with image results and step images (2 writes each).
async fn create_finished(client: &Client, ns: &str, prefix: &str, count: usize) -> Vec<(String, Instant)> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar());
    stream::iter(0..count)
        .map(|i| {
            let api = api.clone();
            let name = format!("{prefix}-{i:05}");
            async move {
                let tr = json!({ "apiVersion": "tekton.dev/v1", "kind": "TaskRun",
                    "metadata": { "name": name, "namespace": ns, "labels": { "tekton.dev/task": "build" } },
                    "spec": { "taskRef": { "name": "build" }, "params": [{ "name": "IMAGE", "value": "registry.example/app" }] } });
                api.create(&PostParams::default(), &serde_json::from_value(tr).unwrap()).await.unwrap();
                api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&finished_status(i))).await.unwrap();
                (name, Instant::now())
            }
        })
        .buffer_unordered(16)
        .collect()
        .await
}

/// The status of a finished build run (image results, a step image), finished now.
fn finished_status(i: usize) -> serde_json::Value {
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    json!({ "status": {
        "conditions": [{ "type": "Succeeded", "status": "True", "reason": "Succeeded" }],
        "startTime": "2026-11-23T10:00:00Z", "completionTime": now,
        "taskSpec": { "steps": [{ "name": "build", "image": "registry.example/builder", "script": "make" }] },
        "steps": [{ "name": "build", "container": "step-build",
                    "imageID": format!("registry.example/builder@sha256:{}", "ab".repeat(32)) }],
        "results": [
            { "name": "IMAGE_URL", "type": "string", "value": "registry.example/app" },
            { "name": "IMAGE_DIGEST", "type": "string", "value": format!("sha256:{:064x}", i) },
        ] } })
}

async fn signed_count(client: &Client, ns: &str) -> usize {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar());
    let mut count = 0;
    let mut lp = kube::api::ListParams::default().limit(500);
    loop {
        let page = api.list_metadata(&lp).await.unwrap();
        count += page
            .items
            .iter()
            .filter(|o| o.metadata.annotations.as_ref().and_then(|a| a.get("chains.tekton.dev/signed")).is_some())
            .count();
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => return count,
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// One signer build under test.
struct Variant {
    label: &'static str,
    bin: PathBuf,
}

/// Figures of one variant.
#[derive(Default, Clone)]
struct Figures {
    backlog_rate: f64,
    with_startup: f64,
    cpu_ms_per_run: f64,
    writes_backlog: f64,
    writes_total: f64,
    p50: f64,
    p99: f64,
    rss_signing: f64,
    rss_present: f64,
    big_first_ms: f64,
    big_rate: f64,
    big_rss: f64,
}

impl Figures {
    /// Adds half of one round's figures (cases 2-4): two rounds make a mean;
    /// peak memory is the larger of the two.
    fn add_half(&mut self, r: &Figures) {
        for (a, b) in [
            (&mut self.backlog_rate, r.backlog_rate),
            (&mut self.with_startup, r.with_startup),
            (&mut self.cpu_ms_per_run, r.cpu_ms_per_run),
            (&mut self.writes_backlog, r.writes_backlog),
            (&mut self.writes_total, r.writes_total),
            (&mut self.p50, r.p50),
            (&mut self.p99, r.p99),
        ] {
            *a += b / 2.0;
        }
        self.rss_signing = self.rss_signing.max(r.rss_signing);
        self.rss_present = self.rss_present.max(r.rss_present);
    }
}

#[tokio::main]
async fn main() {
    let (kubeconfig, client) = bench_cluster().await;
    let n = n();
    let config = json!({ "artifacts.taskrun.format": "in-toto", "artifacts.taskrun.storage": "tekton", "artifacts.oci.storage": "" });
    let keys = support::p256_keys("bench-keys");
    let mut variants = Vec::new();
    if let Ok(bin) = std::env::var("BENCH_BASELINE_BIN") {
        variants.push(Variant { label: "baseline", bin: bin.into() });
    }
    variants.push(Variant { label: "this build", bin: env!("CARGO_BIN_EXE_tekton-chains-operator").into() });
    println!(
        "bench: N={n} runs, backlog {}, {} workers, in-toto + ECDSA P-256 + tekton storage; variants: {}",
        backlog(),
        workers(),
        variants.iter().map(|v| format!("{} ({})", v.label, v.bin.display())).collect::<Vec<_>>().join(", ")
    );

    // 1. Ceiling: bare annotation patches, same concurrency.
    namespace(&client, "bench-ceiling", config.clone()).await;
    create_finished(&client, "bench-ceiling", "c", n).await;
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "bench-ceiling", &ar());
    let t = Instant::now();
    stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            async move {
                let body = json!({ "metadata": { "annotations": { "bench/patched": "true" } } });
                api.patch(&format!("c-{i:05}"), &PatchParams::default(), &Patch::Merge(&body)).await.unwrap();
            }
        })
        .buffer_unordered(workers())
        .collect::<Vec<_>>()
        .await;
    let ceiling = n as f64 / t.elapsed().as_secs_f64();

    // 1b. Same-size ceiling: the exact annotations the signer would write
    // (made by the library, signing done beforehand), patched bare.
    namespace(&client, "bench-ceiling-sized", config.clone()).await;
    create_finished(&client, "bench-ceiling-sized", "z", n).await;
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "bench-ceiling-sized", &ar());
    let chains = ChainsConfig::parse(&serde_json::from_value(config.clone()).unwrap()).unwrap();
    let pipeline = Pipeline::build(
        Arc::new(chains),
        &Parts::prepare(&Env { signing_secrets_dir: keys.to_path_buf(), ..Env::default() }),
    );
    let mut bodies = Vec::with_capacity(n);
    for i in 0..n {
        let obj = serde_json::to_value(api.get(&format!("z-{i:05}")).await.unwrap()).unwrap();
        let run = Run::new(RunKind::TaskRun, &obj);
        let payloads = pipeline.plan(&run, &tekton_chains_operator::formats::detect(&run), &[]).unwrap();
        let mut a = pipeline.execute(&run, payloads).await.map_err(|f| f.error).unwrap().annotations;
        a.insert(SIGNED.into(), "true".into());
        bodies.push(json!({ "metadata": { "annotations": a } }));
    }
    let t = Instant::now();
    stream::iter(bodies.into_iter().enumerate())
        .map(|(i, body)| {
            let api = api.clone();
            async move {
                api.patch(&format!("z-{i:05}"), &PatchParams::default(), &Patch::Merge(&body)).await.unwrap();
            }
        })
        .buffer_unordered(workers())
        .collect::<Vec<_>>()
        .await;
    let ceiling_sized = n as f64 / t.elapsed().as_secs_f64();

    // Cases 2-4 run twice per variant, in A B B A order, so that neither
    // variant always meets the busier API server; figures are the means.
    let mut figures: Vec<Figures> = variants.iter().map(|_| Figures::default()).collect();
    let order: Vec<usize> = (0..variants.len()).chain((0..variants.len()).rev()).collect();
    for (round, &vi) in order.iter().enumerate() {
        eprintln!("bench: {} (round {}) ...", variants[vi].label, round / variants.len() + 1);
        let f = signer_cases(&client, &kubeconfig, &keys, &variants[vi], round, &config).await;
        figures[vi].add_half(&f);
    }
    // Case 5: every variant's backlog exists before the first signer starts,
    // so each signs against an API server holding the same objects.
    let big = backlog();
    for (vi, v) in variants.iter().enumerate() {
        let ns = format!("bench-backlog-{vi}");
        namespace(&client, &ns, config.clone()).await;
        eprintln!("bench: {}: creating {big} finished runs", v.label);
        create_finished(&client, &ns, "b", big).await;
    }
    for (vi, v) in variants.iter().enumerate() {
        eprintln!("bench: {}: signing the {big} backlog ...", v.label);
        big_backlog(&client, &kubeconfig, &keys, v, vi, &mut figures[vi]).await;
    }

    println!();
    println!("ceiling, bare 1-key annotation patches     {ceiling:>8.1} patches/s");
    println!("ceiling, the signer's own annotations bare {ceiling_sized:>8.1} patches/s");
    println!();
    let header: String = variants.iter().map(|v| format!("{:>14}", v.label)).collect();
    println!("{:<56}{header}", "");
    let row = |name: &str, f: &dyn Fn(&Figures) -> String| {
        let cells: String = figures.iter().map(|x| format!("{:>14}", f(x))).collect();
        println!("{name:<56}{cells}");
    };
    row("backlog throughput, runs/s", &|x| format!("{:.1}", x.backlog_rate));
    row("  % of the same-size ceiling", &|x| format!("{:.0}%", 100.0 * x.backlog_rate / ceiling_sized));
    row("  % of the 1-key ceiling (target >= 70%)", &|x| format!("{:.0}%", 100.0 * x.backlog_rate / ceiling));
    row("  including process start and list, runs/s", &|x| format!("{:.1}", x.with_startup));
    row("  signer CPU per run, ms", &|x| format!("{:.2}", x.cpu_ms_per_run));
    row("API write calls per run, backlog (target <= 2)", &|x| format!("{:.2}", x.writes_backlog));
    row("API write calls per run, overall", &|x| format!("{:.2}", x.writes_total));
    row("completion -> signed at 20 runs/s, p50 ms (<= 50)", &|x| format!("{:.0}", x.p50));
    row("completion -> signed at 20 runs/s, p99 ms (<= 250)", &|x| format!("{:.0}", x.p99));
    row("peak RSS while signing N, MiB", &|x| format!("{:.1}", x.rss_signing));
    row(&format!("peak RSS, {} signed runs present, MiB (< 64)", present_target()), &|x| {
        format!("{:.1}", x.rss_present)
    });
    row(&format!("{} backlog: peak RSS (VmHWM), MiB (<= 64)", backlog()), &|x| format!("{:.1}", x.big_rss));
    row(&format!("{} backlog: first signature after start, ms", backlog()), &|x| format!("{:.0}", x.big_first_ms));
    row(&format!("{} backlog: throughput, runs/s", backlog()), &|x| format!("{:.1}", x.big_rate));
    if figures.len() == 2 {
        let (b, c) = (&figures[0], &figures[1]);
        println!();
        println!(
            "this build / baseline: throughput {:.2}x, p50 {:.2}x, p99 {:.2}x, backlog RSS {:.2}x, backlog throughput {:.2}x",
            c.backlog_rate / b.backlog_rate,
            c.p50 / b.p50,
            c.p99 / b.p99,
            c.big_rss / b.big_rss,
            c.big_rate / b.big_rate
        );
    }
}

/// Cases 2-4 for one signer build, in a namespace of their own.
async fn signer_cases(
    client: &Client,
    kubeconfig: &str,
    keys: &Path,
    v: &Variant,
    round: usize,
    config: &serde_json::Value,
) -> Figures {
    let n = n();
    let mut f = Figures::default();
    let port = 19090 + 10 * round as u16;

    // 2. Backlog: N finished runs, then the signer starts.
    let ns = format!("bench-sign-{round}");
    namespace(client, &ns, config.clone()).await;
    create_finished(client, &ns, "s", n).await;
    let signer = SignerProcess::start(&v.bin, kubeconfig, &ns, keys, port);
    // Progress comes from the signer's own metrics, so watching adds no API load.
    let t = Instant::now();
    let (t1, s1) = wait_signed(&signer, n, t).await;
    let backlog_wall = t.elapsed().as_secs_f64();
    f.with_startup = n as f64 / backlog_wall;
    f.cpu_ms_per_run = 1000.0 * signer.cpu_seconds() / n as f64;
    f.backlog_rate = (n - s1) as f64 / t1.elapsed().as_secs_f64();
    assert_eq!(signed_count(client, &ns).await, n, "every run carries signed=true");
    f.writes_backlog = signer.metric("signer_api_writes_total") / n as f64;

    // 3. Steady state: runs that already exist (and carry the finalizer)
    // finish at a steady 20 runs/s while the signer runs.
    let steady = (n / 5).max(50);
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ar());
    stream::iter(0..steady)
        .map(|i| {
            let api = api.clone();
            async move {
                let tr = json!({ "apiVersion": "tekton.dev/v1", "kind": "TaskRun",
                    "metadata": { "name": format!("live-{i:05}"), "labels": { "tekton.dev/task": "build" } },
                    "spec": { "taskRef": { "name": "build" } } });
                api.create(&PostParams::default(), &serde_json::from_value(tr).unwrap()).await.unwrap();
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let done_at: Arc<std::sync::Mutex<HashMap<String, Instant>>> = Default::default();
    let watch_api = api.clone();
    let seen = done_at.clone();
    let watcher = tokio::spawn(async move {
        let mut s = kube::runtime::watcher(watch_api, Default::default()).boxed();
        while let Some(Ok(ev)) = s.next().await {
            if let kube::runtime::watcher::Event::Apply(o) = ev {
                let signed = o.metadata.annotations.as_ref().and_then(|a| a.get("chains.tekton.dev/signed")).is_some();
                if signed {
                    seen.lock().unwrap().entry(o.metadata.name.clone().unwrap()).or_insert_with(Instant::now);
                }
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let finished: Arc<std::sync::Mutex<Vec<(String, Instant)>>> = Default::default();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let mut finishing = tokio::task::JoinSet::new();
    for i in 0..steady {
        tick.tick().await;
        let (api, finished) = (api.clone(), finished.clone());
        finishing.spawn(async move {
            let name = format!("live-{i:05}");
            api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&finished_status(i))).await.unwrap();
            finished.lock().unwrap().push((name, Instant::now()));
        });
    }
    while finishing.join_next().await.is_some() {}
    let finished = finished.lock().unwrap().clone();
    let t = Instant::now();
    while finished.iter().any(|(name, _)| !done_at.lock().unwrap().contains_key(name)) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(t.elapsed() < Duration::from_secs(300), "steady-state runs not signed");
    }
    watcher.abort();
    let mut lat: Vec<f64> = {
        let seen = done_at.lock().unwrap();
        finished.iter().map(|(name, at)| seen[name].saturating_duration_since(*at).as_secs_f64() * 1000.0).collect()
    };
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    f.p50 = percentile(&lat, 0.5);
    f.p99 = percentile(&lat, 0.99);
    f.writes_total = signer.metric("signer_api_writes_total") / (n + steady) as f64;
    f.rss_signing = signer.peak_rss_mib();
    drop(signer);

    // 4. Memory with many signed runs present: pad to the target with signed runs.
    let present = n + steady;
    let pad = present_target().saturating_sub(present);
    let sample: DynamicObject = api_get(client, &ns, "s-00000").await;
    let annotations = sample.metadata.annotations.clone().unwrap_or_default();
    stream::iter(0..pad)
        .map(|i| {
            let (api, annotations) = (api.clone(), annotations.clone());
            async move {
                let tr = json!({ "apiVersion": "tekton.dev/v1", "kind": "TaskRun",
                    "metadata": { "name": format!("pad-{i:05}"), "annotations": annotations },
                    "spec": { "taskRef": { "name": "build" } } });
                api.create(&PostParams::default(), &serde_json::from_value(tr).unwrap()).await.unwrap();
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let signer = SignerProcess::start(&v.bin, kubeconfig, &ns, keys, port + 2);
    tokio::time::sleep(Duration::from_secs(15)).await;
    f.rss_present = signer.peak_rss_mib();
    drop(signer);

    // The next round starts from an API server as loaded as this one did.
    api.delete_collection(&Default::default(), &Default::default()).await.unwrap();
    f
}

/// Case 5: a big backlog, the first enable on a busy cluster; its runs were
/// created beforehand in `bench-backlog-{vi}`.
async fn big_backlog(client: &Client, kubeconfig: &str, keys: &Path, v: &Variant, vi: usize, f: &mut Figures) {
    let big = backlog();
    let ns = format!("bench-backlog-{vi}");
    let signer = SignerProcess::start(&v.bin, kubeconfig, &ns, keys, 19500 + 10 * vi as u16);
    let t = Instant::now();
    let (t1, s1) = wait_signed(&signer, big, t).await;
    f.big_first_ms = (t1 - t).as_secs_f64() * 1000.0;
    f.big_rate = (big - s1) as f64 / t1.elapsed().as_secs_f64();
    f.big_rss = signer.peak_rss_mib();
    drop(signer);
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ar());
    api.delete_collection(&Default::default(), &Default::default()).await.unwrap();
}

/// Waits until the signer has signed `n` runs; returns when and at what
/// count it was first seen signing.
async fn wait_signed(signer: &SignerProcess, n: usize, t: Instant) -> (Instant, usize) {
    let mut first = None;
    loop {
        let signed = signer.metric("watcher_taskrun_marked_signed_total") as usize;
        if signed > 0 && first.is_none() {
            first = Some((Instant::now(), signed));
        }
        if signed >= n {
            return first.expect("some runs signed");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(t.elapsed() < Duration::from_secs(1200), "backlog not signed within 20 minutes");
    }
}

async fn api_get(client: &Client, ns: &str, name: &str) -> DynamicObject {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar());
    api.get(name).await.unwrap()
}
