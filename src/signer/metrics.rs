//! The signer's Prometheus metrics: upstream's `watcher_*` names, plus
//! failures by reason, API writes and timings.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::seam::{BackendFailure, BackendLabel, Env};
use crate::tekton::RunKind;

/// Labels of `signing_failures_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct FailureLabels {
    /// `taskrun` or `pipelinerun`.
    pub kind: &'static str,
    /// The error's metric label (`key_missing`, `unsupported`, `storage`, …).
    pub reason: &'static str,
}

/// Counters for one kind of run (`watcher_<kind>_*_total`).
#[derive(Default, Clone)]
pub struct RunCounters {
    pub sign_created: Counter,
    pub payload_uploaded: Counter,
    pub payload_stored: Counter,
    pub marked_signed: Counter,
    pub signing_failures: Counter,
    /// Runs marked signed whose stored signature did not verify (re-signed).
    pub unverified_signed: Counter,
}

/// All signer metrics.
pub struct Metrics {
    pub taskrun: RunCounters,
    pub pipelinerun: RunCounters,
    /// API writes (patches, events) the signer made: the per-run cost.
    pub api_writes: Counter,
    /// Seconds from a run's completion to its signed patch.
    pub sign_latency: Histogram,
    /// Seconds spent processing one run (payloads, signing, the patch).
    pub reconcile_duration: Histogram,
    /// Failed attempts by run kind and reason.
    pub failures: Family<FailureLabels, Counter>,
    /// Runs waiting in the queue (ready, delayed or being signed).
    pub queue_depth: Gauge,
    /// ServiceAccount and Secret reads for registry credentials.
    pub secret_reads: Counter,
    /// Signature and attestation manifests pushed to registries.
    pub registry_pushes: Counter,
    /// HTTP requests to transparency logs (Rekor).
    pub transparency_requests: Counter,
    pub kms_requests: Counter,
    /// Certificate requests to Fulcio (keyless signing).
    pub fulcio_requests: Counter,
    /// Storage failures by backend (its registry name) and reason.
    pub storage_failures: Family<BackendFailure, Counter>,
    /// Requests to the other storage backends (gcs, …), by backend.
    pub storage_requests: Family<BackendLabel, Counter>,
    /// 1 while a valid chains-config is loaded (0: nothing is signed).
    pub config_loaded: Gauge,
    /// Jobs that panicked (their runs end signed=failed; the worker goes on).
    pub panics: Counter,
    /// Workers restarted after dying outside a job.
    pub worker_restarts: Counter,
    /// Final patches refused because the run changed meanwhile (retried with the same result).
    pub patch_conflicts: Counter,
    registry: Registry,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::default();
        let taskrun = RunCounters::default();
        let pipelinerun = RunCounters::default();
        for (kind, c) in [("taskrun", &taskrun), ("pipelinerun", &pipelinerun)] {
            let add = |r: &mut Registry, name: &str, help: String, counter: &Counter| {
                r.register(format!("watcher_{kind}_{name}"), help, counter.clone());
            };
            add(&mut registry, "sign_created", format!("Total number of signed messages for {kind}s"), &c.sign_created);
            add(
                &mut registry,
                "payload_uploaded",
                format!("Total number of uploaded payloads for {kind}s"),
                &c.payload_uploaded,
            );
            add(
                &mut registry,
                "payload_stored",
                format!("Total number of stored payloads for {kind}s"),
                &c.payload_stored,
            );
            add(
                &mut registry,
                "marked_signed",
                format!("Total number of objects marked as signed for {kind}s"),
                &c.marked_signed,
            );
            add(
                &mut registry,
                "unverified_signed",
                format!("Total number of {kind}s marked signed whose signature did not verify, signed again"),
                &c.unverified_signed,
            );
            add(
                &mut registry,
                "signing_failures",
                format!("Total number of {kind} signing failures"),
                &c.signing_failures,
            );
        }
        let api_writes = Counter::default();
        registry.register("signer_api_writes", "API write calls made by the signer", api_writes.clone());
        let sign_latency = Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0]);
        registry.register(
            "watcher_sign_latency_seconds",
            "Seconds from run completion to signed",
            sign_latency.clone(),
        );
        let reconcile_duration = Histogram::new([0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0]);
        registry.register(
            "watcher_reconcile_duration_seconds",
            "Seconds spent processing one run",
            reconcile_duration.clone(),
        );
        let failures = Family::<FailureLabels, Counter>::default();
        registry.register("signing_failures", "Failed signing attempts by run kind and reason", failures.clone());
        let queue_depth = Gauge::default();
        registry.register("signer_queue_depth", "Runs waiting to be signed", queue_depth.clone());
        let secret_reads = Counter::default();
        registry.register(
            "signer_secret_reads",
            "ServiceAccount and Secret reads for registry credentials",
            secret_reads.clone(),
        );
        let registry_pushes = Counter::default();
        registry.register(
            "signer_registry_pushes",
            "Signature and attestation manifests pushed to registries",
            registry_pushes.clone(),
        );
        let transparency_requests = Counter::default();
        registry.register(
            "signer_transparency_requests",
            "HTTP requests to transparency logs (Rekor)",
            transparency_requests.clone(),
        );
        let kms_requests = Counter::default();
        registry.register(
            "signer_kms_requests",
            "HTTP requests to KMS servers (signatures, public keys, logins)",
            kms_requests.clone(),
        );
        let fulcio_requests = Counter::default();
        registry.register(
            "signer_fulcio_requests",
            "Certificate requests to Fulcio (keyless signing)",
            fulcio_requests.clone(),
        );
        let storage_failures = Family::<BackendFailure, Counter>::default();
        registry.register(
            "signer_storage_failures",
            "Artifacts a storage backend could not store, by backend and reason",
            storage_failures.clone(),
        );
        let storage_requests = Family::<BackendLabel, Counter>::default();
        registry.register(
            "signer_storage_requests",
            "Requests to storage backends other than tekton and oci, by backend",
            storage_requests.clone(),
        );
        let config_loaded = Gauge::default();
        registry.register("signer_config_loaded", "1 while a valid chains-config is loaded", config_loaded.clone());
        let panics = Counter::default();
        registry.register("signer_job_panics", "Signing jobs that panicked (run marked failed)", panics.clone());
        let worker_restarts = Counter::default();
        registry.register("signer_worker_restarts", "Signing workers restarted", worker_restarts.clone());
        let patch_conflicts = Counter::default();
        registry.register(
            "signer_patch_conflicts",
            "Run patches that conflicted with an edit (written again, never signed again)",
            patch_conflicts.clone(),
        );
        Arc::new(Self {
            patch_conflicts,
            config_loaded,
            panics,
            worker_restarts,
            taskrun,
            pipelinerun,
            api_writes,
            sign_latency,
            reconcile_duration,
            failures,
            queue_depth,
            secret_reads,
            registry_pushes,
            transparency_requests,
            kms_requests,
            fulcio_requests,
            storage_failures,
            storage_requests,
            registry,
        })
    }

    /// The `watcher_<kind>_*` counters of a run kind.
    pub fn for_kind(&self, kind: RunKind) -> &RunCounters {
        match kind {
            RunKind::TaskRun => &self.taskrun,
            RunKind::PipelineRun => &self.pipelinerun,
        }
    }

    /// Counts one failed attempt in both the kind's counter and by reason.
    pub fn failure(&self, kind: RunKind, reason: &'static str) {
        self.for_kind(kind).signing_failures.inc();
        self.failures.get_or_create(&FailureLabels { kind: kind.lower(), reason }).inc();
    }

    /// The environment the seams' factories are made from, counting into
    /// these metrics.
    pub fn env(&self, client: Option<kube::Client>, signing_secrets_dir: &std::path::Path) -> Env {
        Env {
            client,
            signing_secrets_dir: signing_secrets_dir.to_path_buf(),
            secret_reads: self.secret_reads.clone(),
            registry_pushes: self.registry_pushes.clone(),
            transparency_requests: self.transparency_requests.clone(),
            kms_requests: self.kms_requests.clone(),
            fulcio_requests: self.fulcio_requests.clone(),
            storage_failures: self.storage_failures.clone(),
            storage_requests: self.storage_requests.clone(),
            ..Env::default()
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("metrics encode");
        out
    }
}
