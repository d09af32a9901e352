//! Signs one finished run: snapshot → plan → pipeline (sign, log, store) →
//! one annotation patch. What to do at each step is decided by [`policy`];
//! this module does the I/O around it.
//!
//! - The signed result of a run version is remembered ([`RunMemory`]) until
//!   it is written, so a patch that conflicts (the run was edited meanwhile)
//!   is retried with the same result, with backoff and a cap, and never
//!   signs, logs or pushes again.
//! - Failures count in `chains.tekton.dev/retries` and in memory (so the
//!   count grows even when the annotation cannot be written). A retryable
//!   failure is tried again with backoff, up to [`policy::MAX_RETRIES`]
//!   attempts ([`policy::MAX_UNAVAILABLE_RETRIES`] while a remote is down);
//!   then, or at once for a permanent one, the run ends `signed=failed` with
//!   an Event. When even that cannot be written, the run is given up on in
//!   memory, with an Event, and never tried again by this process.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::{Timestamp, Unit};
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
use super::policy::{self, Event, Facts, Finalizer, Step, Then, Turn, Written};
use crate::formats::{self, Run, RunKind};
use crate::tekton::annotations::{RETRIES, SIGNED, is_settled};

/// How long after a PipelineRun completes a missing child TaskRun is waited for.
pub const MISSING_CHILD_GRACE_SECS: f64 = 60.0;

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

