//! The signer's decisions, as plain functions: what is known of a run and
//! what just happened → the annotations to patch, the Event, the next step
//! and the finalizer change. No I/O: the watch (`dispatch`) and the
//! [`worker`](super::worker) do the patches, Events, locks and channels.
//!
//! - Failures count in `chains.tekton.dev/retries` and in memory (so the
//!   count grows even when the annotation cannot be written). A retryable
//!   failure is tried again after [`backoff`], up to [`MAX_RETRIES`]
//!   attempts ([`MAX_UNAVAILABLE_RETRIES`] while a remote is down); then, or
//!   at once for a permanent one, the run ends `signed=failed` with an
//!   Event. When even that cannot be written, the run is given up on in
//!   memory, with an Event, and never tried again by this process.
//! - A conflicting patch (the run was edited meanwhile) is tried again on
//!   the newer version after [`conflict_delay`], up to [`MAX_CONFLICTS`] per
//!   attempt; then the attempt counts as failed.
//! - Our finalizer holds a run back only until it is signed or failed.

use std::collections::BTreeMap;
use std::time::Duration;

use super::error::Error;
use super::memory::RunState;
use crate::formats::Run;
use crate::tekton::annotations::{RETRIES, SIGNED, is_settled};

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
/// The wait after the first conflicting patch of an attempt.
pub const FIRST_CONFLICT_DELAY: Duration = Duration::from_millis(50);
/// The longest wait after a conflicting patch.
pub const MAX_CONFLICT_DELAY: Duration = Duration::from_secs(5);

/// The one backoff of every retry: `first` before the first retry (`n` 0
/// or 1), doubling with each one after, at most `cap`.
pub fn doubling(first: Duration, n: u32, cap: Duration) -> Duration {
    first.saturating_mul(2u32.saturating_pow(n.saturating_sub(1).min(16))).min(cap)
}

/// The delay before attempt `attempts + 1`: `base` (`--retry-backoff`),
/// doubling, at most [`MAX_BACKOFF_FACTOR`] times `base`.
pub fn backoff(base: Duration, attempts: u32) -> Duration {
    doubling(base, attempts, base.saturating_mul(MAX_BACKOFF_FACTOR))
}

/// The delay after the `n`th conflicting patch: 50 ms, doubling, at most 5 s.
pub fn conflict_delay(n: u32) -> Duration {
    doubling(FIRST_CONFLICT_DELAY, n, MAX_CONFLICT_DELAY)
}

/// What is known of one run version: its metadata, status and memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts<'a> {
    /// The `Succeeded` condition is `True` or `False`.
    pub finished: bool,
    /// `chains.tekton.dev/signed`.
    pub signed: Option<&'a str>,
    /// Our finalizer is on the run.
    pub has_finalizer: bool,
    /// The run is being deleted.
    pub deleting: bool,
    /// The run was given up on in memory (its failure could not be written).
    pub gave_up: bool,
    /// Its `signed=true` was checked (or written) by us at this resourceVersion.
    pub verified: bool,
    /// The config checks marks before skipping (`signers.verify-before-skip`).
    pub verify_before_skip: bool,
    /// The config takes runs of its `spec.managedBy` (`filter.managed-by`).
    pub ours: bool,
}

impl Default for Facts<'_> {
    /// An unfinished run of ours that nothing is known of.
    fn default() -> Self {
        Self {
            finished: false,
            signed: None,
            has_finalizer: false,
            deleting: false,
            gave_up: false,
            verified: false,
            verify_before_skip: false,
            ours: true,
        }
    }
}

impl<'a> Facts<'a> {
    /// The facts of a run version and what memory holds of it.
    pub fn of(run: &Run<'a>, state: &RunState, verify_before_skip: bool, ours: bool) -> Self {
        Self {
            finished: run.finished().is_some(),
            signed: run.annotation(SIGNED),
            has_finalizer: run.finalizers().contains(&run.kind.finalizer()),
            deleting: run.deleting(),
            gave_up: state.gave_up,
            verified: state.verified.as_deref() == run.resource_version(),
            verify_before_skip,
            ours,
        }
    }
}

