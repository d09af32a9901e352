//! `make chaos`: a fault-injection run that prints figures (not a timed
//! test; asserts nothing about the signer).
//!
//! The signer (release build, a real process, leader election on with a 3 s
//! Lease) signs a burst of CHAOS_RUNS finished TaskRuns, each reporting its
//! own image in the open local registry (in-toto, ECDSA P-256, `oci` storage
//! for the signature and the attestation, transparency on against a real
//! Rekor v1), while at random points of the burst (seeded: CHAOS_SEED
//! replays a schedule) the harness
//! - SIGKILLs the signer CHAOS_KILLS times, starting a new one at once;
//! - restarts the kube-apiserver once (`hack/cluster.sh restart-apiserver`);
//! - stops the registries for a few seconds (`hack/registry.sh stop|start`);
//! - stops rekor-server for a few seconds (`hack/rekor.sh stop-server|start-server`).
//!
//! A signer that exits on its own (it does when it loses the Lease) is
//! started again after a second, as a Deployment would. After the burst it
//! waits until every run is settled (`chains.tekton.dev/signed` = true or
//! failed), or until CHAOS_SETTLE_SECS pass with no progress, then reads
//! every image's `.sig` and `.att` tags from the registry and searches
//! Rekor for every payload, and prints the figures and the goal (PASS or
//! MISS per item). It exits 0 whatever the figures; it panics only when the
//! harness itself breaks (a component that does not come back, say).
//!
//! hack/chaos.sh starts the components and sets CHAOS_CLUSTER_DIR,
//! CHAOS_REGISTRY_DIR, CHAOS_REKOR_DIR and CHAOS_LOG_DIR.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures::{StreamExt, stream};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use support::{SignerProcess, Table, apply_yaml, ar, client, metric_sum, namespace, workers};

const SIGNED: &str = "chains.tekton.dev/signed";
const RETRIES: &str = "chains.tekton.dev/retries";
const NS: &str = "chaos";
const METRICS_PORT: u16 = 19950;
/// How long a harness API call is retried before the harness gives up.
const HARNESS_DEADLINE: Duration = Duration::from_secs(180);

fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => {
            v.trim().parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a valid value"))
        }
        _ => default,
    }
}

fn dir_var(name: &str) -> PathBuf {
    PathBuf::from(std::env::var(name).unwrap_or_else(|_| panic!("{name} (make chaos sets it)")))
}

/// `KEY=value` lines of an env file written by hack/registry.sh or hack/rekor.sh.
fn env_file(path: &Path) -> HashMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------- faults

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Kill,
    ApiServer,
    Registry,
    Rekor,
}

impl Fault {
    fn label(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::ApiServer => "apiserver",
            Fault::Registry => "registry",
            Fault::Rekor => "rekor",
        }
    }
}

/// One planned fault: when (after the burst starts) and, for an outage, how
/// long the component stays stopped (the API server is restarted at once).
#[derive(Debug, Clone, Copy)]
struct Planned {
    at: Duration,
    fault: Fault,
    down: Duration,
}

/// The fault schedule of one seed: the three outages in random order, one
/// in each third of 15-90 % of the burst (so they never overlap), 3-5 s
/// each (or `outage_secs`); the kills anywhere in 5-95 % of it, at least 1 s apart.
fn schedule(rng: &mut StdRng, burst: Duration, kills: usize, outage_secs: Option<f64>) -> Vec<Planned> {
    let b = burst.as_secs_f64();
    let mut outages = [Fault::ApiServer, Fault::Registry, Fault::Rekor];
    outages.shuffle(rng);
    let (lo, hi) = (0.15 * b, 0.90 * b);
    let slot = (hi - lo) / 3.0;
    let mut plan = Vec::new();
    for (k, fault) in outages.into_iter().enumerate() {
        let down = outage_secs.unwrap_or_else(|| rng.random_range(3.0..=5.0));
        // The API server's own restart takes a few seconds more than `down`.
        let room = (slot - down - 4.0).max(0.0);
        let at = lo + k as f64 * slot + rng.random_range(0.0..=room);
        plan.push(Planned { at: Duration::from_secs_f64(at), fault, down: Duration::from_secs_f64(down) });
    }
    let mut times: Vec<f64> = Vec::new();
    let mut tries = 0;
    while times.len() < kills {
        let t = rng.random_range(0.05 * b..0.95 * b);
        tries += 1;
        if tries > 10_000 || times.iter().all(|x| (x - t).abs() >= 1.0) {
            times.push(t);
        }
    }
    plan.extend(times.into_iter().map(|t| Planned {
        at: Duration::from_secs_f64(t),
        fault: Fault::Kill,
        down: Duration::ZERO,
    }));
    plan.sort_by_key(|p| p.at);
    plan
}

