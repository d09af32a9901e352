use std::time::{Duration, Instant};

use super::*;

fn key(uid: &str) -> RunKey {
    RunKey { kind: RunKind::TaskRun, namespace: "ns".into(), name: format!("run-{uid}"), uid: uid.into() }
}

fn take(q: &mut Queue<&'static str>) -> (String, Option<&'static str>) {
    let j = q.pop(Instant::now()).expect("a ready job");
    (j.key.uid, j.obj)
}

#[test]
fn newest_finished_first_and_oldest_first_by_flag() {
    let mut q = Queue::new(QueueOrder::NewestFirst, 10);
    for (uid, t) in [("a", 1), ("b", 3), ("c", 2)] {
        assert!(q.offer(key(uid), t, "obj", 1));
    }
    let order: Vec<String> = (0..3).map(|_| take(&mut q).0).collect();
    assert_eq!(order, ["b", "c", "a"]);

    let mut q = Queue::new(QueueOrder::OldestFirst, 10);
    for (uid, t) in [("a", 1), ("b", 3), ("c", 2)] {
        q.offer(key(uid), t, "obj", 1);
    }
    let order: Vec<String> = (0..3).map(|_| take(&mut q).0).collect();
    assert_eq!(order, ["a", "c", "b"]);
}

#[test]
fn a_run_is_queued_once_and_keeps_its_latest_object() {
    let mut q = Queue::new(QueueOrder::NewestFirst, 10);
    assert!(q.offer(key("a"), 1, "v1", 1));
    assert!(!q.offer(key("a"), 1, "v2", 1));
    assert_eq!(q.len(), 1);
    assert_eq!(take(&mut q), ("a".into(), Some("v2")));
    assert!(q.pop(Instant::now()).is_err());
}

#[test]
fn objects_are_bounded_and_kept_for_the_runs_next_in_line() {
    let mut q = Queue::new(QueueOrder::NewestFirst, 25);
    for i in 0..1000 {
        q.offer(key(&format!("old-{i:04}")), i, "backlog", 10);
        assert!(q.used() <= 25, "the budget holds");
    }
    assert_eq!(q.len(), 1000);
    // A newly finished run takes an object slot from the back of the line.
    q.offer(key("new"), 10_000, "fresh", 10);
    assert_eq!(q.used(), 20);
    assert_eq!(take(&mut q), ("new".into(), Some("fresh")));
    assert_eq!(take(&mut q), ("old-0999".into(), Some("backlog")));
    // The rest are read when taken.
    assert_eq!(take(&mut q), ("old-0998".into(), None));
    assert_eq!(q.used(), 0);
}

#[test]
fn an_update_while_working_marks_the_job_dirty_and_again_requeues_it() {
    let mut q = Queue::new(QueueOrder::NewestFirst, 10);
    q.offer(key("a"), 1, "v1", 1);
    assert_eq!(take(&mut q).1, Some("v1"));
    assert!(!q.is_dirty("a"));
    assert!(!q.offer(key("a"), 1, "v2", 1), "not queued twice while being worked on");
    assert!(q.is_dirty("a"));
    assert!(q.pop(Instant::now()).is_err(), "a run is worked on by one worker at a time");
    q.finish("a", Next::Again);
    assert_eq!(take(&mut q), ("a".into(), Some("v2")));
    q.finish("a", Next::Done);
    assert!(q.is_empty());
    assert_eq!(q.used(), 0);
}

#[test]
fn delayed_runs_come_back_when_due() {
    let mut q = Queue::new(QueueOrder::NewestFirst, 10);
    q.offer(key("a"), 1, "v1", 1);
    take(&mut q);
    let at = Instant::now() + Duration::from_secs(60);
    q.finish("a", Next::At(at));
    assert_eq!(q.pop(Instant::now()), Err(Idle { until: Some(at) }));
    // A watch update during the delay refreshes the object but not the timing.
    q.offer(key("a"), 1, "v2", 1);
    assert!(q.pop(Instant::now()).is_err());
    let j = q.pop(at).unwrap();
    assert_eq!((j.key.uid.as_str(), j.obj), ("a", Some("v2")));
}
