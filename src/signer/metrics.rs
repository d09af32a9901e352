//! Prometheus metrics (upstream's names) and the HTTP endpoints
//! `/metrics`, `/healthz` and `/readyz`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing::warn;

/// Counters for one kind of run (`watcher_<kind>_*_total`).
#[derive(Default, Clone)]
pub struct RunCounters {
    pub sign_created: Counter,
    pub payload_uploaded: Counter,
    pub payload_stored: Counter,
    pub marked_signed: Counter,
    pub signing_failures: Counter,
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
        Arc::new(Self { taskrun, pipelinerun, api_writes, sign_latency, reconcile_duration, registry })
    }

    pub fn for_kind(&self, kind: crate::formats::RunKind) -> &RunCounters {
        match kind {
            crate::formats::RunKind::TaskRun => &self.taskrun,
            crate::formats::RunKind::PipelineRun => &self.pipelinerun,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("metrics encode");
        out
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` (ready once `ready` is set).
pub async fn serve(addr: String, metrics: Arc<Metrics>, ready: Arc<AtomicBool>) -> std::io::Result<()> {
    let listener = TcpListener::bind(&addr).await?;
    loop {
        let (mut sock, _) = listener.accept().await?;
        let (metrics, ready) = (metrics.clone(), ready.clone());
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let n = sock.read(&mut buf).await.unwrap_or(0);
            let path = std::str::from_utf8(&buf[..n]).ok().and_then(|r| r.split_whitespace().nth(1)).unwrap_or("/");
            let (status, body) = match path {
                "/metrics" => ("200 OK", metrics.render()),
                "/healthz" => ("200 OK", "ok".to_string()),
                "/readyz" if ready.load(Ordering::Relaxed) => ("200 OK", "ok".to_string()),
                "/readyz" => ("503 Service Unavailable", "not ready".to_string()),
                _ => ("404 Not Found", "not found".to_string()),
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            if let Err(e) = sock.write_all(resp.as_bytes()).await {
                warn!(error = %e, "metrics response failed");
            }
        });
    }
}