/// `bash hack/<script> <args>`, its output appended to `log`; panics when it fails.
fn script(log: &Path, script: &str, args: &[&str]) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/hack");
    let out = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("faults log");
    let status = Command::new("bash")
        .arg(format!("{path}/{script}"))
        .args(args)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("running hack/{script}: {e}"));
    assert!(status.success(), "hack/{script} {} failed ({status}); see {}", args.join(" "), log.display());
}

/// The component directories, for the fault scripts.
#[derive(Clone)]
struct Dirs {
    cluster: String,
    registry: String,
    rekor: String,
    log: PathBuf,
}

/// One outage as it happened.
#[derive(Debug, Clone)]
struct Outage {
    fault: Fault,
    /// Seconds after the burst started.
    at: f64,
    /// From the stop command until the component answered again.
    secs: f64,
}

/// Stops one component, waits `down`, starts it again (blocking).
fn outage(dirs: &Dirs, fault: Fault, down: Duration) -> f64 {
    let log = dirs.log.join("faults.log");
    let t0 = Instant::now();
    match fault {
        Fault::ApiServer => script(&log, "cluster.sh", &["restart-apiserver", &dirs.cluster]),
        Fault::Registry => {
            script(&log, "registry.sh", &["stop", &dirs.registry]);
            std::thread::sleep(down.saturating_sub(t0.elapsed()));
            script(&log, "registry.sh", &["start", &dirs.registry]);
        }
        Fault::Rekor => {
            script(&log, "rekor.sh", &["stop-server", &dirs.rekor]);
            std::thread::sleep(down.saturating_sub(t0.elapsed()));
            script(&log, "rekor.sh", &["start-server", &dirs.rekor]);
        }
        Fault::Kill => unreachable!("a kill is no outage"),
    }
    t0.elapsed().as_secs_f64()
}

// ------------------------------------------------------------ supervisor

/// Keeps one signer process running: restarts a killed one at once and one
/// that exited on its own after a second (as a Deployment would, minus the
/// back-off). Scrapes each process's metrics before killing it.
struct Supervisor {
    bin: PathBuf,
    kubeconfig: String,
    args: Vec<String>,
    log_dir: PathBuf,
    proc: Option<SignerProcess>,
    exited_at: Option<Instant>,
    started: usize,
    kills: usize,
    /// Exit statuses of processes that exited on their own.
    exits: Vec<String>,
    /// `/metrics` of each killed process just before the kill (and of the last one).
    scraped: Vec<String>,
}

impl Supervisor {
    fn start(&mut self) {
        let log = self.log_dir.join(format!("signer-{:02}.log", self.started));
        self.proc = Some(SignerProcess::spawn(&self.bin, &self.kubeconfig, &self.args, METRICS_PORT, Some(&log)));
        self.started += 1;
        self.exited_at = None;
    }

    fn kill(&mut self) -> Option<u32> {
        let pid = self.proc.as_ref().map(SignerProcess::pid);
        if let Some(mut p) = self.proc.take() {
            if p.exited().is_none() {
                self.scraped.push(p.metrics_text());
            }
            p.kill();
        }
        self.kills += 1;
        self.start();
        pid
    }

    fn tick(&mut self) {
        if let Some(status) = self.proc.as_mut().and_then(SignerProcess::exited) {
            eprintln!("chaos: signer {} exited on its own ({status}); starting another in 1 s", self.started - 1);
            self.exits.push(status.to_string());
            self.proc = None;
            self.exited_at = Some(Instant::now());
        }
        if self.proc.is_none() && self.exited_at.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            self.start();
        }
    }

    fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            self.scraped.push(p.metrics_text());
            p.kill();
        }
    }
}

// ------------------------------------------------------------ the burst

