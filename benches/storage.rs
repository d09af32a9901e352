//! `make bench`, storage case: the signer (release build, a real process)
//! signing N finished TaskRuns (in-toto, local P-256 key, no transparency
//! log) into each storage backend beside `tekton`, side by side in one run,
//! A B .. B A order (means reported): `tekton` (annotations only), `gcs`
//! (fake-gcs-server), `docdb` on mongo:// (FerretDB) and on dynamodb://
//! (moto), and on firestore:// (Google's emulator, where installed), and
//! `grafeas` (Grafeas's own v1 API, hack/grafeas), `archivista` (Archivista on MariaDB) and `kafka` (one
//! Apache Kafka broker, topic chains-bench). Each run names one image it built (one provenance subject; images themselves are not signed).
//! Prints runs signed per second, API writes and backend requests per run,
//! and peak RSS. Asserts nothing about speed.

mod support;

use std::time::Instant;

use serde_json::json;
use support::{SignerProcess, Table, bench_cluster, env_file, finished_runs_with, metric_sum, namespace, workers};

fn n() -> usize {
    std::env::var("BENCH_STORAGE_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(300)
}

/// One backend: its label, storage list and config keys; its figures.
#[derive(Default)]
struct Case {
    label: &'static str,
    config: Vec<(&'static str, String)>,
    rate: f64,
    api_writes: f64,
    requests: f64,
    rss: f64,
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let (kubeconfig, client) = bench_cluster().await;
    // hack/bench.sh exports its STORAGE_EMULATOR_HOST and GRAFEAS_SERVER, which the signers inherit.
    let gcs = env_file("BENCH_GCS_ENV");
    let docdb = env_file("BENCH_DOCDB_ENV");
    let dynamodb = format!(
        "dynamodb://{}?partition_key=Name&region=us-east-1&endpoint={}",
        docdb["DYNAMODB_TABLE"], docdb["DYNAMODB_ENDPOINT"]
    );
    let firestore = env_file("BENCH_FIRESTORE_ENV").contains_key("FIRESTORE_EMULATOR_HOST");
    let mut cases = vec![
        Case { label: "tekton", config: vec![("artifacts.taskrun.storage", "tekton".into())], ..Default::default() },
        Case {
            label: "gcs",
            config: vec![
                ("artifacts.taskrun.storage", "gcs".into()),
                ("storage.gcs.bucket", gcs["GCS_BUCKET"].clone()),
            ],
            ..Default::default()
        },
        Case {
            label: "mongo",
            config: vec![
                ("artifacts.taskrun.storage", "docdb".into()),
                ("storage.docdb.url", "mongo://chains/bench?id_field=Name".into()),
                ("storage.docdb.mongo-server-url", docdb["MONGO_SERVER_URL"].clone()),
            ],
            ..Default::default()
        },
        Case {
            label: "dynamodb",
            config: vec![("artifacts.taskrun.storage", "docdb".into()), ("storage.docdb.url", dynamodb)],
            ..Default::default()
        },
        Case {
            label: "archivista",
            config: vec![
                ("artifacts.taskrun.storage", "archivista".into()),
                ("storage.archivista.url", env_file("BENCH_ARCHIVISTA_ENV")["ARCHIVISTA_URL"].clone()),
            ],
            ..Default::default()
        },
        Case {
            label: "kafka",
            config: vec![
                ("artifacts.taskrun.storage", "kafka".into()),
                ("storage.pubsub.provider", "kafka".into()),
                ("storage.pubsub.topic", "chains-bench".into()),
                ("storage.pubsub.kafka.bootstrap.servers", env_file("BENCH_KAFKA_ENV")["KAFKA_BOOTSTRAP"].clone()),
            ],
            ..Default::default()
        },
        Case {
            label: "grafeas",
            config: vec![
                ("artifacts.taskrun.storage", "grafeas".into()),
                ("storage.grafeas.projectid", "bench".into()),
            ],
            ..Default::default()
        },
    ];
    if firestore {
        let url = "firestore://projects/bench/databases/(default)/documents/chains?name_field=Name";
        cases.push(Case {
            label: "firestore",
            config: vec![("artifacts.taskrun.storage", "docdb".into()), ("storage.docdb.url", url.into())],
            ..Default::default()
        });
    } else {
        eprintln!("bench storage: no Firestore emulator (hack/firestore.sh): its case is left out");
    }
    let n = n();
    let keys = support::p256_keys("bench-storage-keys");
    println!(
        "bench storage: N={n} TaskRuns per pass, {} workers; in-toto, local P-256 key, no transparency log",
        workers()
    );
    let order: Vec<usize> = (0..cases.len()).chain((0..cases.len()).rev()).collect();
    for (pass, &i) in order.iter().enumerate() {
        let c = &mut cases[i];
        eprintln!("bench storage: pass {} of {}: {} ...", pass + 1, order.len(), c.label);
        let ns = format!("bench-storage-{}-{pass}", std::process::id());
        let mut config = json!({ "artifacts.taskrun.format": "in-toto", "artifacts.oci.storage": "" });
        for (k, v) in &c.config {
            config[k] = json!(v);
        }
        namespace(&client, &ns, config).await;
        // Each pass's images are its own, so no two passes sign the same
        // statement (Archivista, say, would answer 500 to an envelope it has).
        let image = format!("registry.example/bench/app-{pass}");
        finished_runs_with(&client, &ns, "s", n, Some(&image)).await;
        let bin = env!("CARGO_BIN_EXE_tekton-chains-operator");
        let t = Instant::now();
        let mut signer = SignerProcess::start(bin.as_ref(), &kubeconfig, &ns, &keys, 19600 + 2 * pass as u16);
        let secs = signer.wait_signed(n, t).await;
        let text = signer.metrics_text();
        // Each case runs twice (A B B A): each pass is half its mean.
        c.rate += n as f64 / secs / 2.0;
        c.api_writes += metric_sum(&text, "signer_api_writes_total") / n as f64 / 2.0;
        c.requests += metric_sum(&text, "signer_storage_requests_total") / n as f64 / 2.0;
        c.rss += signer.peak_rss_mib() / 2.0;
    }
    println!();
    let table = Table { name_width: 44, cell_width: 12, cases: &cases };
    table.header("storage backend", cases.iter().map(|c| c.label));
    table.row("runs signed per second (incl. start)", |c| format!("{:.1}", c.rate));
    table.row("API writes per run", |c| format!("{:.2}", c.api_writes));
    table.row("backend requests per run (gcs: 2 objects)", |c| format!("{:.2}", c.requests));
    table.row("peak RSS (VmHWM), MiB", |c| format!("{:.1}", c.rss));
    let tekton = cases[0].rate;
    table.row("rate vs tekton", |c| format!("{:.2}x", c.rate / tekton));
    println!("(means of 2 passes per backend, order A B B A; rates include process start;");
    println!(" mongo, dynamodb and firestore are docdb on FerretDB, moto and Google's emulator;");
    println!(" grafeas: one occurrence per run, its note made once per signer; archivista: one upload;");
    println!(" kafka: one produce per run, the topic's partitions asked once per signer)");
}