/// A change of our finalizer on a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finalizer {
    Add,
    Remove,
}

/// What the watch does with a run version.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// Queue it for a worker (to sign it, or to check its mark).
    pub queue: bool,
    pub finalizer: Option<Finalizer>,
}

/// A run version came through the watch. Finished unsigned runs are queued;
/// a run marked signed is queued once per version not checked (or written)
/// by us, when the config checks marks. The finalizer is added to unfinished
/// runs and dropped once a run is signed, failed, or deleted unfinished.
pub fn seen(f: &Facts) -> Seen {
    if !f.ours {
        // Another controller's run: never queued, and never held by our finalizer.
        return Seen { queue: false, finalizer: f.has_finalizer.then_some(Finalizer::Remove) };
    }
    let settled = is_settled(f.signed);
    if f.gave_up && !settled {
        return Seen::default();
    }
    if f.finished && !settled {
        return Seen { queue: true, finalizer: None };
    }
    let verify = f.signed == Some("true") && f.finished && !f.verified && f.verify_before_skip;
    let finalizer = match (f.has_finalizer, settled || f.deleting) {
        (true, true) => Some(Finalizer::Remove),
        (false, false) => Some(Finalizer::Add),
        _ => None,
    };
    Seen { queue: verify, finalizer }
}

/// What a worker does with a queued run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Nothing: unfinished, failed, signed (and trusted or checked), or given up on.
    Skip,
    /// Check its `signed=true`; when that fails, sign it again if `then_sign`.
    Verify {
        then_sign: bool,
    },
    Sign,
}

/// A queued run's turn came.
pub fn turn(f: &Facts) -> Turn {
    match f.signed {
        _ if !f.finished || !f.ours => Turn::Skip,
        Some("failed") => Turn::Skip,
        Some("true") if !f.verify_before_skip || f.verified => Turn::Skip,
        Some("true") => Turn::Verify { then_sign: !f.gave_up },
        _ if f.gave_up => Turn::Skip,
        _ => Turn::Sign,
    }
}

/// A Warning Event on a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub reason: &'static str,
    pub note: String,
}

/// Results skipped as malformed: reported on the first attempt only.
pub fn malformed(notes: &[String], attempts: u32) -> Option<Event> {
    (!notes.is_empty() && attempts == 0).then(|| Event { reason: "MalformedResult", note: notes.join("; ") })
}

/// A `signed=true` that does not verify (`why`): reported once per
/// resourceVersion (`flagged`: already reported at this one).
pub fn unverified(why: &str, flagged: bool) -> Option<Event> {
    let note = format!("chains.tekton.dev/signed=true, but {why}; signing the run again");
    (!flagged).then_some(Event { reason: "SignatureNotVerified", note })
}

/// The patch of a signed run: the backends' annotations and `signed=true`.
pub fn signed(mut annotations: BTreeMap<String, String>) -> BTreeMap<String, String> {
    annotations.insert(SIGNED.into(), "true".into());
    annotations
}

/// After the `n`th conflicting patch of an attempt: the delay before the
/// newer version is looked at, or `None` past [`MAX_CONFLICTS`] (the attempt
/// then counts as failed).
pub fn conflict(n: u32) -> Option<Duration> {
    (n <= MAX_CONFLICTS).then(|| conflict_delay(n))
}

/// Counts a conflicting patch of the current attempt in memory.
pub fn count_conflict(state: &mut RunState) {
    state.conflicts = state.conflicts.saturating_add(1);
}

/// Counts a failed attempt in memory: one more than the run's annotation
/// (`from_run`) or memory holds, whichever is more.
pub fn count_failure(state: &mut RunState, from_run: u32) {
    state.attempts = state.attempts.max(from_run).saturating_add(1);
}