/// Retries an API call (the API server may be restarting) until
/// [`HARNESS_DEADLINE`]; counts the retries.
async fn retry<T, F, Fut>(what: &str, retries: &AtomicUsize, mut call: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let t0 = Instant::now();
    loop {
        match call().await {
            Ok(v) => return v,
            Err(e) if t0.elapsed() < HARNESS_DEADLINE => {
                if retries.fetch_add(1, Ordering::Relaxed).is_multiple_of(50) {
                    eprintln!("chaos: {what}: {e} (retrying)");
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("chaos: {what}: {e} (for {} s; the harness gives up)", HARNESS_DEADLINE.as_secs()),
        }
    }
}

/// Creates TaskRun `c-<i>` reporting `image@digest` and finishes it, as the
/// Pipelines controller would.
async fn create_run(api: &Api<DynamicObject>, i: usize, image: &str, digest: &str, retries: &AtomicUsize) {
    let name = format!("c-{i:05}");
    let tr = json!({ "apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": { "name": name },
        "spec": { "taskRef": { "name": "buildah" }, "serviceAccountName": "builder" } });
    let tr: DynamicObject = serde_json::from_value(tr).unwrap();
    retry(&format!("creating {name}"), retries, || async {
        match api.create(&PostParams::default(), &tr).await {
            // An earlier attempt did create it (its answer was lost).
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
            r => r.map(|_| ()),
        }
    })
    .await;
    use k8s_openapi::jiff::Timestamp;
    let now = Timestamp::now().as_second();
    let (started, now) = (Timestamp::from_second(now - 10).unwrap(), Timestamp::from_second(now).unwrap());
    let status = json!({ "status": {
        "conditions": [{ "type": "Succeeded", "status": "True", "reason": "Succeeded" }],
        "startTime": started.to_string(), "completionTime": now.to_string(),
        "taskSpec": { "steps": [{ "name": "build", "image": "registry.example/tools/builder:1" }] },
        "results": [
            { "name": "IMAGE_URL", "type": "string", "value": image },
            { "name": "IMAGE_DIGEST", "type": "string", "value": digest } ] } });
    let (pp, patch) = (PatchParams::default(), Patch::Merge(&status));
    retry(&format!("finishing {name}"), retries, || api.patch_status(&name, &pp, &patch)).await;
}

/// signed / failed / neither, and runs with a retry recorded.
#[derive(Debug, Default, Clone, Copy)]
struct Settled {
    signed: usize,
    failed: usize,
    pending: usize,
    retried: usize,
}

async fn settled(api: &Api<DynamicObject>, retries: &AtomicUsize) -> Settled {
    let lp = ListParams::default();
    let list = retry("listing TaskRuns", retries, || api.list(&lp)).await;
    let mut s = Settled::default();
    for o in &list.items {
        let a = o.metadata.annotations.clone().unwrap_or_default();
        match a.get(SIGNED).map(String::as_str) {
            Some("true") => s.signed += 1,
            Some("failed") => s.failed += 1,
            _ => s.pending += 1,
        }
        if a.get(RETRIES).is_some_and(|r| r != "0") {
            s.retried += 1;
        }
    }
    s
}

// ------------------------------------------------------------ read-back

/// Layers of one cosign tag and the payloads they hold.
#[derive(Debug, Default)]
struct TagFigures {
    /// `None`: no such tag.
    layers: Option<usize>,
    /// sha256 hex of each layer's signed payload.
    payloads: Vec<String>,
}

async fn get_ok(http: &reqwest::Client, url: &str, accept: &str) -> Option<Vec<u8>> {
    for attempt in 0.. {
        match http.get(url).header("Accept", accept).send().await {
            Ok(r) if r.status().as_u16() == 404 => return None,
            Ok(r) if r.status().is_success() => return Some(r.bytes().await.unwrap().to_vec()),
            Ok(r) if attempt >= 5 => panic!("GET {url}: HTTP {}", r.status()),
            Err(e) if attempt >= 5 => panic!("GET {url}: {e}"),
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    unreachable!()
}

/// Reads `<repo>:<tag>` from the open registry: its layers and, for each,
/// the sha256 of the payload it signs (a simplesigning layer is the payload;
/// an attestation layer is a DSSE envelope around it).
async fn read_tag(http: &reqwest::Client, host: &str, repo: &str, tag: &str) -> TagFigures {
    let accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
    let Some(body) = get_ok(http, &format!("http://{host}/v2/{repo}/manifests/{tag}"), accept).await else {
        return TagFigures::default();
    };
    let manifest: Value = serde_json::from_slice(&body).expect("manifest JSON");
    let layers = manifest["layers"].as_array().cloned().unwrap_or_default();
    let mut payloads = Vec::new();
    for l in &layers {
        let digest = l["digest"].as_str().unwrap_or_default();
        if l["mediaType"] == "application/vnd.dsse.envelope.v1+json" {
            let blob = get_ok(http, &format!("http://{host}/v2/{repo}/blobs/{digest}"), "*/*")
                .await
                .unwrap_or_else(|| panic!("{repo}:{tag}: layer {digest} missing"));
            let env: Value = serde_json::from_slice(&blob).expect("DSSE envelope JSON");
            let payload = STANDARD.decode(env["payload"].as_str().unwrap_or_default()).expect("base64 payload");
            payloads.push(sha256_hex(&payload));
        } else {
            payloads.push(digest.trim_start_matches("sha256:").to_string());
        }
    }
    TagFigures { layers: Some(layers.len()), payloads }
}

/// Rekor's tree size (`GET /api/v1/log`).
async fn tree_size(http: &reqwest::Client, url: &str) -> u64 {
    let body = get_ok(http, &format!("{url}/api/v1/log"), "application/json").await.expect("GET /api/v1/log");
    let v: Value = serde_json::from_slice(&body).expect("log info JSON");
    v["treeSize"].as_u64().unwrap_or(0)
}

/// Entry UUIDs Rekor's index holds for `sha256:<hex>` (`POST /api/v1/index/retrieve`).
async fn search(http: &reqwest::Client, url: &str, hex: &str) -> BTreeSet<String> {
    let body = serde_json::to_vec(&json!({ "hash": format!("sha256:{hex}") })).unwrap();
    for attempt in 0.. {
        let res = http
            .post(format!("{url}/api/v1/index/retrieve"))
            .header("Content-Type", "application/json")
            .body(body.clone())
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() => {
                let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).expect("index JSON");
                return v.as_array().into_iter().flatten().filter_map(Value::as_str).map(String::from).collect();
            }
            Ok(r) if attempt >= 5 => panic!("Rekor index search: HTTP {}", r.status()),
            Err(e) if attempt >= 5 => panic!("Rekor index search: {e}"),
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    unreachable!()
}

/// One entry of the log, read by its index: the sha256 of the payload it
/// logs (a `hashedrekord`'s data hash, an `intoto`'s payload hash) and when
/// it was integrated (unix seconds).
async fn entry_at(http: &reqwest::Client, url: &str, index: u64) -> (String, i64) {
    let body = get_ok(http, &format!("{url}/api/v1/log/entries?logIndex={index}"), "application/json")
        .await
        .unwrap_or_else(|| panic!("Rekor entry {index} not found"));
    let v: Value = serde_json::from_slice(&body).expect("entry JSON");
    let (_, e) = v.as_object().and_then(|o| o.iter().next()).expect("one entry");
    let body: Value = serde_json::from_slice(&STANDARD.decode(e["body"].as_str().unwrap_or_default()).unwrap())
        .expect("entry body JSON");
    let spec = &body["spec"];
    let hash = spec["data"]["hash"]["value"]
        .as_str()
        .or(spec["content"]["payloadHash"]["value"].as_str())
        .unwrap_or("?")
        .to_string();
    (hash, e["integratedTime"].as_i64().unwrap_or(0))
}

/// min / max / mean of some counts.
fn spread(xs: &[usize]) -> String {
    if xs.is_empty() {
        return "-".into();
    }
    let (min, max) = (xs.iter().min().unwrap(), xs.iter().max().unwrap());
    format!("{min} / {max} / {:.2}", xs.iter().sum::<usize>() as f64 / xs.len() as f64)
}

// ------------------------------------------------------------ signer logs

/// What the signers' JSON logs say, all processes together.
#[derive(Debug, Default)]
struct Logs {
    leader: usize,
    lost_lease: usize,
    election_failed: usize,
    retry_by_reason: BTreeMap<String, usize>,
    failed_by_reason: BTreeMap<String, usize>,
    /// Causes of runs marked `signed=failed`, distinct, first seen first.
    failed_causes: Vec<String>,
    /// Lines that are not JSON (a process's last words, say).
    other: Vec<String>,
}

fn read_logs(dir: &Path) -> Logs {
    let mut logs = Logs::default();
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
    files.retain(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("signer-")));
    files.sort();
    for f in files {
        for line in std::fs::read_to_string(&f).unwrap_or_default().lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                if !line.trim().is_empty() && logs.other.len() < 10 {
                    logs.other.push(line.chars().take(200).collect());
                }
                continue;
            };
            let reason = v["reason"].as_str().unwrap_or("?").to_string();
            match v["message"].as_str().unwrap_or_default() {
                "became leader" => logs.leader += 1,
                "lost the leader Lease; stopping" => logs.lost_lease += 1,
                "leader election failed" => logs.election_failed += 1,
                "signing failed; will retry" => *logs.retry_by_reason.entry(reason).or_default() += 1,
                "signing failed; marked signed=failed" => {
                    *logs.failed_by_reason.entry(reason).or_default() += 1;
                    let cause: String = v["cause"].as_str().unwrap_or_default().chars().take(300).collect();
                    if !logs.failed_causes.contains(&cause) {
                        logs.failed_causes.push(cause);
                    }
                }
                _ => {}
            }
        }
    }
    logs
}

fn by_reason(m: &BTreeMap<String, usize>) -> String {
    if m.is_empty() {
        return "0".into();
    }
    m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
}

// ------------------------------------------------------------------ main

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let n: usize = var("CHAOS_RUNS", 300);
    let kills: usize = var("CHAOS_KILLS", 10);
    let settle = Duration::from_secs(var("CHAOS_SETTLE_SECS", 300));
    let burst = Duration::from_secs_f64(var("CHAOS_BURST_SECS", 45.0));
    let seed: u64 = var("CHAOS_SEED", rand::random::<u32>() as u64);
    let dirs = Dirs {
        cluster: dir_var("CHAOS_CLUSTER_DIR").display().to_string(),
        registry: dir_var("CHAOS_REGISTRY_DIR").display().to_string(),
        rekor: dir_var("CHAOS_REKOR_DIR").display().to_string(),
        log: dir_var("CHAOS_LOG_DIR"),
    };
    std::fs::create_dir_all(&dirs.log).unwrap();
    let kubeconfig = format!("{}/kubeconfig", dirs.cluster);
    let registry = env_file(&Path::new(&dirs.registry).join("env"))["REGISTRY_OPEN"].clone();
    let rekor_url = env_file(&Path::new(&dirs.rekor).join("env"))["REKOR_URL"].clone();
    let wall = Instant::now();

    let mut rng = StdRng::seed_from_u64(seed);
    let outage_secs = std::env::var("CHAOS_OUTAGE_SECS").ok().and_then(|v| v.parse().ok());
    let plan = schedule(&mut rng, burst, kills, outage_secs);
    println!(
        "chaos: N={n} TaskRuns over {:.0} s, one image each; in-toto + ECDSA P-256; oci storage (.sig and .att); \
         transparency on (Rekor v1 at {rekor_url}); signer with leader election, --lease-duration=3s, {} workers",
        burst.as_secs_f64(),
        workers()
    );
    println!("chaos: seed {seed} (CHAOS_SEED={seed} replays this schedule)");
    let line: Vec<String> = plan
        .iter()
        .map(|p| match p.fault {
            Fault::Kill => format!("kill@{:.1}", p.at.as_secs_f64()),
            Fault::ApiServer => format!("apiserver@{:.1}", p.at.as_secs_f64()),
            f => format!("{}@{:.1}+{:.1}s", f.label(), p.at.as_secs_f64(), p.down.as_secs_f64()),
        })
        .collect();
    println!("chaos: schedule (s after the burst starts): {}", line.join(" "));

    // The cluster side: CRDs, namespace + chains-config, ServiceAccount.
    let client = client(&kubeconfig).await;
    apply_yaml(&client, include_str!("../tests/fixtures/tekton-crds.yaml")).await;
    let config = json!({
        "artifacts.taskrun.format": "in-toto", "artifacts.taskrun.storage": "oci", "artifacts.oci.storage": "oci",
        "transparency.enabled": "true", "transparency.url": rekor_url,
    });
    namespace(&client, NS, config).await;
    let sa = json!({ "metadata": { "name": "builder", "namespace": NS } });
    let _ = Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &serde_json::from_value(sa).unwrap())
        .await;

    // The images, one per run.
    eprintln!("chaos: pushing {n} images to {registry} ...");
    let oci = ClientConfig { protocol: ClientProtocol::Http, use_monolithic_push: true, ..Default::default() };
    let digests = support::push_images(oci, &RegistryAuth::Anonymous, &registry, "chaos/app", n).await;

    // The signer.
    let keys = support::p256_keys("chaos-keys");
    let args: Vec<String> = vec![
        "--log-format=json".into(),
        "signer".into(),
        format!("--namespace={NS}"),
        format!("--system-namespace={NS}"),
        "--leader-election=true".into(),
        "--lease-duration=3s".into(),
        format!("--threads-per-controller={}", workers()),
        format!("--signing-secrets-dir={}", keys.display()),
    ];
    let supervisor = Arc::new(Mutex::new(Supervisor {
        bin: std::env::var_os("CHAOS_SIGNER_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_tekton-chains-operator"))),
        kubeconfig: kubeconfig.clone(),
        args,
        log_dir: dirs.log.clone(),
        proc: None,
        exited_at: None,
        started: 0,
        kills: 0,
        exits: Vec::new(),
        scraped: Vec::new(),
    }));
    supervisor.lock().unwrap().start();
    let watchdog = {
        let s = supervisor.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                s.lock().unwrap().tick();
            }
        })
    };
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let tree_before = tree_size(&http, &rekor_url).await;

    // The burst, and the faults.
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), NS, &ar());
    let api_retries = Arc::new(AtomicUsize::new(0));
    eprintln!("chaos: burst of {n} runs over {:.0} s, seed {seed}", burst.as_secs_f64());
    let start = tokio::time::Instant::now();
    let burst_unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let faults = {
        let (supervisor, dirs) = (supervisor.clone(), dirs.clone());
        tokio::spawn(async move {
            let mut outages = Vec::new();
            for p in plan {
                tokio::time::sleep_until(start + p.at).await;
                let at = start.elapsed().as_secs_f64();
                if p.fault == Fault::Kill {
                    let pid = supervisor.lock().unwrap().kill();
                    eprintln!("chaos: {at:6.1} s  SIGKILL signer (pid {pid:?}); started another");
                    continue;
                }
                eprintln!("chaos: {at:6.1} s  {} outage begins", p.fault.label());
                let dirs = dirs.clone();
                outages.push(tokio::task::spawn_blocking(move || {
                    let secs = outage(&dirs, p.fault, p.down);
                    eprintln!("chaos: {:6.1} s  {} back after {secs:.1} s", at + secs, p.fault.label());
                    Outage { fault: p.fault, at, secs }
                }));
            }
            let mut done = Vec::new();
            for o in outages {
                done.push(o.await.expect("an outage failed (see the faults log)"));
            }
            done
        })
    };
    let mut creators = tokio::task::JoinSet::new();
    for (i, digest) in digests.iter().enumerate() {
        tokio::time::sleep_until(start + burst.mul_f64(i as f64 / n as f64)).await;
        let (api, retries, digest) = (api.clone(), api_retries.clone(), digest.clone());
        let image = format!("{registry}/chaos/app-{i:05}");
        creators.spawn(async move { create_run(&api, i, &image, &digest, &retries).await });
    }
    while let Some(r) = creators.join_next().await {
        r.expect("creating a run");
    }
    let burst_secs = start.elapsed().as_secs_f64();
    let outages = faults.await.expect("the fault schedule failed");
    eprintln!("chaos: burst done in {burst_secs:.1} s; waiting for the runs to settle");

    // Settle.
    let mut last = settled(&api, &api_retries).await;
    let mut progress_at = Instant::now();
    let mut report_at = Instant::now();
    while last.pending > 0 && progress_at.elapsed() < settle {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = settled(&api, &api_retries).await;
        if now.signed + now.failed != last.signed + last.failed {
            progress_at = Instant::now();
        }
        last = now;
        if report_at.elapsed() >= Duration::from_secs(10) {
            report_at = Instant::now();
            eprintln!("chaos: signed {} failed {} pending {}", last.signed, last.failed, last.pending);
        }
    }
    let settled_secs = start.elapsed().as_secs_f64();
    let runs = last;
    watchdog.abort();
    let (kills_done, started, exits, scraped) = {
        let mut s = supervisor.lock().unwrap();
        s.stop();
        (s.kills, s.started, s.exits.clone(), s.scraped.clone())
    };

    // Read back: registry tags, then Rekor.
    eprintln!("chaos: reading {} tags and searching Rekor ...", 2 * n);
    let tags: Vec<(TagFigures, TagFigures)> = stream::iter(digests.iter().enumerate())
        .map(|(i, digest)| {
            let (http, registry) = (http.clone(), registry.clone());
            async move {
                let repo = format!("chaos/app-{i:05}");
                let base = digest.replacen(':', "-", 1);
                let sig = read_tag(&http, &registry, &repo, &format!("{base}.sig")).await;
                let att = read_tag(&http, &registry, &repo, &format!("{base}.att")).await;
                (sig, att)
            }
        })
        .buffered(8)
        .collect()
        .await;
    let tree_after = tree_size(&http, &rekor_url).await;
    // Each distinct payload, and the first tag holding it (`c-<i> .sig|.att`).
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    for (i, (sig, att)) in tags.iter().enumerate() {
        for p in &sig.payloads {
            owner.entry(p.clone()).or_insert_with(|| format!("c-{i:05} .sig"));
        }
        for p in &att.payloads {
            owner.entry(p.clone()).or_insert_with(|| format!("c-{i:05} .att"));
        }
    }
    let payloads: Vec<String> = owner.keys().cloned().collect();
    // The log itself: every entry added, read by its index.
    let scanned: Vec<(String, i64)> = stream::iter(tree_before..tree_after)
        .map(|i| {
            let (http, url) = (http.clone(), rekor_url.clone());
            async move { entry_at(&http, &url, i).await }
        })
        .buffered(8)
        .collect()
        .await;
    let mut in_log: BTreeMap<&str, usize> = BTreeMap::new();
    for (h, _) in &scanned {
        *in_log.entry(h.as_str()).or_default() += 1;
    }
    let logged: Vec<usize> = payloads.iter().map(|p| in_log.get(p.as_str()).copied().unwrap_or(0)).collect();
    let foreign = scanned.iter().filter(|(h, _)| !owner.contains_key(h)).count();
    let integrated: BTreeMap<&str, i64> = scanned.iter().map(|(h, t)| (h.as_str(), *t)).collect();
    // The search index (what `rekor-cli search` and cosign look entries up by).
    let per_payload: Vec<BTreeSet<String>> = stream::iter(payloads.iter())
        .map(|p| {
            let (http, url) = (http.clone(), rekor_url.clone());
            async move { search(&http, &url, p).await }
        })
        .buffered(8)
        .collect()
        .await;
    let per_image: Vec<usize> = stream::iter(digests.iter())
        .map(|d| {
            let (http, url) = (http.clone(), rekor_url.clone());
            async move { search(&http, &url, d.trim_start_matches("sha256:")).await.len() }
        })
        .buffered(8)
        .collect()
        .await;
    let logs = read_logs(&dirs.log);

    // Figures.
    let layer_counts = |pick: fn(&(TagFigures, TagFigures)) -> &TagFigures| -> (Vec<usize>, usize, usize) {
        let present: Vec<usize> = tags.iter().filter_map(|t| pick(t).layers).collect();
        let missing = tags.len() - present.len();
        let more = present.iter().filter(|&&l| l > 1).count();
        (present, more, missing)
    };
    let (sig_layers, sig_more, sig_missing) = layer_counts(|t| &t.0);
    let (att_layers, att_more, att_missing) = layer_counts(|t| &t.1);
    let indexed: Vec<usize> = per_payload.iter().map(BTreeSet::len).collect();
    let added = tree_after.saturating_sub(tree_before);
    let more_entries = logged.iter().filter(|&&e| e > 1).count();
    let no_entry = logged.iter().filter(|&&e| e == 0).count();
    let unindexed: Vec<String> = payloads
        .iter()
        .zip(&indexed)
        .filter(|(p, n)| **n == 0 && in_log.contains_key(p.as_str()))
        .map(|(p, _)| {
            let at = integrated.get(p.as_str()).map_or(f64::NAN, |t| *t as f64 - burst_unix);
            format!("{} (integrated at {at:.0} s)", owner[p])
        })
        .collect();
    let outage_of = |f: Fault| -> String {
        let o: Vec<&Outage> = outages.iter().filter(|o| o.fault == f).collect();
        let secs: Vec<String> = o.iter().map(|o| format!("{:.1}", o.secs)).collect();
        let at: Vec<String> = o.iter().map(|o| format!("{:.1}", o.at)).collect();
        format!("{} ({} s, at {} s)", o.len(), secs.join(","), at.join(","))
    };
    let scraped_sum = |name: &str| -> f64 { scraped.iter().map(|t| metric_sum(t, name)).sum() };

    println!();
    let one = [()];
    let table = Table { name_width: 58, cell_width: 28, cases: &one };
    table.header("chaos", ["figures"].into_iter());
    table.row("runs signed (signed=true)", |_| format!("{}", runs.signed));
    table.row("runs failed (signed=failed)", |_| format!("{}", runs.failed));
    table.row("runs lost (neither after the timeout)", |_| format!("{}", runs.pending));
    table.row("runs with a retry recorded (chains.tekton.dev/retries)", |_| format!("{}", runs.retried));
    table.row("signer kills done (SIGKILL, new process at once)", |_| format!("{kills_done}"));
    table.row("signer exits on their own (restarted after 1 s)", |_| format!("{}", exits.len()));
    table.row("signer processes started", |_| format!("{started}"));
    table.row("API server restarts (outage, when)", |_| outage_of(Fault::ApiServer));
    table.row("registry outages (outage, when)", |_| outage_of(Fault::Registry));
    table.row("Rekor outages (outage, when)", |_| outage_of(Fault::Rekor));
    table.row("burst, s", |_| format!("{burst_secs:.1}"));
    table.row("burst start to settled (or timeout), s", |_| format!("{settled_secs:.1}"));
    table.row("wall time, whole run, s", |_| format!("{:.1}", wall.elapsed().as_secs_f64()));
    table.row(".sig tags: layers min / max / mean", |_| spread(&sig_layers));
    table.row(".sig tags with more than 1 layer", |_| format!("{sig_more}"));
    table.row(".sig tags missing", |_| format!("{sig_missing}"));
    table.row(".att tags: layers min / max / mean", |_| spread(&att_layers));
    table.row(".att tags with more than 1 layer", |_| format!("{att_more}"));
    table.row(".att tags missing", |_| format!("{att_missing}"));
    table.row("Rekor tree size before / after", |_| format!("{tree_before} / {tree_after}"));
    table.row("Rekor entries added", |_| format!("{added}"));
    table.row(&format!("distinct payloads signed (2 per run: {})", 2 * n), |_| format!("{}", payloads.len()));
    table.row("log entries per distinct payload min / max / mean", |_| spread(&logged));
    table.row("payloads with more than 1 entry", |_| format!("{more_entries}"));
    table.row("payloads with no entry", |_| format!("{no_entry}"));
    table.row("entries added for no stored payload", |_| format!("{foreign}"));
    table.row("search index: entries per payload min / max / mean", |_| spread(&indexed));
    table.row("search index: logged payloads it does not find", |_| format!("{}", unindexed.len()));
    table.row("search index: entries per image digest min / max / mean", |_| spread(&per_image));
    table.row("failed attempts logged, retried later", |_| by_reason(&logs.retry_by_reason));
    table.row("gave up, logged (the signed=failed patch may not land)", |_| by_reason(&logs.failed_by_reason));
    table.row("leader: became / lost the Lease / election failed", |_| {
        format!("{} / {} / {}", logs.leader, logs.lost_lease, logs.election_failed)
    });
    table.row("manifests pushed (metrics of the killed + last signers)", |_| {
        format!("{:.0}", scraped_sum("signer_registry_pushes_total"))
    });
    table.row("Rekor requests (same signers)", |_| format!("{:.0}", scraped_sum("signer_transparency_requests_total")));
    table.row("harness API calls retried", |_| format!("{}", api_retries.load(Ordering::Relaxed)));
    for (i, c) in logs.failed_causes.iter().take(5).enumerate() {
        println!("gave-up cause {}: {c}", i + 1);
    }
    for (i, l) in logs.other.iter().take(5).enumerate() {
        println!("signer non-JSON output {}: {l}", i + 1);
    }
    if !unindexed.is_empty() {
        let shown: Vec<&str> = unindexed.iter().take(12).map(String::as_str).collect();
        println!("logged but not in the search index: {}", shown.join(", "));
    }
    if !exits.is_empty() {
        println!("signer exits: {}", exits.join("; "));
    }

    let pass = |ok: bool| if ok { "PASS" } else { "MISS" };
    let signed_ok = runs.signed == n;
    let lost_ok = runs.pending == 0;
    let layers_ok = sig_missing == 0 && att_missing == 0 && sig_more == 0 && att_more == 0;
    let entries_ok = more_entries == 0 && no_entry == 0 && foreign == 0 && added == payloads.len() as u64;
    println!();
    println!("Goal: {n}/{n} signed, 0 lost, 1 layer per tag per artifact, 1 entry per distinct payload");
    println!(
        "  {n}/{n} signed{:>w$}  ({}/{n})",
        pass(signed_ok),
        runs.signed,
        w = 40 - format!("{n}/{n} signed").len()
    );
    println!("  0 lost{:>34}  ({} lost)", pass(lost_ok), runs.pending);
    println!(
        "  1 layer per tag per artifact{:>12}  (.sig max {}, .att max {}, {} tags with more, {} missing)",
        pass(layers_ok),
        sig_layers.iter().max().unwrap_or(&0),
        att_layers.iter().max().unwrap_or(&0),
        sig_more + att_more,
        sig_missing + att_missing
    );
    println!(
        "  1 entry per distinct payload{:>12}  ({} entries added for {} payloads; {} with more, {} with none, {} for none)",
        pass(entries_ok),
        added,
        payloads.len(),
        more_entries,
        no_entry,
        foreign
    );
    println!("(signer logs and the faults log: {})", dirs.log.display());
}
