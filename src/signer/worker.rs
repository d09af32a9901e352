//! Signs one finished run: snapshot → plan → pipeline (sign, log, store) →
//! one annotation patch.
//!
//! - The signed result of a run version is remembered ([`RunMemory`]) until
//!   it is written, so a patch that conflicts (the run was edited meanwhile)
//!   is retried with the same result, with backoff and a cap, and never
//!   signs, logs or pushes again.
//! - Failures count in `chains.tekton.dev/retries` and in memory (so the
//!   count grows even when the annotation cannot be written). A retryable
//!   failure is tried again with backoff, up to [`MAX_RETRIES`] attempts
//!   ([`MAX_UNAVAILABLE_RETRIES`] while a remote is down); then, or at once
//!   for a permanent one, the run ends `signed=failed` with an Event. When
//!   even that cannot be written, the run is given up on in memory, with an
//!   Event, and never tried again by this process.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::events::{EventType, Recorder};
use serde_json::{Value, json};
use tokio::sync::watch;
use tracing::{info, warn};

use super::error::Error;
use super::events;
use super::memory::{self, Pending, RunMemory, RunState};
use super::metrics::Metrics;
use super::pipeline::{Done, Pipeline};
use crate::formats::{self, Run, RunKind};
use crate::tekton::annotations::{RETRIES, SIGNED, is_settled};

/// How long after a PipelineRun completes a missing child TaskRun is waited for.
pub const MISSING_CHILD_GRACE_SECS: f64 = 60.0;
/// Failed attempts before a run is marked `signed=failed`.
pub const MAX_RETRIES: u32 = 3;
/// Failed attempts allowed while the failures are a remote being down.
pub const MAX_UNAVAILABLE_RETRIES: u32 = 10;
/// Conflicting patches of one attempt before it counts as failed.
pub const MAX_CONFLICTS: u32 = 10;
/// The longest wait between attempts, as a multiple of the first (5 s → 60 s).
pub const MAX_BACKOFF_FACTOR: u32 = 12;
/// The wait after a failure to settle a run that panicked or timed out.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Everything a worker needs.
pub struct Ctx {
    pub client: kube::Client,
    /// The pipeline of the current chains-config; `None` while there is no
    /// valid config (nothing is signed then).
    pub pipeline: watch::Receiver<Option<Arc<Pipeline>>>,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    /// First retry delay; doubles per retry.
    pub backoff: Duration,
    pub memory: Arc<RunMemory>,
}

/// What happened to a run.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Signed,
    /// A retryable failure, or a conflicting patch: look again after this delay.
    Retry(Duration),
    Failed,
    /// Waiting (for child TaskRuns, or for a valid config); look again after this delay.
    Wait(Duration),
    /// Nothing to do (already signed, given up on, or gone).
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

/// The delay before attempt `attempts + 1`: `base`, doubling, at most
/// [`MAX_BACKOFF_FACTOR`] times `base`.
pub fn backoff(base: Duration, attempts: u32) -> Duration {
    base.saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1).min(16)))
        .min(base.saturating_mul(MAX_BACKOFF_FACTOR))
}

/// The delay after the `n`th conflicting patch: 50 ms, doubling, at most 5 s.
pub fn conflict_delay(n: u32) -> Duration {
    Duration::from_millis(50)
        .saturating_mul(2u32.saturating_pow(n.saturating_sub(1).min(7)))
        .min(Duration::from_secs(5))
}

/// The `chains.tekton.dev/retries` count a run carries (junk reads as 0,
/// huge values as `u32::MAX`).
pub fn retries_of(run: &Run) -> u32 {
    run.annotation(RETRIES).and_then(|r| r.trim().parse::<u64>().ok()).map_or(0, |n| n.min(u32::MAX as u64) as u32)
}

