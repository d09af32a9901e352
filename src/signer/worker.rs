//! Signs one finished run: plan → pipeline (sign, log, store) → one
//! annotation patch. Failures count in `chains.tekton.dev/retries`; a
//! retryable one is tried again with backoff, then ends in `signed=failed`;
//! a permanent one (an unsupported backend) ends `failed` at once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use serde_json::{Value, json};
use tokio::sync::watch;
use tracing::{info, warn};

use super::error::Error;
use super::metrics::Metrics;
use super::pipeline::Pipeline;
use crate::formats::{self, Run, RunKind};
use crate::tekton::annotations::{RETRIES, SIGNED, is_settled};

/// How long after a PipelineRun completes a missing child TaskRun is waited for.
pub const MISSING_CHILD_GRACE_SECS: f64 = 60.0;

/// Failures before a run is marked `signed=failed`.
pub const MAX_RETRIES: u32 = 3;

/// Everything a worker needs.
pub struct Ctx {
    pub client: kube::Client,
    /// The pipeline of the current chains-config.
    pub pipeline: watch::Receiver<Arc<Pipeline>>,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    /// First retry delay; doubles per retry.
    pub backoff: Duration,
}

/// What happened to a run.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Signed,
    /// A retryable failure; try again after this delay.
    Retry(Duration),
    Failed,
    /// Waiting for child TaskRuns; look again after this delay.
    Wait(Duration),
    /// The run changed under us: look at its latest version.
    Conflict,
    /// Nothing to do (already signed, or gone).
    Skipped,
}

/// The API of one kind of run in one namespace.
pub fn runs(client: &kube::Client, kind: RunKind, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &kind.api_resource())
}

/// True when the run is finished and not yet signed (nor given up on).
pub fn needs_signing(run: &Run) -> bool {
    run.finished().is_some() && !is_settled(run.annotation(SIGNED))
}

/// Seconds since an RFC 3339 time (infinite when absent or unreadable).
fn seconds_since(t: Option<&str>) -> f64 {
    t.and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
        .and_then(|t| (k8s_openapi::jiff::Timestamp::now() - t).total(k8s_openapi::jiff::Unit::Second).ok())
        .unwrap_or(f64::INFINITY)
}

/// Signs `obj` (a finished run as JSON) and writes the result in one patch.
pub async fn process(ctx: &Ctx, kind: RunKind, obj: &Value) -> Outcome {
    let run = Run::new(kind, obj);
    if !needs_signing(&run) {
        return Outcome::Skipped;
    }
    let children = match kind {
        RunKind::PipelineRun => match children(ctx, &run).await {
            Ok(c) => c,
            Err(wait) => return wait,
        },
        RunKind::TaskRun => Vec::new(),
    };
    let pipeline = ctx.pipeline.borrow().clone();
    let artifacts = formats::detect(&run);
    if !artifacts.warnings.is_empty() {
        let note = artifacts.warnings.iter().map(|w| format!("result {}: {}", w.result, w.reason)).collect::<Vec<_>>();
        warn!(namespace = run.namespace(), name = run.name(), uid = run.uid(), warnings = ?note, "skipping malformed results");
        event(ctx, &run, EventType::Warning, "MalformedResult", note.join("; ")).await;
    }
    let payloads = match pipeline.plan(&run, &artifacts, &children) {
        Ok(p) => p,
        Err(e) => return failure(ctx, &run, e, BTreeMap::new()).await,
    };
    let done = match pipeline.execute(&run, payloads).await {
        Ok(d) => d,
        Err(f) => return failure(ctx, &run, f.error, f.annotations).await,
    };
    let counters = ctx.metrics.for_kind(kind);
    counters.sign_created.inc_by(done.signed as u64);
    counters.payload_uploaded.inc_by(done.uploaded as u64);
    let mut annotations = done.annotations;
    annotations.insert(SIGNED.into(), "true".into());
    match patch(ctx, &run, annotations).await {
        Ok(()) => {
            counters.payload_stored.inc_by(done.stored as u64);
            counters.marked_signed.inc();
            let secs = seconds_since(run.status()["completionTime"].as_str());
            if secs.is_finite() {
                ctx.metrics.sign_latency.observe(secs.max(0.0));
            }
            info!(
                namespace = run.namespace(),
                name = run.name(),
                uid = run.uid(),
                kind = kind.kind(),
                payloads = done.signed,
                "signed"
            );
            Outcome::Signed
        }
        Err(PatchError::Conflict) => Outcome::Conflict,
        Err(PatchError::Gone) => Outcome::Skipped,
        Err(PatchError::Other(e)) => failure(ctx, &run, e, BTreeMap::new()).await,
    }
}

