//! The signing loop: watches TaskRuns and PipelineRuns, and signs each
//! finished one once. No cache of runs is kept: the queue holds run keys and
//! a bounded number of run objects, so memory does not grow with the cluster
//! or the backlog. Every task the loop starts lives in one JoinSet and ends
//! when the loop stops. Replicas share the runs by bucket (`buckets`): each
//! watches every run and signs those of the buckets whose Lease it holds.

pub mod buckets;
mod config_watch;
mod deaths;
mod dispatch;
pub mod error;
mod events;
pub mod leader;
pub mod memory;
pub mod metrics;
pub mod pipeline;
pub mod policy;
pub mod queue;
pub mod roots;
pub mod throttle;
mod verify;
pub mod worker;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::runtime::events::Recorder;
use tokio::sync::{Notify, mpsc, watch};
use tracing::{error, info, warn};

pub use error::Error;
use metrics::Metrics;
use pipeline::Parts;
use queue::{Queue, QueueOrder};
use worker::Ctx;

use crate::formats::RunKind;
use crate::tekton::objects::{CONTROLLER, SIGNING_SECRETS_PATH};
use crate::telemetry::{self, Probes, Render};

/// Settings of the signing loop (flags of `signer` and `run`).
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Only watch runs in these namespaces (comma-separated, as upstream's
    /// flag, or repeated); all namespaces when absent.
    #[arg(long = "namespace", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// Folder holding x509.pem or cosign.key + cosign.password.
    #[arg(long, default_value = SIGNING_SECRETS_PATH)]
    pub signing_secrets_dir: PathBuf,
    /// Namespace holding chains-config (the signer's own).
    #[arg(long, env = "SYSTEM_NAMESPACE", default_value = "tekton-pipelines")]
    pub system_namespace: String,
    /// The signer's own ServiceAccount (in --system-namespace): its
    /// `secrets` and `imagePullSecrets` are tried after the run's.
    #[arg(long, env = "SIGNER_SERVICE_ACCOUNT", default_value = crate::tekton::objects::SERVICE_ACCOUNT)]
    pub service_account: String,
    /// Concurrent signing workers.
    #[arg(long, default_value_t = 2)]
    pub threads_per_controller: u16,
    /// Client-side limit of requests a second to the API server (0: none).
    #[arg(long, default_value_t = 0.0)]
    pub kube_api_qps: f64,
    /// Requests the client may make at once before `--kube-api-qps` applies.
    #[arg(long, default_value_t = 0)]
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
    /// Extra CAs trusted for registries, besides the system roots and
    /// SSL_CERT_FILE / SSL_CERT_DIR: a PEM file, or a folder whose every
    /// file is one (a mounted ConfigMap); repeatable. Read at start.
    #[arg(long)]
    pub registry_ca_file: Vec<PathBuf>,
    /// Sign only the runs of the buckets whose Lease this replica holds
    /// (`tekton-chains-signer`, or `tekton-chains-signer.BB-of-NN` with
    /// buckets, in the system namespace); off: sign every run.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Buckets the runs are shared in (1 to 10), unless the leader-election
    /// ConfigMap sets `buckets`.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub buckets: u32,
    /// Replicas expected, so that each takes its share of the buckets from
    /// the start (more are counted when seen).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub replicas: u32,
    /// Upstream's leader-election ConfigMap in the system namespace
    /// (`buckets`, `lease-duration`, `renew-deadline`, `retry-period`); read
    /// at start, over the flags, when it exists.
    #[arg(long, env = "CONFIG_LEADERELECTION_NAME", default_value = crate::tekton::objects::CONFIG_LEADER_ELECTION)]
    pub leader_election_config: String,
    /// How long one request to a registry, token endpoint or transparency
    /// log may take (connect to last byte); a whole push or upload gets twice that.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub http_timeout: Duration,
    /// How long signing one run may take in all (signing, log, storage,
    /// patch); then it counts as a failed attempt.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub job_deadline: Duration,
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
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        _ => Err(format!("{s:?}: unit must be ms, s or m")),
    }
}

/// The signer's shared state.
pub struct Signer {
    ctx: Ctx,
    parts: Parts,
    /// Queued runs; objects are kept as their JSON bytes.
    queue: Mutex<Queue<Vec<u8>>>,
    /// Wakes a worker when a run is queued.
    notify: Notify,
    /// Runs with a finalizer patch queued or in flight (by uid).
    finalizing: Mutex<std::collections::HashSet<String>>,
    /// Taken by [`Signer::run`], which feeds config changes into it.
    pipeline_tx: Mutex<Option<watch::Sender<config_watch::Current>>>,
    pub metrics: Arc<Metrics>,
    /// What `/healthz` and `/readyz` answer.
    pub probes: Arc<Probes>,
    /// How long one run's signing may take.
    job_deadline: Duration,
    /// The buckets this replica signs; set once when [`Signer::run`] starts.
    held: std::sync::OnceLock<Arc<buckets::Held>>,
}