/// Seconds since a time (infinite when absent).
fn seconds_since(t: Option<Timestamp>) -> f64 {
    t.and_then(|t| (Timestamp::now() - t).total(Unit::Second).ok()).unwrap_or(f64::INFINITY)
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
    let state = ctx.memory.get(run.uid());
    let ours = pipeline.config.takes_managed_by(run.managed_by());
    let turn = policy::turn(&Facts::of(&run, &state, pipeline.config.verify_before_skip, ours));
    if matches!(turn, Turn::Skip) {
        return Outcome::Skipped;
    }
    let children = match kind {
        RunKind::PipelineRun => match children(ctx, &run).await {
            Ok(c) => c,
            Err(wait) => return wait,
        },
        RunKind::TaskRun => Vec::new(),
    };
    if let Turn::Verify { then_sign } = turn {
        match super::verify::check(&pipeline, &run, &children).await {
            Ok(()) => {
                let rv = run.resource_version().map(str::to_string);
                ctx.memory.update(run.uid(), |s| s.verified = rv);
                return Outcome::Skipped;
            }
            Err(why) => {
                let flagged = state.flagged.as_deref() == run.resource_version();
                if let Some(ev) = policy::unverified(why, flagged) {
                    let rv = run.resource_version().map(str::to_string);
                    ctx.memory.update(run.uid(), |s| s.flagged = rv);
                    ctx.metrics.for_kind(kind).unverified_signed.inc();
                    let (ns, name, uid) = (run.namespace(), run.name(), run.uid());
                    warn!(namespace = ns, name, uid, why, "signed mark does not verify");
                    warning(ctx, &run, &ev).await;
                }
                if !then_sign {
                    return Outcome::Skipped;
                }
            }
        }
    }
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
    match patch(ctx, &run, policy::signed(done.annotations.clone())).await {
        Ok(rv) => {
            let counters = ctx.metrics.for_kind(kind);
            counters.payload_stored.inc_by(done.stored as u64);
            counters.marked_signed.inc();
            let secs = seconds_since(run.completion_time());
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
    let notes: Vec<String> = artifacts.warnings.iter().map(|w| format!("result {}: {}", w.result, w.reason)).collect();
    if let Some(ev) = policy::malformed(&notes, state.attempts) {
        warn!(namespace = run.namespace(), name = run.name(), uid = run.uid(), warnings = ?notes, "skipping malformed results");
        warning(ctx, run, &ev).await;
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
/// growing delay; past [`policy::MAX_CONFLICTS`] the attempt counts as failed.
async fn conflict(ctx: &Ctx, run: &Run<'_>) -> Outcome {
    ctx.metrics.patch_conflicts.inc();
    let n = ctx.memory.update(run.uid(), policy::count_conflict).conflicts;
    match policy::conflict(n) {
        Some(delay) => Outcome::Retry(delay),
        None => failure(ctx, run, Error::Changing { run: describe(run), conflicts: n }, BTreeMap::new()).await,
    }
}

/// Counts a failed attempt and writes it ([`policy::failure`]). `stored`
/// are the annotations of backends that did store their part; they go out
/// in the same patch.
async fn failure(ctx: &Ctx, run: &Run<'_>, cause: Error, stored: BTreeMap<String, String>) -> Outcome {
    ctx.metrics.failure(run.kind, cause.metric_label());
    let from_run = retries_of(run);
    let attempts = ctx.memory.update(run.uid(), |s| policy::count_failure(s, from_run)).attempts;
    let failed = policy::failure(&cause, attempts, ctx.backoff, stored);
    let (ns, name, uid) = (run.namespace(), run.name(), run.uid());
    let reason = cause.metric_label();
    match failed.then {
        Then::Retry(_) => {
            warn!(namespace = ns, name, uid, retries = attempts, reason, cause = %cause, "signing failed; will retry")
        }
        Then::GiveUp(_) => {
            warn!(namespace = ns, name, uid, retries = attempts, reason, cause = %cause, "signing failed; marking signed=failed")
        }
    }
    let written = match patch(ctx, run, failed.annotations).await {
        Ok(_) => {
            ctx.memory.update(uid, policy::failure_written);
            Written::Ok
        }
        Err(PatchError::Conflict) => Written::Conflict(ctx.memory.update(uid, policy::count_conflict).conflicts),
        Err(PatchError::Gone) => Written::Gone,
        Err(PatchError::Other(e)) => Written::Failed(e.to_string()),
    };
    match policy::after_failure(failed.then, written) {
        Step::Retry(delay) => Outcome::Retry(delay),
        Step::Failed(ev) => {
            warning(ctx, run, &ev).await;
            ctx.memory.forget(uid);
            Outcome::Failed
        }
        Step::GaveUp(ev) => {
            ctx.memory.update(uid, |s| {
                s.gave_up = true;
                s.pending = None;
            });
            warn!(namespace = ns, name, uid, note = ev.note, "giving up on the run in memory");
            warning(ctx, run, &ev).await;
            Outcome::Failed
        }
        Step::Gone => {
            ctx.memory.forget(uid);
            Outcome::Skipped
        }
    }
}

/// Ends a run whose signing could not finish for a reason outside it (a
/// panic, the job deadline): a failed attempt like any other.
pub async fn abandon(ctx: &Ctx, kind: RunKind, obj: &Value, cause: Error) -> Outcome {
    let run = Run::new(kind, obj);
    failure(ctx, &run, cause, BTreeMap::new()).await
}

/// The finished child TaskRuns, or how long to wait until they are signed.
pub(super) async fn children(ctx: &Ctx, run: &Run<'_>) -> Result<Vec<Value>, Outcome> {
    let api = runs(&ctx.client, RunKind::TaskRun, run.namespace());
    let mut out = Vec::new();
    for child_name in run.child_task_runs() {
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
            Ok(None) if seconds_since(run.completion_time()) < MISSING_CHILD_GRACE_SECS => {
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
    let current = run.finalizers();
    let kept =
        policy::with_patch(&annotations).and_then(|c| policy::finalizers_with(&current, run.kind.finalizer(), c));
    let mut meta = json!({ "resourceVersion": run.resource_version(), "annotations": annotations });
    if let Some(kept) = kept {
        meta["finalizers"] = json!(kept);
    }
    json!({ "metadata": meta })
}

/// One conditional patch of `metadata.finalizers`, with ours added or removed.
pub async fn set_finalizer(client: &kube::Client, metrics: &Metrics, kind: RunKind, obj: &Value, change: Finalizer) {
    let run = Run::new(kind, obj);
    let Some(finalizers) = policy::finalizers_with(&run.finalizers(), kind.finalizer(), change) else { return };
    let body = json!({ "metadata": { "resourceVersion": run.resource_version(), "finalizers": finalizers } });
    metrics.api_writes.inc();
    if let Err(e) =
        runs(client, kind, run.namespace()).patch(run.name(), &PatchParams::default(), &Patch::Merge(&body)).await
    {
        // A conflict means a newer version will come through the watch.
        let present = change == Finalizer::Add;
        tracing::debug!(namespace = run.namespace(), name = run.name(), present, error = %e, "updating finalizer");
    }
}

/// Publishes a Warning Event on the run.
async fn warning(ctx: &Ctx, run: &Run<'_>, ev: &Event) {
    let reference = events::run_reference(run);
    events::publish(&ctx.recorder, &ctx.metrics, &reference, EventType::Warning, ev.reason, "Sign", &ev.note).await;
}

#[cfg(test)]
mod tests {
    use super::*;

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