/// The finished child TaskRuns, or how long to wait until they are signed.
async fn children(ctx: &Ctx, run: &Run<'_>) -> Result<Vec<Value>, Outcome> {
    let refs = run.status()["childReferences"].as_array().cloned().unwrap_or_default();
    let api = runs(&ctx.client, RunKind::TaskRun, run.namespace());
    let mut out = Vec::new();
    for r in refs.iter().filter(|r| r["kind"] == "TaskRun") {
        let Some(child_name) = r["name"].as_str() else { continue };
        match api.get_opt(child_name).await {
            Ok(Some(child)) => {
                let v = serde_json::to_value(child).unwrap_or_default();
                let c = Run::new(RunKind::TaskRun, &v);
                if c.finished().is_none() || needs_signing(&c) {
                    return Err(Outcome::Wait(Duration::from_millis(500)));
                }
                out.push(v);
            }
            // A child not there yet holds the PipelineRun back for a while; a
            // deleted (pruned) one cannot hold it back forever.
            Ok(None) if seconds_since(run.status()["completionTime"].as_str()) < MISSING_CHILD_GRACE_SECS => {
                return Err(Outcome::Wait(Duration::from_millis(500)));
            }
            Ok(None) => {
                warn!(
                    namespace = run.namespace(),
                    name = run.name(),
                    child = child_name,
                    "child TaskRun not found; signing without it"
                );
            }
            Err(e) => {
                warn!(namespace = run.namespace(), name = run.name(), child = child_name, error = %e, "reading child TaskRun");
                return Err(Outcome::Wait(Duration::from_secs(2)));
            }
        }
    }
    Ok(out)
}

/// Counts a failure. A retryable one is tried again after a backoff until
/// [`MAX_RETRIES`]; then, or at once for a permanent one, the run is marked
/// `signed=failed` with a Warning Event naming the cause. `stored` are the
/// annotations of backends that did store their part; they go out in the
/// same patch.
async fn failure(ctx: &Ctx, run: &Run<'_>, cause: Error, stored: BTreeMap<String, String>) -> Outcome {
    ctx.metrics.failure(run.kind, cause.metric_label());
    let retries: u32 = run.annotation(RETRIES).and_then(|r| r.parse().ok()).unwrap_or(0) + 1;
    let give_up = retries >= MAX_RETRIES || !cause.retryable();
    let (ns, name, uid) = (run.namespace(), run.name(), run.uid());
    let reason = cause.metric_label();
    let mut annotations = stored;
    annotations.insert(RETRIES.to_string(), retries.to_string());
    if give_up {
        annotations.insert(SIGNED.into(), "failed".into());
        warn!(namespace = ns, name, uid, retries, reason, cause = %cause, "signing failed; marked signed=failed");
        let note = if cause.retryable() {
            format!("giving up after {retries} attempts: {cause}")
        } else {
            format!("giving up (retrying cannot help): {cause}")
        };
        event(ctx, run, EventType::Warning, "SigningFailed", note).await;
    } else {
        warn!(namespace = ns, name, uid, retries, reason, cause = %cause, "signing failed; will retry");
    }
    match patch(ctx, run, annotations).await {
        Ok(()) if give_up => Outcome::Failed,
        Ok(()) => Outcome::Retry(ctx.backoff * 2u32.pow(retries - 1)),
        Err(PatchError::Conflict) => Outcome::Conflict,
        Err(PatchError::Gone) => Outcome::Skipped,
        Err(PatchError::Other(_)) => Outcome::Retry(ctx.backoff * 2u32.pow(retries.min(8))),
    }
}

