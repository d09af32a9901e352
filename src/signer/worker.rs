//! Signs one finished run: payloads → signatures → one annotation patch.
//! Failures count in `chains.tekton.dev/retries`, then end in `signed=failed`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use kube::runtime::events::{Event, EventType, Recorder};
use serde_json::{Value, json};
use tokio::sync::watch;
use tracing::{info, warn};

use super::metrics::Metrics;
use super::plan::{self, RETRIES, SIGNED};
use crate::config::ChainsConfig;
use crate::formats::{self, Run, RunKind};
use crate::signing::KeyDir;

/// How long after a PipelineRun completes a missing child TaskRun is waited for.
pub const MISSING_CHILD_GRACE_SECS: f64 = 60.0;

/// Seconds since an RFC 3339 time (infinite when absent or unreadable).
fn seconds_since(t: Option<&str>) -> f64 {
    t.and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
        .and_then(|t| (k8s_openapi::jiff::Timestamp::now() - t).total(k8s_openapi::jiff::Unit::Second).ok())
        .unwrap_or(f64::INFINITY)
}

/// Failures before a run is marked `signed=failed`.
pub const MAX_RETRIES: u32 = 3;

/// Everything a worker needs.
pub struct Ctx {
    pub client: kube::Client,
    pub config: watch::Receiver<Arc<ChainsConfig>>,
    pub keys: Arc<KeyDir>,
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
    /// Nothing to do (already signed, gone, or someone else's change won).
    Skipped,
}

/// The finalizer Chains keeps on a run until it is signed.
pub fn finalizer(kind: RunKind) -> &'static str {
    match kind {
        RunKind::TaskRun => "chains.tekton.dev/taskrun",
        RunKind::PipelineRun => "chains.tekton.dev/pipelinerun",
    }
}

pub fn api_resource(kind: RunKind) -> ApiResource {
    let gvk = kube::core::GroupVersionKind::gvk("tekton.dev", "v1", kind.kind());
    ApiResource::from_gvk_with_plural(&gvk, &format!("{}s", kind.lower()))
}

fn api(ctx: &Ctx, kind: RunKind, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(ctx.client.clone(), ns, &api_resource(kind))
}

/// Signs `obj` (a finished run as JSON) and writes the result in one patch.
pub async fn process(ctx: &Ctx, kind: RunKind, obj: &Value) -> Outcome {
    let run = Run::new(kind, obj);
    let (ns, name) = (run.namespace().to_string(), run.name().to_string());
    if !plan::needs_signing(&run) {
        return Outcome::Skipped;
    }
    let children = match kind {
        RunKind::PipelineRun => match children(ctx, &run).await {
            Ok(c) => c,
            Err(wait) => return wait,
        },
        RunKind::TaskRun => Vec::new(),
    };
    let config = ctx.config.borrow().clone();
    let artifacts = formats::detect(&run);
    if !artifacts.warnings.is_empty() {
        let note = artifacts.warnings.iter().map(|w| format!("result {}: {}", w.result, w.reason)).collect::<Vec<_>>();
        warn!(namespace = %ns, name = %name, uid = run.uid(), warnings = ?note, "skipping malformed results");
        event(ctx, &run, EventType::Warning, "MalformedResult", note.join("; ")).await;
    }
    let signables = match plan::plan(&run, &config, &artifacts, &children) {
        Ok(s) => s,
        Err(e) => return failure(ctx, &run, &e.to_string()).await,
    };
    let annotations = if signables.is_empty() {
        BTreeMap::new()
    } else {
        let key = match ctx.keys.current() {
            Ok(k) => k,
            Err(e) => return failure(ctx, &run, &e.to_string()).await,
        };
        let counters = ctx.metrics.for_kind(kind);
        for _ in &signables {
            counters.sign_created.inc();
        }
        plan::sign_into_annotations(&signables, &key.key)
    };
    let stored = signables.len();
    let mut annotations = annotations;
    annotations.insert(SIGNED.into(), "true".into());
    match patch(ctx, &run, annotations).await {
        Ok(()) => {
            let counters = ctx.metrics.for_kind(kind);
            counters.payload_stored.inc_by(stored as u64);
            counters.marked_signed.inc();
            if let Some(done) =
                run.status()["completionTime"].as_str().and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
            {
                let secs =
                    (k8s_openapi::jiff::Timestamp::now() - done).total(k8s_openapi::jiff::Unit::Second).unwrap_or(0.0);
                ctx.metrics.sign_latency.observe(secs.max(0.0));
            }
            info!(namespace = %ns, name = %name, uid = run.uid(), kind = kind.kind(), payloads = stored, "signed");
            Outcome::Signed
        }
        Err(PatchError::Conflict) => Outcome::Skipped,
        Err(PatchError::Other(e)) => failure(ctx, &run, &e).await,
    }
}