/// Signs `obj` (a finished run as JSON) and writes the result in one patch.
pub async fn process(ctx: &Ctx, kind: RunKind, obj: &Value) -> Outcome {
    let run = Run::new(kind, obj);
    let Some(pipeline) = ctx.pipeline.borrow().clone() else {
        return Outcome::Wait(Duration::from_secs(1));
    };
    if run.finished().is_none() {
        return Outcome::Skipped;
    }
    let state = ctx.memory.get(run.uid());
    match run.annotation(SIGNED) {
        Some("failed") => return Outcome::Skipped,
        Some("true") => {
            if !pipeline.config.verify_before_skip || state.verified.as_deref() == resource_version(&run) {
                return Outcome::Skipped;
            }
            match super::verify::check(ctx, &pipeline, &run).await {
                Ok(()) => {
                    let rv = resource_version(&run).map(str::to_string);
                    ctx.memory.update(run.uid(), |s| s.verified = rv);
                    return Outcome::Skipped;
                }
                Err(super::verify::Unverified::Wait(o)) => return o,
                Err(super::verify::Unverified::Bad(_)) if state.flagged.as_deref() == resource_version(&run) => {}
                Err(super::verify::Unverified::Bad(why)) => {
                    let rv = resource_version(&run).map(str::to_string);
                    ctx.memory.update(run.uid(), |s| s.flagged = rv);
                    ctx.metrics.for_kind(kind).unverified_signed.inc();
                    let note = format!("chains.tekton.dev/signed=true, but {why}; signing the run again");
                    warn!(
                        namespace = run.namespace(),
                        name = run.name(),
                        uid = run.uid(),
                        why,
                        "signed mark does not verify"
                    );
                    event(ctx, &run, EventType::Warning, "SignatureNotVerified", &note).await;
                }
            }
        }
        _ => {}
    }
    if state.gave_up {
        return Outcome::Skipped;
    }
    let children = match kind {
        RunKind::PipelineRun => match children(ctx, &run).await {
            Ok(c) => c,
            Err(wait) => return wait,
        },
        RunKind::TaskRun => Vec::new(),
    };
    let snapshot = memory::snapshot(obj);
    let done = match state.pending.as_ref().filter(|p| p.snapshot == snapshot) {
        // Signed already: only the patch is left to do.
        Some(p) => p.done.clone(),
        None => match sign(ctx, &pipeline, &run, &state, &children).await {
            Ok(done) => {
                let counters = ctx.metrics.for_kind(kind);
                counters.sign_created.inc_by(done.signed as u64);
                counters.payload_uploaded.inc_by(done.uploaded as u64);
                let pending = Arc::new(Pending { snapshot, done: done.clone() });
                ctx.memory.update(run.uid(), |s| s.pending = Some(pending));
                done
            }
            Err(outcome) => return outcome,
        },
    };
    let mut annotations = done.annotations.clone();
    annotations.insert(SIGNED.into(), "true".into());
    match patch(ctx, &run, annotations).await {
        Ok(rv) => {
            let counters = ctx.metrics.for_kind(kind);
            counters.payload_stored.inc_by(done.stored as u64);
            counters.marked_signed.inc();
            let secs = seconds_since(run.status()["completionTime"].as_str());
            if secs.is_finite() {
                ctx.metrics.sign_latency.observe(secs.max(0.0));
            }
            // Only what tells our own patch's echo from a forged mark is kept.
            ctx.memory.update(run.uid(), |s| *s = RunState { verified: rv, ..Default::default() });
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
        Err(PatchError::Conflict) => conflict(ctx, &run).await,
        Err(PatchError::Gone) => {
            ctx.memory.forget(run.uid());
            Outcome::Skipped
        }
        Err(PatchError::Other(e)) => failure(ctx, &run, e, BTreeMap::new()).await,
    }
}

/// Plans and executes the run's payloads; a failure is settled here.
async fn sign(
    ctx: &Ctx,
    pipeline: &Pipeline,
    run: &Run<'_>,
    state: &RunState,
    children: &[Value],
) -> Result<Done, Outcome> {
    let artifacts = formats::detect(run);
    if !artifacts.warnings.is_empty() && state.attempts == 0 {
        let note = artifacts.warnings.iter().map(|w| format!("result {}: {}", w.result, w.reason)).collect::<Vec<_>>();
        warn!(namespace = run.namespace(), name = run.name(), uid = run.uid(), warnings = ?note, "skipping malformed results");
        event(ctx, run, EventType::Warning, "MalformedResult", &note.join("; ")).await;
    }
    let payloads = match pipeline.plan(run, &artifacts, children) {
        Ok(p) => p,
        Err(e) => return Err(failure(ctx, run, e, BTreeMap::new()).await),
    };
    match pipeline.execute(run, payloads).await {
        Ok(d) => Ok(d),
        Err(f) => Err(failure(ctx, run, f.error, f.annotations).await),
    }
}

/// A conflicting patch: the newer version is looked at after a short,
/// growing delay; past [`MAX_CONFLICTS`] the attempt counts as failed.
async fn conflict(ctx: &Ctx, run: &Run<'_>) -> Outcome {
    ctx.metrics.patch_conflicts.inc();
    let n = ctx.memory.update(run.uid(), |s| s.conflicts = s.conflicts.saturating_add(1)).conflicts;
    if n <= MAX_CONFLICTS {
        return Outcome::Retry(conflict_delay(n));
    }
    failure(ctx, run, Error::Changing { run: describe(run), conflicts: n }, BTreeMap::new()).await
}

/// Counts a failed attempt. A retryable one is tried again after a backoff
/// until the cap; then, or at once for a permanent one, the run is marked
/// `signed=failed` with a Warning Event naming the cause. `stored` are the
/// annotations of backends that did store their part; they go out in the
/// same patch.
async fn failure(ctx: &Ctx, run: &Run<'_>, cause: Error, stored: BTreeMap<String, String>) -> Outcome {
    ctx.metrics.failure(run.kind, cause.metric_label());
    let from_run = retries_of(run);
    let state = ctx.memory.update(run.uid(), |s| {
        s.attempts = s.attempts.max(from_run).saturating_add(1);
        s.conflicts = 0;
    });
    let attempts = state.attempts;
    let cap = if cause.unavailable() { MAX_UNAVAILABLE_RETRIES } else { MAX_RETRIES };
    let give_up = attempts >= cap || !cause.retryable();
    let (ns, name, uid) = (run.namespace(), run.name(), run.uid());
    let reason = cause.metric_label();
    let mut annotations = stored;
    annotations.insert(RETRIES.to_string(), attempts.to_string());
    let note = if !give_up {
        warn!(namespace = ns, name, uid, retries = attempts, reason, cause = %cause, "signing failed; will retry");
        None
    } else if cause.retryable() {
        Some(format!("giving up after {attempts} attempts: {cause}"))
    } else {
        Some(format!("giving up (retrying cannot help): {cause}"))
    };
    if give_up {
        annotations.insert(SIGNED.into(), "failed".into());
        warn!(namespace = ns, name, uid, retries = attempts, reason, cause = %cause, "signing failed; marking signed=failed");
    }
    match patch(ctx, run, annotations).await {
        Ok(_) => {
            if let Some(note) = note {
                event(ctx, run, EventType::Warning, "SigningFailed", &note).await;
                ctx.memory.forget(uid);
                return Outcome::Failed;
            }
            Outcome::Retry(backoff(ctx.backoff, attempts))
        }
        Err(PatchError::Gone) => {
            ctx.memory.forget(uid);
            Outcome::Skipped
        }
        Err(PatchError::Conflict) => {
            let n = ctx.memory.update(uid, |s| s.conflicts = s.conflicts.saturating_add(1)).conflicts;
            match note {
                Some(note) if n > MAX_CONFLICTS => give_up_here(ctx, run, &note, "the run kept changing").await,
                _ => Outcome::Retry(conflict_delay(n)),
            }
        }
        Err(PatchError::Other(e)) => match note {
            Some(note) => give_up_here(ctx, run, &note, &e.to_string()).await,
            None => Outcome::Retry(backoff(ctx.backoff, attempts)),
        },
    }
}

/// The run's failure cannot be written: it is given up on in memory (this
/// process never tries it again), with an Event saying so.
async fn give_up_here(ctx: &Ctx, run: &Run<'_>, note: &str, why_unwritten: &str) -> Outcome {
    ctx.memory.update(run.uid(), |s| {
        s.gave_up = true;
        s.pending = None;
    });
    let note = format!("{note}; and signed=failed could not be written to the run ({why_unwritten})");
    warn!(namespace = run.namespace(), name = run.name(), uid = run.uid(), note, "giving up on the run in memory");
    event(ctx, run, EventType::Warning, "SigningFailed", &note).await;
    Outcome::Failed
}

/// Ends a run whose signing could not finish for a reason outside it (a
/// panic, the job deadline): a failed attempt like any other.
pub async fn abandon(ctx: &Ctx, kind: RunKind, obj: &Value, cause: Error) -> Outcome {
    let run = Run::new(kind, obj);
    failure(ctx, &run, cause, BTreeMap::new()).await
}

/// The finished child TaskRuns, or how long to wait until they are signed.
pub(super) async fn children(ctx: &Ctx, run: &Run<'_>) -> Result<Vec<Value>, Outcome> {
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

enum PatchError {
    /// The run changed meanwhile: the newer version decides.
    Conflict,
    /// The run is gone.
    Gone,
    Other(Error),
}

fn resource_version<'a>(run: &Run<'a>) -> Option<&'a str> {
    run.obj["metadata"]["resourceVersion"].as_str()
}