enum PatchError {
    /// The run changed meanwhile: the newer version decides.
    Conflict,
    /// The run is gone.
    Gone,
    Other(Error),
}

/// One merge patch: annotations, plus dropping our finalizer once the run is
/// done with (signed or failed). resourceVersion makes it conditional, so a
/// run is never signed twice.
async fn patch(ctx: &Ctx, run: &Run<'_>, annotations: BTreeMap<String, String>) -> Result<(), PatchError> {
    let body = patch_body(run, annotations);
    ctx.metrics.api_writes.inc();
    let api = runs(&ctx.client, run.kind, run.namespace());
    match api.patch(run.name(), &PatchParams::default(), &Patch::Merge(&body)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Err(PatchError::Conflict),
        Err(kube::Error::Api(e)) if e.code == 404 => Err(PatchError::Gone),
        Err(source) => Err(PatchError::Other(Error::Kube { action: "patching", run: describe(run), source })),
    }
}

/// `Kind namespace/name`.
fn describe(run: &Run) -> String {
    format!("{} {}/{}", run.kind.kind(), run.namespace(), run.name())
}

/// The merge patch for [`patch`] (pure, for tests).
pub fn patch_body(run: &Run, annotations: BTreeMap<String, String>) -> Value {
    let done = is_settled(annotations.get(SIGNED).map(String::as_str));
    let mut meta = json!({
        "resourceVersion": run.obj["metadata"]["resourceVersion"],
        "annotations": annotations,
    });
    if let Some(kept) = finalizers_with(run.obj, run.kind.finalizer(), false).filter(|_| done) {
        meta["finalizers"] = json!(kept);
    }
    json!({ "metadata": meta })
}

/// The run's finalizers with ours added (`present`) or removed, or `None`
/// when that changes nothing.
pub fn finalizers_with<'a>(obj: &'a Value, ours: &'a str, present: bool) -> Option<Vec<&'a str>> {
    let all: Vec<&str> =
        obj["metadata"]["finalizers"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    if all.contains(&ours) == present {
        return None;
    }
    let mut out: Vec<&str> = all.into_iter().filter(|f| *f != ours).collect();
    if present {
        out.push(ours);
    }
    Some(out)
}

/// One conditional patch of `metadata.finalizers`, with ours added or removed.
pub async fn set_finalizer(client: &kube::Client, metrics: &Metrics, kind: RunKind, obj: &Value, present: bool) {
    let run = Run::new(kind, obj);
    let Some(finalizers) = finalizers_with(obj, kind.finalizer(), present) else { return };
    let body =
        json!({ "metadata": { "resourceVersion": obj["metadata"]["resourceVersion"], "finalizers": finalizers } });
    metrics.api_writes.inc();
    if let Err(e) =
        runs(client, kind, run.namespace()).patch(run.name(), &PatchParams::default(), &Patch::Merge(&body)).await
    {
        // A conflict means a newer version will come through the watch.
        tracing::debug!(namespace = run.namespace(), name = run.name(), present, error = %e, "updating finalizer");
    }
}

async fn event(ctx: &Ctx, run: &Run<'_>, type_: EventType, reason: &str, note: String) {
    let reference = k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some("tekton.dev/v1".into()),
        kind: Some(run.kind.kind().into()),
        name: Some(run.name().into()),
        namespace: Some(run.namespace().into()),
        uid: Some(run.uid().into()),
        resource_version: run.obj["metadata"]["resourceVersion"].as_str().map(String::from),
        ..Default::default()
    };
    let ev = Event { type_, reason: reason.into(), note: Some(note), action: "Sign".into(), secondary: None };
    ctx.metrics.api_writes.inc();
    if let Err(e) = ctx.recorder.publish(&ev, &reference).await {
        warn!(namespace = run.namespace(), name = run.name(), error = %e, "recording event");
    }
}