/// Runs the signing loop, with its HTTP endpoints, until the future is
/// dropped or the Lease is lost. `extra` metrics (the operator's, in `run`
/// mode) are served alongside the signer's.
pub async fn run(client: Client, opts: Options, extra: Vec<Render>) -> Result<(), Error> {
    let signer = Signer::new(client.clone(), &opts).await;
    let m = signer.metrics.clone();
    let mut sources: Vec<Render> = vec![Arc::new(move || m.render())];
    sources.extend(extra);
    let mut servers = tokio::task::JoinSet::new();
    servers.spawn(telemetry::serve(opts.probes_addr.clone(), sources.clone(), signer.probes.clone()));
    if opts.metrics_addr != opts.probes_addr {
        servers.spawn(telemetry::serve(opts.metrics_addr.clone(), sources, signer.probes.clone()));
    }
    tokio::select! {
        res = signer.run_until(client, &opts, terminated()) => res,
        Some(Ok(Err(e))) = servers.join_next() => Err(Error::Broken { reason: format!("probe/metrics endpoint: {e}") }),
    }
}

impl Signer {
    /// Builds the signer: every seam's factories (key folder, registries,
    /// Rekor) from the options; pipelines follow chains-config.
    pub async fn new(client: Client, opts: &Options) -> Arc<Self> {
        let metrics = Metrics::new();
        let bundle = roots::read(&opts.registry_ca_file);
        for problem in &bundle.problems {
            warn!(%problem, "--registry-ca-file: skipped");
        }
        if !bundle.files.is_empty() {
            info!(files = ?bundle.files, "registries: trusting these CAs besides the system roots");
        }
        let roots = (!bundle.pem.is_empty()).then_some(bundle.pem);
        let mut env = metrics.env(Some(client.clone()), &opts.signing_secrets_dir);
        env.registry_roots = roots;
        env.http_timeout = Some(opts.http_timeout);
        env.own_account = Some((opts.system_namespace.clone(), opts.service_account.clone()));
        let parts = Parts::prepare(&env);
        if let Some(Ok((_, keys))) = parts.signers.build(&crate::config::SigningIdentity::Keys)
            && let Err(e) = keys.verifier().await
        {
            warn!(error = %e, "no signing key yet; runs will fail until one is added");
        }
        Self::with_parts(client, opts, parts, metrics)
    }

    /// The long-lived parts this signer builds its pipelines from.
    pub fn parts(&self) -> &Parts {
        &self.parts
    }

    /// Builds the signer from its parts (tests put factories of their own
    /// in a seam's registry, a transparency log say).
    pub fn with_parts(client: Client, opts: &Options, parts: Parts, metrics: Arc<Metrics>) -> Arc<Self> {
        // Nothing is signed until chains-config is read and valid.
        let (pipeline_tx, pipeline) = watch::channel(None);
        let recorder = Recorder::new(client.clone(), CONTROLLER.into());
        let memory = Arc::default();
        let ctx = Ctx { client, pipeline, metrics: metrics.clone(), recorder, backoff: opts.retry_backoff, memory };
        let why = format!("no chains-config read yet from {}", opts.system_namespace);
        Arc::new(Self {
            ctx,
            parts,
            queue: Mutex::new(Queue::new(opts.queue_order, opts.queue_cache_mib << 20)),
            notify: Notify::new(),
            finalizing: Mutex::default(),
            pipeline_tx: Mutex::new(Some(pipeline_tx)),
            metrics,
            probes: Probes::starting(&why),
            job_deadline: opts.job_deadline,
            held: std::sync::OnceLock::new(),
        })
    }

    /// Watches runs and feeds the workers, until dropped; see [`Signer::run_until`].
    pub async fn run(self: Arc<Self>, client: Client, opts: &Options) -> Result<(), Error> {
        self.run_until(client, opts, std::future::pending()).await
    }

    /// Sets up the buckets this replica signs (once).
    async fn elect(&self, client: &Client, opts: &Options) -> Result<Option<Arc<leader::Elector>>, Error> {
        let (held, elector) = leader::start(client, opts).await?;
        if self.held.set(held).is_err() {
            return Err(Error::Broken { reason: "a signer runs once".into() });
        }
        Ok(elector)
    }