/// The patch of a failed attempt was written: conflicts start again. Only
/// then: a failure patch that keeps conflicting must reach
/// [`MAX_CONFLICTS`] and give up, not retry every `conflict_delay(1)`.
pub fn failure_written(state: &mut RunState) {
    state.conflicts = 0;
}

/// A counted failed attempt: its patch and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The annotations of backends that did store their part, the retry
    /// count, and `signed=failed` when giving up.
    pub annotations: BTreeMap<String, String>,
    pub then: Then,
}

/// What follows a failed attempt once its patch is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Then {
    /// Try again after this delay.
    Retry(Duration),
    /// The run is marked `signed=failed`; the note of its Event.
    GiveUp(String),
}

/// The `attempts`th failed attempt (counted by [`count_failure`]), from
/// `cause`; `base` is `--retry-backoff`.
pub fn failure(cause: &Error, attempts: u32, base: Duration, stored: BTreeMap<String, String>) -> Failure {
    let cap = if cause.unavailable() { MAX_UNAVAILABLE_RETRIES } else { MAX_RETRIES };
    let mut annotations = stored;
    annotations.insert(RETRIES.to_string(), attempts.to_string());
    if attempts < cap && cause.retryable() {
        return Failure { annotations, then: Then::Retry(backoff(base, attempts)) };
    }
    annotations.insert(SIGNED.into(), "failed".into());
    let note = if cause.retryable() {
        format!("giving up after {attempts} attempts: {cause}")
    } else {
        format!("giving up (retrying cannot help): {cause}")
    };
    Failure { annotations, then: Then::GiveUp(note) }
}

/// How the patch of a failed attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    Ok,
    /// It conflicted; the attempt's conflicts so far, this one included.
    Conflict(u32),
    /// The run is gone.
    Gone,
    /// It failed otherwise (why).
    Failed(String),
}

/// What the worker does after a failed attempt's patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Look at the run again after this delay.
    Retry(Duration),
    /// The run is marked `signed=failed`: publish the Event, forget the run.
    Failed(Event),
    /// `signed=failed` could not be written: give up on the run in memory
    /// (never tried again here) and publish the Event.
    GaveUp(Event),
    /// The run is gone: forget it.
    Gone,
}

/// The step after a failed attempt whose patch went as `written`.
pub fn after_failure(then: Then, written: Written) -> Step {
    match (then, written) {
        (_, Written::Gone) => Step::Gone,
        (Then::Retry(d), Written::Ok | Written::Failed(_)) => Step::Retry(d),
        (Then::GiveUp(note), Written::Ok) => Step::Failed(Event { reason: "SigningFailed", note }),
        (Then::GiveUp(note), Written::Conflict(n)) if n > MAX_CONFLICTS => gave_up(&note, "the run kept changing"),
        (_, Written::Conflict(n)) => Step::Retry(conflict_delay(n)),
        (Then::GiveUp(note), Written::Failed(why)) => gave_up(&note, &why),
    }
}

fn gave_up(note: &str, why_unwritten: &str) -> Step {
    let note = format!("{note}; and signed=failed could not be written to the run ({why_unwritten})");
    Step::GaveUp(Event { reason: "SigningFailed", note })
}

/// The finalizer change that goes with a patch of `annotations`: one that
/// settles the run (signed or failed) drops ours.
pub fn with_patch(annotations: &BTreeMap<String, String>) -> Option<Finalizer> {
    is_settled(annotations.get(SIGNED).map(String::as_str)).then_some(Finalizer::Remove)
}

/// `current` finalizers with `ours` added or removed, or `None` when that
/// changes nothing.
pub fn finalizers_with<'a>(current: &[&'a str], ours: &'a str, change: Finalizer) -> Option<Vec<&'a str>> {
    let add = change == Finalizer::Add;
    if current.contains(&ours) == add {
        return None;
    }
    let mut out: Vec<&str> = current.iter().copied().filter(|f| *f != ours).collect();
    if add {
        out.push(ours);
    }
    Some(out)
}

#[cfg(test)]
mod tests;
