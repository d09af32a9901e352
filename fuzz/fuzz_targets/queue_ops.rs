//! `signer::queue::Queue` driven by a sequence of operations, as the
//! signer's watch and workers use it: offer (a small uid space, any finish
//! time and object size), pop at a clock that only moves forward, and finish
//! the jobs taken with `Done`, `Again` or `At`. Properties: no panic; after
//! every operation `used() <= budget`, and `len()` is the number of distinct
//! uids offered and not finished `Done`; a popped job is a queued uid that
//! no worker holds.
#![no_main]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tekton_chains_operator::signer::queue::{Next, Queue, QueueOrder, RunKey};
use tekton_chains_operator::tekton::RunKind;

#[derive(Arbitrary, Debug)]
enum Then {
    Done,
    Again,
    /// Due this many ms after the current time.
    At(u16),
}

#[derive(Arbitrary, Debug)]
enum Op {
    Offer {
        uid: u8,
        finished_ms: i16,
        size: u8,
    },
    /// Moves the clock forward by this many ms, then pops.
    Pop {
        advance_ms: u16,
    },
    /// Finishes the `n`th job being worked on.
    Finish {
        n: u8,
        then: Then,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    oldest_first: bool,
    budget: u8,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let order = if input.oldest_first { QueueOrder::OldestFirst } else { QueueOrder::NewestFirst };
    let budget = input.budget as usize;
    let mut q: Queue<u8> = Queue::new(order, budget);
    let mut now = Instant::now();
    let mut queued = BTreeSet::new();
    let mut working: Vec<String> = Vec::new();
    for op in input.ops {
        match op {
            Op::Offer { uid, finished_ms, size } => {
                let uid = format!("uid-{}", uid % 16);
                let key =
                    RunKey { kind: RunKind::TaskRun, namespace: "ns".into(), name: uid.clone(), uid: uid.clone() };
                let new = q.offer(key, finished_ms.into(), size, size as usize);
                assert_eq!(new, queued.insert(uid), "offer says whether the run is new");
            }
            Op::Pop { advance_ms } => {
                now += Duration::from_millis(advance_ms.into());
                if let Ok(job) = q.pop(now) {
                    let uid = job.key.uid;
                    assert!(queued.contains(&uid) && !working.contains(&uid), "{uid} popped twice or never offered");
                    working.push(uid);
                }
            }
            Op::Finish { n, then } => {
                if working.is_empty() {
                    continue;
                }
                let uid = working.remove(n as usize % working.len());
                let next = match then {
                    Then::Done => {
                        queued.remove(&uid);
                        Next::Done
                    }
                    Then::Again => Next::Again,
                    Then::At(ms) => Next::At(now + Duration::from_millis(ms.into())),
                };
                q.finish(&uid, next);
            }
        }
        assert!(q.used() <= budget, "used {} over budget {budget}", q.used());
        assert_eq!(q.len(), queued.len());
    }
});
