//! `make bench`, keys case: the signer (release build, a real process)
//! signing N TaskRuns with an `x509.pem` key and with an encrypted
//! `cosign.key` (scrypt), side by side in A B B A order; prints peak RSS
//! (VmHWM) and throughput. With `BENCH_BASELINE_BIN` (another build, say of
//! an earlier commit) its cosign.key case runs beside ours. Asserts nothing
//! about speed or memory.

mod support;

use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;
use support::{SignerProcess, Table, bench_cluster, finished_runs, namespace, workers};

fn n() -> usize {
    std::env::var("BENCH_KEY_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(200)
}

/// One signer build with one kind of key.
struct Case {
    label: String,
    bin: PathBuf,
    keys: PathBuf,
    rss: f64,
    rate: f64,
    passes: f64,
}

fn cosign_keys() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bench-cosign-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let g = tekton_chains_operator::signing::generate_cosign_key_pair().unwrap();
    std::fs::write(dir.join("cosign.key"), g.private_pem.as_bytes()).unwrap();
    std::fs::write(dir.join("cosign.password"), g.password.as_bytes()).unwrap();
    dir
}

#[tokio::main]
async fn main() {
    let (kubeconfig, client) = bench_cluster().await;
    let this: PathBuf = env!("CARGO_BIN_EXE_tekton-chains-operator").into();
    let (x509, cosign) = (support::p256_keys("bench-key-x509"), cosign_keys());
    let case = |label: &str, bin: &PathBuf, keys: &PathBuf| Case {
        label: label.into(),
        bin: bin.clone(),
        keys: keys.clone(),
        rss: 0.0,
        rate: 0.0,
        passes: 0.0,
    };
    let mut cases = vec![case("x509.pem", &this, &x509), case("cosign.key", &this, &cosign)];
    if let Ok(b) = std::env::var("BENCH_BASELINE_BIN") {
        cases.push(case("baseline cosign.key", &PathBuf::from(b), &cosign));
    }
    let n = n();
    println!("bench keys: N={n} runs per pass, {} workers, in-toto + tekton storage; A B .. B A order", workers());
    let order: Vec<usize> = (0..cases.len()).chain((0..cases.len()).rev()).collect();
    for (pass, &i) in order.iter().enumerate() {
        let ns = format!("bench-keys-{pass}");
        namespace(&client, &ns, json!({ "artifacts.taskrun.format": "in-toto", "artifacts.oci.storage": "" })).await;
        finished_runs(&client, &ns, "k", n).await;
        let c = &mut cases[i];
        let port = 19300 + 2 * pass as u16;
        let t = Instant::now();
        let mut signer = SignerProcess::start(&c.bin, &kubeconfig, &ns, &c.keys, port);
        let secs = signer.wait_signed(n, t).await;
        c.rss += signer.peak_rss_mib();
        c.rate += n as f64 / secs;
        c.passes += 1.0;
    }
    for c in &mut cases {
        c.rss /= c.passes;
        c.rate /= c.passes;
    }
    let table = Table { name_width: 46, cell_width: 22, cases: &cases };
    table.header("key", cases.iter().map(|c| c.label.as_str()));
    table.row("peak RSS (VmHWM), MiB (cosign.key <= 64)", |c| format!("{:.1}", c.rss));
    table.row("runs signed per second (incl. start)", |c| format!("{:.1}", c.rate));
    let (a, b) = (&cases[0], &cases[1]);
    println!("cosign.key / x509.pem: RSS {:.2}x, rate {:.2}x", b.rss / a.rss, b.rate / a.rate);
    if let Some(base) = cases.get(2) {
        println!("cosign.key, this build / baseline: RSS {:.2}x, rate {:.2}x", b.rss / base.rss, b.rate / base.rate);
    }
}