/// One merge patch: annotations, plus dropping our finalizer once the run is
/// done with (signed or failed). resourceVersion makes it conditional, so a
/// run is never signed twice. Returns the run's new resourceVersion.
async fn patch(ctx: &Ctx, run: &Run<'_>, annotations: BTreeMap<String, String>) -> Result<Option<String>, PatchError> {
    let body = patch_body(run, annotations);
    ctx.metrics.api_writes.inc();
    let api = runs(&ctx.client, run.kind, run.namespace());
    match api.patch(run.name(), &PatchParams::default(), &Patch::Merge(&body)).await {
        Ok(o) => Ok(o.metadata.resource_version),
        Err(kube::Error::Api(e)) if e.code == 409 => Err(PatchError::Conflict),
        Err(kube::Error::Api(e)) if e.code == 404 => Err(PatchError::Gone),
        Err(source) => Err(PatchError::Other(Error::Kube { action: "patching", run: describe(run), source })),
    }
}

/// `Kind namespace/name`.
pub fn describe(run: &Run) -> String {
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

async fn event(ctx: &Ctx, run: &Run<'_>, type_: EventType, reason: &str, note: &str) {
    events::publish(&ctx.recorder, &ctx.metrics, &events::run_reference(run), type_, reason, "Sign", note).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped_without_overflow() {
        let b = Duration::from_secs(5);
        assert_eq!(backoff(b, 1), Duration::from_secs(5));
        assert_eq!(backoff(b, 2), Duration::from_secs(10));
        assert_eq!(backoff(b, 4), Duration::from_secs(40));
        assert_eq!(backoff(b, 5), Duration::from_secs(60));
        assert_eq!(backoff(b, u32::MAX), Duration::from_secs(60));
        assert_eq!(backoff(Duration::from_millis(100), 30), Duration::from_millis(1200));
        assert_eq!(backoff(b, 0), Duration::from_secs(5));
        assert_eq!(conflict_delay(1), Duration::from_millis(50));
        assert_eq!(conflict_delay(3), Duration::from_millis(200));
        assert_eq!(conflict_delay(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn hostile_retry_counts_never_overflow() {
        let run = |v: &str| json!({ "metadata": { "annotations": { RETRIES: v } } });
        for (v, want) in
            [("2", 2), ("4294967295", u32::MAX), ("99999999999999999999", 0), ("-1", 0), ("x", 0), (" 1 ", 1)]
        {
            let obj = run(v);
            assert_eq!(retries_of(&Run::new(RunKind::TaskRun, &obj)), want, "{v}");
        }
        assert_eq!(u32::MAX.saturating_add(1), u32::MAX);
    }
}
