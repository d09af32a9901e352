//! `make bench` (BENCH_ONLY=scale): signer replicas sharing the runs by
//! bucket Leases, the binary as real processes against a real API server.
//! For 1, 2 and 3 replicas (10 buckets), in one run, each over its own
//! backlog of BENCH_SCALE_RUNS (default 2000) finished TaskRuns created
//! before its replicas start: runs/s, CPU per replica, API writes per run;
//! then the bucket handover after a SIGKILL and after a SIGTERM. Prints
//! figures; asserts only that every run is signed once.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::Api;
use serde_json::json;

use support::{SignerProcess, bench_cluster, finished_runs, namespace, workers};

const LEASE_SECS: u64 = 4;
const BUCKETS: u32 = 10;

fn n() -> usize {
    std::env::var("BENCH_SCALE_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)
}

/// Replicas by name → buckets held (the Lease holder's POD_NAME prefix; "" unheld).
async fn holders(client: &Client, ns: &str) -> BTreeMap<String, usize> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), ns);
    let mut by = BTreeMap::new();
    for b in 0..BUCKETS {
        let name = tekton_chains_operator::tekton::objects::lease_name(b, BUCKETS);
        let holder =
            leases.get_opt(&name).await.ok().flatten().and_then(|l| l.spec?.holder_identity).unwrap_or_default();
        *by.entry(holder.rsplit_once('-').map(|(r, _)| r.to_string()).unwrap_or_default()).or_default() += 1;
    }
    by
}

fn replica(
    kubeconfig: &str,
    ns: &str,
    keys: &std::path::Path,
    name: &str,
    port: u16,
    replicas: usize,
) -> SignerProcess {
    let args: Vec<String> = [
        "signer",
        "--namespace",
        ns,
        "--system-namespace",
        ns,
        "--buckets",
        &BUCKETS.to_string(),
        "--replicas",
        &replicas.to_string(),
        "--lease-duration",
        &format!("{LEASE_SECS}s"),
        "--threads-per-controller",
        &workers().to_string(),
        "--signing-secrets-dir",
        &keys.display().to_string(),
    ]
    .map(String::from)
    .into();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_tekton-chains-operator"));
    SignerProcess::spawn_env(bin, kubeconfig, &args, port, None, &[("POD_NAME", name)])
}

/// Waits until the buckets are held by `want` replicas and none is unheld.
async fn settled(client: &Client, ns: &str, want: usize) -> Duration {
    let t = Instant::now();
    loop {
        let by = holders(client, ns).await;
        if !by.contains_key("") && by.len() == want {
            return t.elapsed();
        }
        assert!(t.elapsed() < Duration::from_secs(120), "buckets never settled: {by:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Figures {
    replicas: usize,
    rate: f64,
    cpu_ms_per_run: Vec<f64>,
    signed_by: Vec<f64>,
    writes_per_run: f64,
}

#[tokio::main]
async fn main() {
    let (kubeconfig, client) = bench_cluster().await;
    let n = n();
    let config = json!({ "artifacts.taskrun.format": "in-toto", "artifacts.taskrun.storage": "tekton", "artifacts.oci.storage": "" });
    let keys = support::p256_keys("bench-scale-keys");
    println!(
        "bench scale: N={n} runs per case, {BUCKETS} buckets, lease {LEASE_SECS}s, {} workers per replica",
        workers()
    );
    let mut all = Vec::new();
    let mut port = 19400;
    for r in 1..=3 {
        let ns = format!("bench-scale-{r}");
        namespace(&client, &ns, config.clone()).await;
        eprintln!("bench scale: {r} replica(s): creating {n} finished runs");
        finished_runs(&client, &ns, "s", n).await;
        let t = Instant::now();
        let mut procs: Vec<SignerProcess> = (0..r)
            .map(|i| {
                port += 2;
                replica(&kubeconfig, &ns, &keys, &format!("replica{i}"), port, r)
            })
            .collect();
        loop {
            let done: f64 = procs.iter().map(|p| p.metric("watcher_taskrun_marked_signed_total")).sum();
            if done as usize >= n {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(900), "not signed within 15 minutes ({done}/{n})");
            procs.iter_mut().for_each(SignerProcess::assert_running);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let secs = t.elapsed().as_secs_f64();
        let signed_by: Vec<f64> = procs.iter().map(|p| p.metric("watcher_taskrun_marked_signed_total")).collect();
        assert_eq!(signed_by.iter().sum::<f64>() as usize, n, "each run marked signed once");
        let writes: f64 = procs.iter().map(|p| p.metric("signer_api_writes_total")).sum();
        all.push(Figures {
            replicas: r,
            rate: n as f64 / secs,
            cpu_ms_per_run: procs.iter().map(|p| 1000.0 * p.cpu_seconds() / n as f64).collect(),
            signed_by,
            writes_per_run: writes / n as f64,
        });
        if r == 3 {
            settled(&client, &ns, 3).await;
            procs[0].kill();
            let killed = settled(&client, &ns, 2).await;
            let _ = std::process::Command::new("kill").arg(procs[1].pid().to_string()).status();
            let stopped = settled(&client, &ns, 1).await;
            println!();
            println!("bucket handover after SIGKILL (lease expiry), s     {:>8.2}", killed.as_secs_f64());
            println!("bucket handover after SIGTERM (released), s         {:>8.2}", stopped.as_secs_f64());
        }
    }
    println!();
    let header: String = all.iter().map(|x| format!("{:>18}", format!("{} replica(s)", x.replicas))).collect();
    println!("{:<44}{header}", "");
    let row = |name: &str, f: &dyn Fn(&Figures) -> String| {
        let cells: String = all.iter().map(|x| format!("{:>18}", f(x))).collect();
        println!("{name:<44}{cells}");
    };
    row("runs/s (start to all signed)", &|x| format!("{:.1}", x.rate));
    row("  x the 1-replica figure", &|x| format!("{:.2}x", x.rate / all[0].rate));
    row("runs signed per replica", &|x| x.signed_by.iter().map(|s| format!("{s:.0}")).collect::<Vec<_>>().join("/"));
    row("CPU ms per run, per replica", &|x| {
        x.cpu_ms_per_run.iter().map(|c| format!("{c:.2}")).collect::<Vec<_>>().join("/")
    });
    row("CPU ms per run, all replicas", &|x| format!("{:.2}", x.cpu_ms_per_run.iter().sum::<f64>()));
    row("API writes per run (runs only)", &|x| format!("{:.2}", x.writes_per_run));
    println!(
        "(the API server shares these 2 cores with every replica: past one replica, runs/s is bound by it, not the signer)"
    );
}
