//! The signing loop: watches TaskRuns and PipelineRuns, and signs each
//! finished one once. No cache of runs is kept: the queue holds run keys and
//! a bounded number of run objects, so memory does not grow with the cluster
//! or the backlog. Every task the loop starts lives in one JoinSet and ends
//! when the loop stops or loses the Lease.

mod config_watch;
mod dispatch;
pub mod error;
mod leader;
pub mod metrics;
pub mod pipeline;
pub mod queue;
pub mod worker;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::runtime::events::Recorder;
use tokio::sync::{Notify, mpsc, watch};
use tracing::{info, warn};

pub use error::Error;
use metrics::Metrics;
use pipeline::{Parts, Pipeline};
use queue::{Queue, QueueOrder};
use worker::Ctx;

use crate::config::ChainsConfig;
use crate::formats::RunKind;
use crate::signing::KeyDir;
use crate::storage;
use crate::tekton::objects::{CHAINS_CONFIG, CONTROLLER, SIGNING_SECRETS_PATH};
use crate::telemetry::{self, Render};

/// Settings of the signing loop (flags of `signer` and `run`).
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Only watch runs in these namespaces (repeatable); all namespaces when absent.
    #[arg(long = "namespace")]
    pub namespaces: Vec<String>,
    /// Folder holding x509.pem or cosign.key + cosign.password.
    #[arg(long, default_value = SIGNING_SECRETS_PATH)]
    pub signing_secrets_dir: PathBuf,
    /// Namespace holding chains-config (the signer's own).
    #[arg(long, env = "SYSTEM_NAMESPACE", default_value = "tekton-pipelines")]
    pub system_namespace: String,
    /// Concurrent signing workers.
    #[arg(long, default_value_t = 2)]
    pub threads_per_controller: u16,
    /// Client-side QPS limit towards the API server (accepted for compatibility).
    #[arg(long, default_value_t = 50.0)]
    pub kube_api_qps: f64,
    /// Client-side burst towards the API server (accepted for compatibility).
    #[arg(long, default_value_t = 50)]
    pub kube_api_burst: u32,
    /// Address of /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub probes_addr: String,
    /// Address of /metrics.
    #[arg(long, default_value = "0.0.0.0:9090")]
    pub metrics_addr: String,
    /// First delay before retrying a failed signing; doubles each retry.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub retry_backoff: Duration,
    /// How often the key folder is checked for changes, to log them (signing
    /// always checks it first, so a removed key is never used).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub key_refresh: Duration,
    /// Which finished runs are signed first.
    #[arg(long, value_enum, default_value_t = QueueOrder::NewestFirst)]
    pub queue_order: QueueOrder,
    /// MiB of run objects the queue keeps (as JSON) for the runs next in line;
    /// the others are read with one GET when their turn comes.
    #[arg(long, default_value_t = 8)]
    pub queue_cache_mib: usize,
    /// PEM bundle of extra CAs trusted for registries (besides the system
    /// roots and SSL_CERT_FILE / SSL_CERT_DIR).
    #[arg(long)]
    pub registry_ca_file: Option<PathBuf>,
    /// Sign only while holding the Lease `tekton-chains-signer` in the system namespace.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// How long a Lease holder stays leader without renewing.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| format!("{s:?}: expected a duration such as 500ms, 5s or 1m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("{s:?}: unit must be ms, s or m")),
    }
}

/// The signer's shared state.
pub struct Signer {
    ctx: Ctx,
    parts: Parts,
    keys: Arc<KeyDir>,
    /// Queued runs; objects are kept as their JSON bytes.
    queue: Mutex<Queue<Vec<u8>>>,
    /// Wakes a worker when a run is queued.
    notify: Notify,
    /// Runs with a finalizer patch queued or in flight (by uid).
    finalizing: Mutex<std::collections::HashSet<String>>,
    /// Taken by [`Signer::run`], which feeds config changes into it.
    pipeline_tx: Mutex<Option<watch::Sender<Arc<Pipeline>>>>,
    pub metrics: Arc<Metrics>,
}

/// Runs the signing loop, with its HTTP endpoints, until the future is
/// dropped or the Lease is lost. `extra` metrics (the operator's, in `run`
/// mode) are served alongside the signer's.
pub async fn run(client: Client, opts: Options, extra: Vec<Render>) -> std::io::Result<()> {
    let signer = Signer::new(client.clone(), &opts).await;
    let ready = Arc::new(AtomicBool::new(false));
    let m = signer.metrics.clone();
    let mut sources: Vec<Render> = vec![Arc::new(move || m.render())];
    sources.extend(extra);
    let mut servers = tokio::task::JoinSet::new();
    servers.spawn(telemetry::serve(opts.probes_addr.clone(), sources.clone(), ready.clone()));
    if opts.metrics_addr != opts.probes_addr {
        servers.spawn(telemetry::serve(opts.metrics_addr.clone(), sources, ready.clone()));
    }
    ready.store(true, Ordering::Relaxed);
    tokio::select! {
        _ = signer.run(client, &opts) => Ok(()),
        Some(Ok(Err(e))) = servers.join_next() => Err(e),
    }
}

