use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::formats::RunKind;

const OURS: &str = crate::tekton::annotations::FINALIZER_TASKRUN;

fn finished(signed: Option<&str>) -> Facts<'_> {
    Facts { finished: true, signed, verify_before_skip: true, ..Facts::default() }
}

fn queued() -> Seen {
    Seen { queue: true, finalizer: None }
}

fn fin(change: Finalizer) -> Seen {
    Seen { queue: false, finalizer: Some(change) }
}

fn retryable() -> Error {
    Error::Changing { run: "TaskRun ns/tr".into(), conflicts: 11 }
}

fn permanent() -> Error {
    Error::Internal { run: "TaskRun ns/tr".into(), message: "panic: boom".into() }
}

fn unavailable() -> Error {
    let status = kube::core::Status::failure("down", "ServiceUnavailable").with_code(503);
    Error::Kube { action: "patching", run: "TaskRun ns/tr".into(), source: kube::Error::Api(status.boxed()) }
}

fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

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
    assert_eq!(backoff(Duration::MAX, 3), Duration::MAX);
    assert_eq!(conflict_delay(1), Duration::from_millis(50));
    assert_eq!(conflict_delay(3), Duration::from_millis(200));
    assert_eq!(conflict_delay(7), Duration::from_millis(3200));
    assert_eq!(conflict_delay(8), Duration::from_secs(5));
    assert_eq!(conflict_delay(u32::MAX), Duration::from_secs(5));
}

#[test]
fn one_formula_for_both_backoffs() {
    for n in [0, 1, 2, 5, 9, 17, 40, u32::MAX] {
        let b = Duration::from_millis(700);
        assert_eq!(backoff(b, n), doubling(b, n, b * MAX_BACKOFF_FACTOR), "{n}");
        assert_eq!(conflict_delay(n), doubling(FIRST_CONFLICT_DELAY, n, MAX_CONFLICT_DELAY), "{n}");
    }
}

#[test]
fn the_watch_queues_finished_unsigned_runs_and_adds_the_finalizer_to_unfinished_ones() {
    let running = Facts::default();
    assert_eq!(seen(&running), fin(Finalizer::Add));
    assert_eq!(seen(&Facts { has_finalizer: true, ..running }), Seen::default());
    assert_eq!(seen(&finished(None)), queued());
    assert_eq!(seen(&Facts { has_finalizer: true, ..finished(None) }), queued());
    assert_eq!(seen(&Facts { deleting: true, ..finished(None) }), queued(), "deleted finished runs are still signed");
    assert_eq!(seen(&finished(Some("false"))), queued(), "only true and failed settle a run");
}

#[test]
fn the_watch_drops_the_finalizer_once_settled_or_deleted_unfinished() {
    for signed in ["true", "failed"] {
        let f = Facts { has_finalizer: true, verify_before_skip: false, ..finished(Some(signed)) };
        assert_eq!(seen(&f), fin(Finalizer::Remove), "{signed}");
        assert_eq!(seen(&Facts { has_finalizer: false, ..f }), Seen::default(), "{signed}");
    }
    let deleted = Facts { deleting: true, has_finalizer: true, ..Facts::default() };
    assert_eq!(seen(&deleted), fin(Finalizer::Remove));
    assert_eq!(seen(&Facts { has_finalizer: false, ..deleted }), Seen::default(), "never added while deleting");
}

#[test]
fn the_watch_queues_a_signed_mark_once_per_version_when_the_config_checks_marks() {
    let marked = finished(Some("true"));
    assert_eq!(seen(&marked), queued());
    assert_eq!(
        seen(&Facts { has_finalizer: true, ..marked }),
        Seen { queue: true, finalizer: Some(Finalizer::Remove) }
    );
    assert_eq!(seen(&Facts { verified: true, ..marked }), Seen::default());
    assert_eq!(seen(&Facts { verify_before_skip: false, ..marked }), Seen::default());
    assert_eq!(seen(&finished(Some("failed"))), Seen::default(), "failed marks are not checked");
}

