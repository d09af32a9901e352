//! The signing loop: watches TaskRuns and PipelineRuns, and signs each
//! finished one once. No cache of runs is kept: a run's JSON lives only
//! while it waits to be signed, so memory does not grow with the cluster.

mod config_watch;
mod leader;
pub mod metrics;
pub mod plan;
pub mod worker;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::events::Recorder;
use kube::runtime::watcher::{self, Event};
use kube::{Client, ResourceExt};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::config::ChainsConfig;
use crate::formats::{Run, RunKind};
use crate::signing::KeyDir;
use metrics::Metrics;
use worker::{Ctx, Outcome};

/// Settings of the signing loop (flags of `signer` and `run`).
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Only watch runs in these namespaces (repeatable); all namespaces when absent.
    #[arg(long = "namespace")]
    pub namespaces: Vec<String>,
    /// Folder holding x509.pem or cosign.key + cosign.password.
    #[arg(long, default_value = "/etc/signing-secrets")]
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
    /// How often the key folder is checked for changes.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub key_refresh: Duration,
    /// Sign only while holding the Lease `tekton-chains-signer` in the system namespace.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// How long a Lease holder stays leader without renewing.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,
}

/// Name of the leader-election Lease.
pub const LEASE_NAME: &str = "tekton-chains-signer";

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

/// Where a run is in the signer's hands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Queued,
    /// Waiting out a retry delay: watch events do not re-queue it.
    Delayed,
}

/// A run waiting to be signed.
pub struct Job {
    kind: RunKind,
    obj: Value,
}

/// The signer's shared state.
pub struct Signer {
    ctx: Ctx,
    tx: mpsc::UnboundedSender<Job>,
    pending: Mutex<HashMap<String, Pending>>,
    /// Taken by [`Signer::run`], which feeds config changes into it.
    config_tx: Mutex<Option<watch::Sender<Arc<ChainsConfig>>>>,
    pub metrics: Arc<Metrics>,
}

/// Runs the signing loop until the future is dropped.
pub async fn run(client: Client, opts: Options) -> std::io::Result<()> {
    let (signer, rx) = Signer::new(client.clone(), &opts).await;
    let ready = Arc::new(AtomicBool::new(false));
    let probes = tokio::spawn(metrics::serve(opts.probes_addr.clone(), signer.metrics.clone(), ready.clone()));
    let metrics_srv = if opts.metrics_addr != opts.probes_addr {
        Some(tokio::spawn(metrics::serve(opts.metrics_addr.clone(), signer.metrics.clone(), ready.clone())))
    } else {
        None
    };
    ready.store(true, Ordering::Relaxed);
    signer.run(client, &opts, rx).await;
    probes.abort();
    if let Some(m) = metrics_srv {
        m.abort();
    }
    Ok(())
}

impl Signer {
    /// Builds the signer: loads the key and the current chains-config.
    pub async fn new(client: Client, opts: &Options) -> (Arc<Self>, mpsc::UnboundedReceiver<Job>) {
        let keys = Arc::new(KeyDir::open(&opts.signing_secrets_dir));
        match keys.current() {
            Ok(k) => info!(file = k.file, algorithm = k.key.algorithm(), "loaded signing key"),
            Err(e) => warn!(error = %e, "no signing key yet; runs will fail until one is added"),
        }
        let initial = initial_config(&client, &opts.system_namespace).await;
        let (config_tx, config_rx) = watch::channel(initial);
        let metrics = Metrics::new();
        let recorder = Recorder::new(client.clone(), "tekton-chains-controller".into());
        let ctx =
            Ctx { client, config: config_rx, keys, metrics: metrics.clone(), recorder, backoff: opts.retry_backoff };
        let (tx, rx) = mpsc::unbounded_channel();
        let config_tx = Mutex::new(Some(config_tx));
        (Arc::new(Self { ctx, tx, pending: Mutex::new(HashMap::new()), config_tx, metrics }), rx)
    }