/// The finished child TaskRuns, or how long to wait until they are signed.
async fn children(ctx: &Ctx, run: &Run<'_>) -> Result<Vec<Value>, Outcome> {
    let refs = run.status()["childReferences"].as_array().cloned().unwrap_or_default();
    let api = api(ctx, RunKind::TaskRun, run.namespace());
    let mut out = Vec::new();
    for r in refs.iter().filter(|r| r["kind"] == "TaskRun") {
        let Some(child_name) = r["name"].as_str() else { continue };
        match api.get_opt(child_name).await {
            Ok(Some(child)) => {
                let v = serde_json::to_value(child).unwrap_or_default();
                let c = Run::new(RunKind::TaskRun, &v);
                if c.finished().is_none() || plan::needs_signing(&c) {
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

/// Counts a failure; after [`MAX_RETRIES`] marks the run failed with a Warning Event.
async fn failure(ctx: &Ctx, run: &Run<'_>, cause: &str) -> Outcome {
    ctx.metrics.for_kind(run.kind).signing_failures.inc();
    let retries: u32 = run.annotation(RETRIES).and_then(|r| r.parse().ok()).unwrap_or(0) + 1;
    let (ns, name, uid) = (run.namespace(), run.name(), run.uid());
    let mut annotations = BTreeMap::from([(RETRIES.to_string(), retries.to_string())]);
    if retries >= MAX_RETRIES {
        annotations.insert(SIGNED.into(), "failed".into());
        warn!(namespace = ns, name, uid, retries, cause, "signing failed; marked signed=failed");
        event(ctx, run, EventType::Warning, "SigningFailed", format!("giving up after {retries} attempts: {cause}"))
            .await;
    } else {
        warn!(namespace = ns, name, uid, retries, cause, "signing failed; will retry");
    }
    match patch(ctx, run, annotations).await {
        Ok(()) if retries >= MAX_RETRIES => Outcome::Failed,
        Ok(()) => Outcome::Retry(ctx.backoff * 2u32.pow(retries - 1)),
        Err(PatchError::Conflict) => Outcome::Skipped,
        Err(PatchError::Other(_)) => Outcome::Retry(ctx.backoff * 2u32.pow(retries)),
    }
}

enum PatchError {
    /// The run changed meanwhile (or is gone): the newer version decides.
    Conflict,
    Other(String),
}

/// One merge patch: annotations, plus dropping our finalizer once the run is
/// done with (signed or failed). resourceVersion makes it conditional, so a
/// run is never signed twice.
async fn patch(ctx: &Ctx, run: &Run<'_>, annotations: BTreeMap<String, String>) -> Result<(), PatchError> {
    let body = patch_body(run, annotations);
    ctx.metrics.api_writes.inc();
    let api = api(ctx, run.kind, run.namespace());
    match api.patch(run.name(), &PatchParams::default(), &Patch::Merge(&body)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 || e.code == 404 => Err(PatchError::Conflict),
        Err(e) => {
            Err(PatchError::Other(format!("patching {} {}/{}: {e}", run.kind.kind(), run.namespace(), run.name())))
        }
    }
}

/// The merge patch for [`patch`] (pure, for tests).
pub fn patch_body(run: &Run, annotations: BTreeMap<String, String>) -> Value {
    let done = annotations.get(SIGNED).is_some_and(|v| v == "true" || v == "failed");
    let mut meta = json!({
        "resourceVersion": run.obj["metadata"]["resourceVersion"],
        "annotations": annotations,
    });
    let fin = finalizer(run.kind);
    let finalizers: Vec<&str> =
        run.obj["metadata"]["finalizers"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    if done && finalizers.contains(&fin) {
        meta["finalizers"] = json!(finalizers.into_iter().filter(|f| *f != fin).collect::<Vec<_>>());
    }
    json!({ "metadata": meta })
}

/// Adds our finalizer to a running run, so it cannot vanish before it is signed.
pub async fn add_finalizer(ctx: &Ctx, kind: RunKind, obj: &Value) {
    set_finalizer(ctx, kind, obj, true).await
}

/// Drops our finalizer (a run being deleted before it finished, or one already signed).
pub async fn remove_finalizer(ctx: &Ctx, kind: RunKind, obj: &Value) {
    set_finalizer(ctx, kind, obj, false).await
}

/// One conditional patch of `metadata.finalizers`, with ours added or removed.
async fn set_finalizer(ctx: &Ctx, kind: RunKind, obj: &Value, present: bool) {
    let run = Run::new(kind, obj);
    let fin = finalizer(kind);
    let mut finalizers: Vec<&str> = obj["metadata"]["finalizers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|f| *f != fin)
        .collect();
    if present {
        finalizers.push(fin);
    }
    let body =
        json!({ "metadata": { "resourceVersion": obj["metadata"]["resourceVersion"], "finalizers": finalizers } });
    ctx.metrics.api_writes.inc();
    let api = api(ctx, kind, run.namespace());
    if let Err(e) = api.patch(run.name(), &PatchParams::default(), &Patch::Merge(&body)).await {
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