#[test]
fn the_watch_leaves_runs_given_up_on_alone_until_settled() {
    let gave_up = Facts { gave_up: true, has_finalizer: true, ..finished(None) };
    assert_eq!(seen(&gave_up), Seen::default());
    assert_eq!(seen(&Facts { finished: false, has_finalizer: false, ..gave_up }), Seen::default());
    assert_eq!(seen(&Facts { signed: Some("failed"), ..gave_up }), fin(Finalizer::Remove));
    assert_eq!(
        seen(&Facts { signed: Some("true"), ..gave_up }),
        Seen { queue: true, finalizer: Some(Finalizer::Remove) }
    );
}

#[test]
fn a_worker_signs_unsigned_runs_and_checks_marks_it_does_not_trust() {
    assert_eq!(turn(&Facts { finished: false, ..finished(None) }), Turn::Skip);
    assert_eq!(turn(&finished(None)), Turn::Sign);
    assert_eq!(turn(&finished(Some("false"))), Turn::Sign);
    assert_eq!(turn(&Facts { gave_up: true, ..finished(None) }), Turn::Skip);
    assert_eq!(turn(&finished(Some("failed"))), Turn::Skip);
    let marked = finished(Some("true"));
    assert_eq!(turn(&marked), Turn::Verify { then_sign: true });
    assert_eq!(turn(&Facts { gave_up: true, ..marked }), Turn::Verify { then_sign: false });
    assert_eq!(turn(&Facts { verified: true, ..marked }), Turn::Skip);
    assert_eq!(turn(&Facts { verify_before_skip: false, ..marked }), Turn::Skip);
}

#[test]
fn facts_are_read_from_the_run_and_memory() {
    let obj = json!({ "metadata": { "resourceVersion": "7", "annotations": { SIGNED: "true" },
                                    "finalizers": ["x", OURS], "deletionTimestamp": "2024-05-01T10:00:00Z" },
                      "status": { "conditions": [{ "type": "Succeeded", "status": "False" }] } });
    let run = Run::new(RunKind::TaskRun, &obj);
    let state = RunState { gave_up: true, verified: Some("7".into()), ..RunState::default() };
    let want = Facts {
        finished: true,
        signed: Some("true"),
        has_finalizer: true,
        deleting: true,
        gave_up: true,
        verified: true,
        verify_before_skip: true,
        ours: true,
    };
    assert_eq!(Facts::of(&run, &state, true, true), want);
    let bare = json!({ "metadata": { "resourceVersion": "8" } });
    let f = Facts::of(&Run::new(RunKind::TaskRun, &bare), &state, false, true);
    assert_eq!(f, Facts { gave_up: true, ..Facts::default() });
}

#[test]
fn malformed_results_and_bad_marks_are_reported_once() {
    let notes = vec!["result a: x".to_string(), "result b: y".to_string()];
    let ev = malformed(&notes, 0).expect("an Event");
    assert_eq!(ev, Event { reason: "MalformedResult", note: "result a: x; result b: y".into() });
    assert_eq!(malformed(&notes, 1), None, "first attempt only");
    assert_eq!(malformed(&[], 0), None);
    let ev = unverified("no signature", false).expect("an Event");
    assert_eq!(ev.reason, "SignatureNotVerified");
    assert_eq!(ev.note, "chains.tekton.dev/signed=true, but no signature; signing the run again");
    assert_eq!(unverified("no signature", true), None, "once per resourceVersion");
}

#[test]
fn a_signed_patch_marks_the_run_and_drops_the_finalizer() {
    let a = signed(annotations(&[("chains.tekton.dev/signature-taskrun-u", "sig")]));
    assert_eq!(a.get(SIGNED).map(String::as_str), Some("true"));
    assert_eq!(a.len(), 2);
    assert_eq!(with_patch(&a), Some(Finalizer::Remove));
    assert_eq!(with_patch(&annotations(&[(SIGNED, "failed"), (RETRIES, "3")])), Some(Finalizer::Remove));
    assert_eq!(with_patch(&annotations(&[(RETRIES, "1")])), None);
}