    /// Watches runs and feeds the workers. Every task it starts stops when
    /// this future is dropped, so a dropped signer is really gone. With
    /// leader election it starts once it holds the Lease, and returns when
    /// it loses it (the process then exits and restarts as a follower).
    pub async fn run(self: Arc<Self>, client: Client, opts: &Options, rx: mpsc::UnboundedReceiver<Job>) {
        let mut tasks = tokio::task::JoinSet::new();
        let mut leader = None;
        if opts.leader_election {
            match leader::acquire(&client, opts, &mut tasks).await {
                Ok(rx) => leader = Some(rx),
                Err(e) => {
                    warn!(error = %e, "leader election failed");
                    return;
                }
            }
        }
        if let Some(config_tx) = self.config_tx.lock().expect("config lock").take() {
            tasks.spawn(config_watch::watch_config(client.clone(), opts.system_namespace.clone(), config_tx));
        }
        let (keys, every) = (self.ctx.keys.clone(), opts.key_refresh);
        tasks.spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                keys.refresh();
            }
        });
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let workers = opts.threads_per_controller.max(1);
        for _ in 0..workers {
            let (me, rx) = (self.clone(), rx.clone());
            tasks.spawn(async move {
                loop {
                    let Some(job) = rx.lock().await.recv().await else { break };
                    me.clone().work(job).await;
                }
            });
        }
        let namespaces: Vec<Option<String>> =
            if opts.namespaces.is_empty() { vec![None] } else { opts.namespaces.iter().cloned().map(Some).collect() };
        for kind in [RunKind::TaskRun, RunKind::PipelineRun] {
            for ns in &namespaces {
                let ar = worker::api_resource(kind);
                let api: Api<DynamicObject> = match ns {
                    Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
                    None => Api::all_with(client.clone(), &ar),
                };
                tasks.spawn(self.clone().watch(kind, api));
            }
        }
        info!(namespaces = ?opts.namespaces, workers, "signer started");
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

    async fn watch(self: Arc<Self>, kind: RunKind, api: Api<DynamicObject>) {
        let mut stream = watcher::watcher(api, watcher::Config::default()).boxed();
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(Event::Apply(o) | Event::InitApply(o)) => self.clone().observe(kind, o),
                Ok(_) => {}
                Err(e) => warn!(kind = kind.kind(), error = %e, "watching runs"),
            }
        }
    }

    /// Decides what a run needs from its latest version. Most events (the
    /// echo of our own patch, runs still going) are settled from metadata and
    /// the Succeeded condition alone, without converting the object.
    fn observe(self: Arc<Self>, kind: RunKind, o: DynamicObject) {
        let has_fin = o.finalizers().iter().any(|f| f == worker::finalizer(kind));
        let deleting = o.metadata.deletion_timestamp.is_some();
        let settled = matches!(o.annotations().get(plan::SIGNED).map(String::as_str), Some("true" | "failed"));
        let finished = crate::formats::run::finished(&o.data["status"]).is_some();
        if settled || !finished {
            // Never hold a run back: drop the finalizer once signed, failed, or deleted unfinished.
            if has_fin && (settled || deleting) {
                let obj = serde_json::to_value(&o).unwrap_or_default();
                tokio::spawn(async move { worker::remove_finalizer(&self.ctx, kind, &obj).await });
            } else if !has_fin && !deleting && !settled {
                let obj = serde_json::to_value(&o).unwrap_or_default();
                tokio::spawn(async move { worker::add_finalizer(&self.ctx, kind, &obj).await });
            }
            return;
        }
        let uid = o.uid().unwrap_or_default();
        let mut pending = self.pending.lock().expect("pending lock");
        if pending.contains_key(&uid) {
            return;
        }
        pending.insert(uid, Pending::Queued);
        drop(pending);
        let obj = serde_json::to_value(&o).unwrap_or_default();
        let _ = self.tx.send(Job { kind, obj });
    }

    async fn work(self: Arc<Self>, job: Job) {
        let uid = job.obj["metadata"]["uid"].as_str().unwrap_or_default().to_string();
        let started = std::time::Instant::now();
        let outcome = worker::process(&self.ctx, job.kind, &job.obj).await;
        self.metrics.reconcile_duration.observe(started.elapsed().as_secs_f64());
        match outcome {
            Outcome::Retry(delay) | Outcome::Wait(delay) => {
                self.pending.lock().expect("pending lock").insert(uid.clone(), Pending::Delayed);
                let me = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    me.requeue(job, uid).await;
                });
            }
            Outcome::Signed | Outcome::Failed | Outcome::Skipped => {
                self.pending.lock().expect("pending lock").remove(&uid);
            }
        }
    }

    /// After a delay: fetch the latest version and queue it again.
    async fn requeue(self: Arc<Self>, job: Job, uid: String) {
        let run = Run::new(job.kind, &job.obj);
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.ctx.client.clone(), run.namespace(), &worker::api_resource(job.kind));
        let fresh = api.get_opt(run.name()).await.ok().flatten().filter(|o| o.uid().as_deref() == Some(uid.as_str()));
        match fresh {
            Some(o) => {
                self.pending.lock().expect("pending lock").insert(uid, Pending::Queued);
                let obj = serde_json::to_value(&o).unwrap_or_default();
                let _ = self.tx.send(Job { kind: job.kind, obj });
            }
            None => {
                self.pending.lock().expect("pending lock").remove(&uid);
            }
        }
    }
}

async fn initial_config(client: &Client, namespace: &str) -> Arc<ChainsConfig> {
    let api: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), namespace);
    match api.get_opt(config_watch::CHAINS_CONFIG).await {
        Ok(Some(cm)) => config_watch::apply(&cm.data.unwrap_or_default(), namespace).unwrap_or_default(),
        Ok(None) => Arc::new(ChainsConfig::default()),
        Err(e) => {
            warn!(error = %e, "reading chains-config; using defaults until the watch delivers it");
            Arc::new(ChainsConfig::default())
        }
    }
}
