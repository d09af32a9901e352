//! `make bench`: the signer (this binary, release build, as a real process)
//! against a real API server. Prints figures; asserts nothing about speed.
//!
//! 1. ceiling: bare annotation patches on N finished TaskRuns, same client
//!    concurrency as the signer's workers;
//! 2. backlog: N finished TaskRuns (in-toto, ECDSA key, tekton storage), then
//!    the signer starts: signed runs/s, API writes per run;
//! 3. steady state: runs finish while the signer runs: completion→signed p50/p99;
//! 4. memory: with 10k signed runs present, a restarted signer's peak RSS.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, Config};
use serde_json::json;
use tekton_chains_operator::config::ChainsConfig;
use tekton_chains_operator::formats::{Run, RunKind};
use tekton_chains_operator::signer::pipeline::{Parts, Pipeline};
use tekton_chains_operator::signing::KeyDir;
use tekton_chains_operator::tekton::annotations::SIGNED;

fn workers() -> usize {
    std::env::var("BENCH_WORKERS").ok().and_then(|v| v.parse().ok()).unwrap_or(4)
}

fn n() -> usize {
    std::env::var("BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000)
}

fn present_target() -> usize {
    std::env::var("BENCH_PRESENT").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

fn ar() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("tekton.dev", "v1", "TaskRun"), "taskruns")
}

async fn client(path: &str) -> Client {
    let kc = Kubeconfig::read_from(path).unwrap();
    Client::try_from(Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.unwrap()).unwrap()
}

async fn apply_yaml(client: &Client, yaml: &str) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for doc in serde_yaml::Deserializer::from_str(yaml) {
        let crd: CustomResourceDefinition = serde::Deserialize::deserialize(doc).unwrap();
        let name = crd.metadata.name.clone().unwrap();
        api.patch(&name, &PatchParams::apply("bench").force(), &Patch::Apply(&crd)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
}

async fn namespace(client: &Client, ns: &str, config: serde_json::Value) {
    let nss: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let _ = nss
        .create(&PostParams::default(), &serde_json::from_value(json!({ "metadata": { "name": ns } })).unwrap())
        .await;
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), ns);
    let cm = json!({ "metadata": { "name": "chains-config", "namespace": ns }, "data": config });
    let _ = cms.create(&PostParams::default(), &serde_json::from_value(cm).unwrap()).await;
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
                let status = json!({ "status": {
                    "conditions": [{ "type": "Succeeded", "status": "True", "reason": "Succeeded" }],
                    "startTime": "2026-11-23T10:00:00Z", "completionTime": "2026-11-23T10:00:10Z",
                    "taskSpec": { "steps": [{ "name": "build", "image": "registry.example/builder", "script": "make" }] },
                    "steps": [{ "name": "build", "container": "step-build",
                                "imageID": format!("registry.example/builder@sha256:{}", "ab".repeat(32)) }],
                    "results": [
                        { "name": "IMAGE_URL", "type": "string", "value": "registry.example/app" },
                        { "name": "IMAGE_DIGEST", "type": "string", "value": format!("sha256:{:064x}", i) },
                    ] } });
                api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
                (name, Instant::now())
            }
        })
        .buffer_unordered(16)
        .collect()
        .await
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

struct SignerProcess {
    child: Child,
    metrics: String,
}

impl SignerProcess {
    fn start(kubeconfig: &str, ns: &str, keys: &PathBuf, port: u16) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_tekton-chains-operator"))
            .args(["signer", "--namespace", ns, "--system-namespace", ns, "--leader-election=false"])
            .arg(format!("--threads-per-controller={}", workers()))
            .arg("--signing-secrets-dir")
            .arg(keys)
            .arg(format!("--metrics-addr=127.0.0.1:{port}"))
            .arg(format!("--probes-addr=127.0.0.1:{}", port + 1))
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start signer");
        Self { child, metrics: format!("127.0.0.1:{port}") }
    }

    fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        kb / 1024.0
    }

    /// CPU seconds the process has used (user + system).
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        let ticks: f64 = fields.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
            + fields.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
        ticks / 100.0
    }

    fn metric(&self, name: &str) -> f64 {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(&self.metrics) else { return 0.0 };
        let _ = s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n");
        let mut body = String::new();
        let _ = s.read_to_string(&mut body);
        body.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).and_then(|v| v.parse().ok()).unwrap_or(0.0)
    }
}