#[test]
fn conflicts_back_off_then_fail_the_attempt() {
    for n in 1..=MAX_CONFLICTS {
        assert_eq!(conflict(n), Some(conflict_delay(n)), "{n}");
    }
    assert_eq!(conflict(MAX_CONFLICTS + 1), None);
    assert_eq!(conflict(u32::MAX), None);
    let mut s = RunState { conflicts: u32::MAX - 1, ..RunState::default() };
    count_conflict(&mut s);
    count_conflict(&mut s);
    assert_eq!(s.conflicts, u32::MAX);
}

#[test]
fn failures_count_from_the_run_or_memory_whichever_is_more() {
    let mut s = RunState { attempts: 1, conflicts: 4, ..RunState::default() };
    count_failure(&mut s, 0);
    assert_eq!((s.attempts, s.conflicts), (2, 4), "conflicts start again only once the failure is written");
    failure_written(&mut s);
    assert_eq!(s.conflicts, 0);
    count_failure(&mut s, 5);
    assert_eq!(s.attempts, 6, "the annotation is ahead (another process counted)");
    let mut s = RunState { attempts: 3, ..RunState::default() };
    count_failure(&mut s, 1);
    assert_eq!(s.attempts, 4, "memory is ahead (the annotation could not be written)");
    count_failure(&mut s, u32::MAX);
    assert_eq!(s.attempts, u32::MAX);
}

#[test]
fn a_retryable_failure_is_retried_until_the_cap() {
    let base = Duration::from_secs(5);
    let stored = annotations(&[("chains.tekton.dev/signature-taskrun-u", "sig")]);
    let f = failure(&retryable(), 2, base, stored.clone());
    let mut want = stored.clone();
    want.insert(RETRIES.into(), "2".into());
    assert_eq!(f, Failure { annotations: want, then: Then::Retry(Duration::from_secs(10)) });
    let f = failure(&retryable(), MAX_RETRIES, base, stored);
    assert_eq!(f.annotations.get(SIGNED).map(String::as_str), Some("failed"));
    assert_eq!(f.annotations.get(RETRIES).map(String::as_str), Some("3"));
    assert!(f.annotations.contains_key("chains.tekton.dev/signature-taskrun-u"), "stored parts go out too");
    let note = "giving up after 3 attempts: TaskRun ns/tr changed under 11 patches in a row";
    assert_eq!(f.then, Then::GiveUp(note.into()));
    let later = failure(&retryable(), 10, base, BTreeMap::new());
    assert!(matches!(later.then, Then::GiveUp(n) if n.starts_with("giving up after 10 attempts: ")));
}

#[test]
fn a_remote_that_is_down_is_retried_for_longer() {
    let base = Duration::from_secs(5);
    let e = unavailable();
    assert!(e.retryable() && e.unavailable());
    assert_eq!(failure(&e, MAX_RETRIES, base, BTreeMap::new()).then, Then::Retry(Duration::from_secs(20)));
    assert_eq!(
        failure(&e, MAX_UNAVAILABLE_RETRIES - 1, base, BTreeMap::new()).then,
        Then::Retry(Duration::from_secs(60))
    );
    let f = failure(&e, MAX_UNAVAILABLE_RETRIES, base, BTreeMap::new());
    assert_eq!(f.annotations, annotations(&[(SIGNED, "failed"), (RETRIES, "10")]));
    assert!(matches!(f.then, Then::GiveUp(n) if n.starts_with("giving up after 10 attempts: patching TaskRun ns/tr")));
}

#[test]
fn a_permanent_failure_gives_up_at_once() {
    let f = failure(&permanent(), 1, Duration::from_secs(5), BTreeMap::new());
    assert_eq!(f.annotations, annotations(&[(SIGNED, "failed"), (RETRIES, "1")]));
    let note = "giving up (retrying cannot help): internal error while signing TaskRun ns/tr: panic: boom";
    assert_eq!(f.then, Then::GiveUp(note.into()));
}