    /// Whether this replica signs the run with this UID now (its bucket is held).
    fn holds(&self, uid: &str) -> bool {
        self.held.get().is_some_and(|h| h.holds(uid))
    }

    /// Watches runs and feeds the workers. Every task it starts stops when
    /// this future is dropped, so a dropped signer is really gone. With
    /// leader election it signs only the runs of the buckets it holds (see
    /// [`buckets`]); on `shutdown` it lets its Leases go, so other replicas
    /// take them at once, and returns. Ends with an error (so the process
    /// exits non-zero and is restarted) when the leader-election settings
    /// are bad or the signer breaks.
    pub async fn run_until(
        self: Arc<Self>,
        client: Client,
        opts: &Options,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), Error> {
        let mut tasks = tokio::task::JoinSet::new();
        let elector = match self.elect(&client, opts).await {
            Ok(e) => e,
            Err(e) => {
                warn!(error = %e, reason = e.metric_label(), "leader election failed");
                return Err(e);
            }
        };
        if let Some(e) = &elector {
            tasks.spawn(e.clone().run());
        }
        let config_listed = Arc::new(tokio::sync::Notify::new());
        let mut have_config_watch = false;
        if let Some(tx) = self.pipeline_tx.lock().take() {
            have_config_watch = true;
            let watch = config_watch::ConfigWatch {
                client: client.clone(),
                namespace: opts.system_namespace.clone(),
                parts: self.parts.clone(),
                recorder: Recorder::new(client.clone(), CONTROLLER.into()),
                metrics: self.metrics.clone(),
                probes: self.probes.clone(),
                tx,
                listed: config_listed.clone(),
            };
            tasks.spawn(watch.run());
        }
        let (parts, every) = (self.parts.clone(), opts.key_refresh);
        tasks.spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                parts.refresh();
            }
        });
        let (fin_tx, fin_rx) = mpsc::unbounded_channel();
        tasks.spawn(self.clone().finalizers(fin_rx));
        let count = opts.threads_per_controller.max(1);
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..count {
            workers.spawn(self.clone().worker());
        }
        // Runs are watched once the config is known, so a run's first look
        // (verify-before-skip, above all) is made under it.
        if have_config_watch {
            config_listed.notified().await;
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
        info!(namespaces = ?opts.namespaces, workers = count, order = ?opts.queue_order, "signer started");
        tokio::pin!(shutdown);
        let mut deaths = deaths::Deaths::default();
        loop {
            tokio::select! {
                _ = &mut shutdown => {
                    info!("stopping");
                    if let Some(e) = &elector {
                        // Workers stop first (with this future); then the Leases go.
                        workers.abort_all();
                        let _ = tokio::time::timeout(Duration::from_secs(3), e.release()).await;
                    }
                    return Ok(());
                }
                Some(res) = tasks.join_next() => {
                    // Watches, the config watch and the finalizer task never end on their own.
                    let why = format!("a signer task stopped: {}", describe_exit(res));
                    error!(reason = %why, "stopping");
                    self.probes.set_broken(why.clone());
                    return Err(Error::Broken { reason: why });
                }
                Some(res) = workers.join_next() => {
                    if let Some(n) = deaths.record(Instant::now()) {
                        let why = format!("signing workers keep dying ({n} in a minute): {}", describe_exit(res));
                        error!(reason = %why, "stopping");
                        self.probes.set_broken(why.clone());
                        return Err(Error::Broken { reason: why });
                    }
                    warn!(exit = %describe_exit(res), "a signing worker died; starting another");
                    self.metrics.worker_restarts.inc();
                    workers.spawn(self.clone().worker());
                }
            }
        }
    }
}

/// Resolves on SIGTERM (a pod being stopped) or Ctrl-C.
async fn terminated() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// How a task ended, for logs and `/healthz`.
fn describe_exit(res: Result<(), tokio::task::JoinError>) -> String {
    match res {
        Ok(()) => "it returned".into(),
        Err(e) if e.is_panic() => format!("panic: {}", dispatch::panic_message(e.into_panic().as_ref())),
        Err(e) => e.to_string(),
    }
}

#[cfg(test)]
mod flag_tests {
    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        opts: super::Options,
    }

    #[test]
    fn namespaces_take_upstreams_comma_list_or_repeats() {
        let ns = |args: &[&str]| Cli::try_parse_from([&["signer"], args].concat()).unwrap().opts.namespaces;
        assert_eq!(ns(&["--namespace", "a,b"]), ["a", "b"]);
        assert_eq!(ns(&["--namespace=a", "--namespace", "b,c"]), ["a", "b", "c"]);
        assert!(ns(&[]).is_empty(), "all namespaces");
    }
}