impl Drop for SignerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let kubeconfig = std::env::var("BENCH_KUBECONFIG").expect("BENCH_KUBECONFIG (make bench sets it)");
    let client = client(&kubeconfig).await;
    apply_yaml(&client, include_str!("../tests/fixtures/tekton-crds.yaml")).await;
    let n = n();
    let config = json!({ "artifacts.taskrun.format": "in-toto", "artifacts.taskrun.storage": "tekton", "artifacts.oci.storage": "" });
    let keys = std::env::temp_dir().join(format!("bench-keys-{}", std::process::id()));
    std::fs::create_dir_all(&keys).unwrap();
    let st = Command::new("openssl")
        .args(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out"])
        .arg(keys.join("x509.pem"))
        .status()
        .unwrap();
    assert!(st.success());
    println!("bench: N={n} runs, {} workers, in-toto + ECDSA P-256 + tekton storage", workers());

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
    let pipeline = Pipeline::build(Arc::new(chains), &Parts { x509: Arc::new(KeyDir::open(&keys)), log: None });
    let mut bodies = Vec::with_capacity(n);
    for i in 0..n {
        let obj = serde_json::to_value(api.get(&format!("z-{i:05}")).await.unwrap()).unwrap();
        let run = Run::new(RunKind::TaskRun, &obj);
        let payloads = pipeline.plan(&run, &tekton_chains_operator::formats::detect(&run), &[]).unwrap();
        let mut a = pipeline.execute(&run, payloads).await.unwrap().annotations;
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

    // 2. Backlog: N finished runs, then the signer starts.
    namespace(&client, "bench-sign", config.clone()).await;
    create_finished(&client, "bench-sign", "s", n).await;
    let signer = SignerProcess::start(&kubeconfig, "bench-sign", &keys, 19090);
    // Progress comes from the signer's own metrics, so watching adds no API load.
    let t = Instant::now();
    let mut first = None;
    loop {
        let signed = signer.metric("watcher_taskrun_marked_signed_total") as usize;
        if signed > 0 && first.is_none() {
            first = Some((Instant::now(), signed));
        }
        if signed >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(t.elapsed() < Duration::from_secs(600), "backlog not signed within 10 minutes");
    }
    let backlog_wall = t.elapsed().as_secs_f64();
    let with_startup = n as f64 / backlog_wall;
    let backlog_cpu = signer.cpu_seconds();
    let (t1, s1) = first.expect("some runs signed");
    let backlog_rate = (n - s1) as f64 / t1.elapsed().as_secs_f64();
    assert_eq!(signed_count(&client, "bench-sign").await, n, "every run carries signed=true");
    let writes_backlog = signer.metric("signer_api_writes_total");

    // 3. Steady state: runs finish while the signer runs.
    let steady = (n / 5).max(50);
    let done_at: Arc<std::sync::Mutex<HashMap<String, Instant>>> = Default::default();
    let watch_api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "bench-sign", &ar());
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
    let finished = create_finished(&client, "bench-sign", "live", steady).await;
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
    let writes_total = signer.metric("signer_api_writes_total");
    let rss_signing = signer.peak_rss_mib();
    drop(signer);

    // 4. Memory with many signed runs present: pad to the target with signed runs.
    let present = n + steady;
    let pad = present_target().saturating_sub(present);
    let sample: DynamicObject = api_get(&client, "bench-sign", "s-00000").await;
    let annotations = sample.metadata.annotations.clone().unwrap_or_default();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "bench-sign", &ar());
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
    let signer = SignerProcess::start(&kubeconfig, "bench-sign", &keys, 19190);
    tokio::time::sleep(Duration::from_secs(15)).await;
    let rss_present = signer.peak_rss_mib();
    drop(signer);

    let total_runs = (n + steady) as f64;
    println!();
    println!("ceiling, bare 1-key annotation patches     {ceiling:>7.1} patches/s");
    println!("ceiling, the signer's own annotations bare {ceiling_sized:>7.1} patches/s");
    println!(
        "signer backlog throughput                  {backlog_rate:>7.1} runs/s = {:.0}% of the same-size ceiling, {:.0}% of the 1-key ceiling (target >= 70%)",
        100.0 * backlog_rate / ceiling_sized,
        100.0 * backlog_rate / ceiling
    );
    println!(
        "  including process start and list         {with_startup:>7.1} runs/s = {:.0}% / {:.0}%",
        100.0 * with_startup / ceiling_sized,
        100.0 * with_startup / ceiling
    );
    println!(
        "  signer CPU during the backlog      {:>9.2} s of {backlog_wall:.2} s wall ({:.2} ms per run)",
        backlog_cpu,
        1000.0 * backlog_cpu / n as f64
    );
    println!(
        "completion -> signed, steady state  p50 {:.0} ms, p99 {:.0} ms ({} runs)",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.len()
    );
    println!(
        "API write calls per run             {:>9.2}  (backlog: {:.2}; target <= 2)",
        writes_total / total_runs,
        writes_backlog / n as f64
    );
    println!("signer peak RSS while signing       {rss_signing:>9.1} MiB");
    println!("signer peak RSS, {:>5} signed present {rss_present:>6.1} MiB (target < 64)", present + pad);
}

async fn api_get(client: &Client, ns: &str, name: &str) -> DynamicObject {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar());
    api.get(name).await.unwrap()
}