impl Signer {
    /// Builds the signer: opens the key folder and builds the pipeline of the
    /// current chains-config.
    pub async fn new(client: Client, opts: &Options) -> Arc<Self> {
        let keys = Arc::new(KeyDir::open(&opts.signing_secrets_dir));
        if let Err(e) = keys.current() {
            warn!(error = %e, "no signing key yet; runs will fail until one is added");
        }
        let metrics = Metrics::new();
        let roots = opts.registry_ca_file.as_ref().and_then(|p| match std::fs::read(p) {
            Ok(b) => Some(b),
            Err(e) => {
                warn!(path = %p.display(), error = %e, "reading --registry-ca-file; using the system roots only");
                None
            }
        });
        let oci = storage::oci::Shared {
            registries: storage::oci::registry::Registries::new(roots, metrics.registry_pushes.clone()),
            secrets: storage::oci::secrets::Secrets::new(client.clone(), metrics.secret_reads.clone()),
        };
        let storage = storage::Parts { oci: Some(Arc::new(oci)) };
        let rekor = crate::transparency::rekor::Shared::new(metrics.transparency_requests.clone());
        let parts = Parts { x509: keys.clone(), log: None, rekor: Some(Arc::new(rekor)), storage };
        let initial = config_watch::build(initial_config(&client, &opts.system_namespace).await, &parts);
        let (pipeline_tx, pipeline) = watch::channel(initial);
        let recorder = Recorder::new(client.clone(), CONTROLLER.into());
        let ctx = Ctx { client, pipeline, metrics: metrics.clone(), recorder, backoff: opts.retry_backoff };
        Arc::new(Self {
            ctx,
            parts,
            keys,
            queue: Mutex::new(Queue::new(opts.queue_order, opts.queue_cache_mib << 20)),
            notify: Notify::new(),
            finalizing: Mutex::default(),
            pipeline_tx: Mutex::new(Some(pipeline_tx)),
            metrics,
        })
    }

    /// Watches runs and feeds the workers. Every task it starts stops when
    /// this future is dropped, so a dropped signer is really gone. With
    /// leader election it starts once it holds the Lease, and returns when
    /// it loses it (the process then exits and restarts as a follower).
    pub async fn run(self: Arc<Self>, client: Client, opts: &Options) {
        let mut tasks = tokio::task::JoinSet::new();
        let mut leader = None;
        if opts.leader_election {
            match leader::acquire(&client, opts, &mut tasks).await {
                Ok(rx) => leader = Some(rx),
                Err(e) => {
                    warn!(error = %e, reason = e.metric_label(), "leader election failed");
                    return;
                }
            }
        }
        if let Some(tx) = self.pipeline_tx.lock().expect("pipeline lock").take() {
            let recorder = Recorder::new(client.clone(), CONTROLLER.into());
            let ns = opts.system_namespace.clone();
            tasks.spawn(config_watch::watch_config(client.clone(), ns, self.parts.clone(), recorder, tx));
        }
        let (keys, every) = (self.keys.clone(), opts.key_refresh);
        tasks.spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                keys.refresh();
            }
        });
        let (fin_tx, fin_rx) = mpsc::unbounded_channel();
        tasks.spawn(self.clone().finalizers(fin_rx));
        let workers = opts.threads_per_controller.max(1);
        for _ in 0..workers {
            tasks.spawn(self.clone().worker());
        }
        let namespaces: Vec<Option<String>> =
            if opts.namespaces.is_empty() { vec![None] } else { opts.namespaces.iter().cloned().map(Some).collect() };
        for kind in [RunKind::TaskRun, RunKind::PipelineRun] {
            for ns in &namespaces {
                let ar = kind.api_resource();
                let api: Api<DynamicObject> = match ns {
                    Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
                    None => Api::all_with(client.clone(), &ar),
                };
                tasks.spawn(self.clone().watch(kind, api, fin_tx.clone()));
            }
        }
        info!(namespaces = ?opts.namespaces, workers, order = ?opts.queue_order, "signer started");
        match leader {
            Some(mut rx) => {
                while *rx.borrow() {
                    if rx.changed().await.is_err() {
                        break;
                    }
                }
                warn!("lost the leader Lease; stopping");
            }
            None => while tasks.join_next().await.is_some() {},
        }
    }
}

async fn initial_config(client: &Client, namespace: &str) -> ChainsConfig {
    let api: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), namespace);
    match api.get_opt(CHAINS_CONFIG).await {
        Ok(Some(cm)) => config_watch::parse(&cm.data.unwrap_or_default(), namespace).unwrap_or_default(),
        Ok(None) => ChainsConfig::default(),
        Err(e) => {
            warn!(error = %e, "reading chains-config; using defaults until the watch delivers it");
            ChainsConfig::default()
        }
    }
}