#[test]
fn after_a_written_failure_the_run_is_retried_or_ends_failed() {
    let d = Duration::from_secs(10);
    assert_eq!(after_failure(Then::Retry(d), Written::Ok), Step::Retry(d));
    let step = after_failure(Then::GiveUp("giving up: x".into()), Written::Ok);
    assert_eq!(step, Step::Failed(Event { reason: "SigningFailed", note: "giving up: x".into() }));
    assert_eq!(after_failure(Then::Retry(d), Written::Gone), Step::Gone);
    assert_eq!(after_failure(Then::GiveUp("x".into()), Written::Gone), Step::Gone);
}

#[test]
fn an_unwritten_failure_is_retried_and_counted_in_memory_then_given_up_on_there() {
    let d = Duration::from_secs(10);
    assert_eq!(after_failure(Then::Retry(d), Written::Failed("down".into())), Step::Retry(d));
    let step = after_failure(Then::GiveUp("giving up: x".into()), Written::Failed("down".into()));
    let note = "giving up: x; and signed=failed could not be written to the run (down)";
    assert_eq!(step, Step::GaveUp(Event { reason: "SigningFailed", note: note.into() }));
}

#[test]
fn a_conflicting_failure_patch_backs_off_and_gives_up_past_the_cap() {
    let d = Duration::from_secs(10);
    assert_eq!(after_failure(Then::Retry(d), Written::Conflict(1)), Step::Retry(conflict_delay(1)));
    assert_eq!(after_failure(Then::Retry(d), Written::Conflict(50)), Step::Retry(MAX_CONFLICT_DELAY));
    let give_up = || Then::GiveUp("giving up: x".into());
    assert_eq!(after_failure(give_up(), Written::Conflict(MAX_CONFLICTS)), Step::Retry(conflict_delay(MAX_CONFLICTS)));
    let note = "giving up: x; and signed=failed could not be written to the run (the run kept changing)";
    let want = Step::GaveUp(Event { reason: "SigningFailed", note: note.into() });
    assert_eq!(after_failure(give_up(), Written::Conflict(MAX_CONFLICTS + 1)), want);
}

#[test]
fn our_finalizer_is_added_or_removed_and_others_are_kept() {
    assert_eq!(finalizers_with(&["a"], OURS, Finalizer::Add), Some(vec!["a", OURS]));
    assert_eq!(finalizers_with(&[], OURS, Finalizer::Add), Some(vec![OURS]));
    assert_eq!(finalizers_with(&["a", OURS], OURS, Finalizer::Add), None);
    assert_eq!(finalizers_with(&["a", OURS, "b"], OURS, Finalizer::Remove), Some(vec!["a", "b"]));
    assert_eq!(finalizers_with(&[OURS, OURS], OURS, Finalizer::Remove), Some(vec![]));
    assert_eq!(finalizers_with(&["a"], OURS, Finalizer::Remove), None);
}

#[test]
fn runs_another_controller_manages_are_skipped_and_let_go() {
    let theirs = Facts { ours: false, ..finished(None) };
    assert_eq!(seen(&theirs), Seen::default(), "not queued, no finalizer added");
    assert_eq!(seen(&Facts { has_finalizer: true, ..theirs }), fin(Finalizer::Remove));
    assert_eq!(seen(&Facts { finished: false, ..theirs }), Seen::default());
    assert_eq!(turn(&theirs), Turn::Skip, "a queued run whose filter changed is skipped");
}

#[test]
fn a_failure_patch_that_keeps_conflicting_gives_up_in_bounded_cycles() {
    // The run is edited faster than signed=failed can be written: each cycle
    // fails again, gives up, and its patch conflicts.
    let mut s = RunState::default();
    let cause = permanent();
    for cycle in 1..=100u32 {
        count_failure(&mut s, 0);
        let failed = failure(&cause, s.attempts, Duration::from_secs(1), BTreeMap::new());
        count_conflict(&mut s);
        match after_failure(failed.then, Written::Conflict(s.conflicts)) {
            Step::GaveUp(ev) => {
                assert!(ev.note.contains("the run kept changing"), "{}", ev.note);
                assert_eq!(cycle, MAX_CONFLICTS + 1);
                return;
            }
            Step::Retry(d) => assert!(d >= conflict_delay(1)),
            other => panic!("cycle {cycle}: {other:?}"),
        }
    }
    panic!("still retrying after 100 cycles");
}
