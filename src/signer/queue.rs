//! The signer's work queue. It holds run keys (kind, namespace, name, uid),
//! deduplicated by uid, and run objects up to a byte budget: the latest
//! version the watch delivered, kept only for the runs next in line. A run
//! without one is read with one GET when a worker takes it, so memory does
//! not grow with the backlog. Pure data structure: no I/O, no clock of its own.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use crate::tekton::RunKind;

/// Which run a job is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunKey {
    pub kind: RunKind,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// Which finished runs are signed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum QueueOrder {
    /// The most recently finished first: new runs are not stuck behind a backlog.
    #[default]
    NewestFirst,
    /// The earliest finished first.
    OldestFirst,
}

/// A run taken by a worker, with its latest object when the queue kept one.
#[derive(Debug, PartialEq)]
pub struct Job<T> {
    pub key: RunKey,
    pub obj: Option<T>,
}

/// What a worker does with a job it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Done with the run (signed, failed, or nothing to do).
    Done,
    /// Look again now (the run changed under us).
    Again,
    /// Look again at this instant (a retry, or waiting for child runs).
    At(Instant),
}

/// Nothing to take now.
#[derive(Debug, PartialEq, Eq)]
pub struct Idle {
    /// When the earliest delayed run becomes due, if any.
    pub until: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ready,
    Delayed(Instant),
    /// Taken by a worker; `dirty` when a newer version arrived meanwhile.
    Working {
        dirty: bool,
    },
}

struct Entry<T> {
    key: RunKey,
    rank: i64,
    seq: u64,
    /// The latest object and its size in bytes.
    obj: Option<(T, usize)>,
    state: State,
}

type Slot = (i64, u64, String);

/// The queue; see the module docs.
pub struct Queue<T> {
    order: QueueOrder,
    /// Bytes of run objects the queue may hold.
    budget: usize,
    entries: HashMap<String, Entry<T>>,
    ready: BTreeSet<Slot>,
    delayed: BTreeSet<(Instant, u64, String)>,
    /// Ready entries that hold an object, worst-ranked last.
    cached: BTreeSet<Slot>,
    /// Bytes of run objects held now.
    used: usize,
    seq: u64,
}

impl<T> Queue<T> {
    /// A queue that keeps at most `budget` bytes of run objects.
    pub fn new(order: QueueOrder, budget: usize) -> Self {
        Self {
            order,
            budget,
            entries: HashMap::new(),
            ready: BTreeSet::new(),
            delayed: BTreeSet::new(),
            cached: BTreeSet::new(),
            used: 0,
            seq: 0,
        }
    }

    /// Runs in the queue (ready, delayed or being worked on).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no run is queued.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of run objects held now (never more than the budget).
    pub fn used(&self) -> usize {
        self.used
    }

    /// Adds a finished run (`finished_ms`: its completion time) with its
    /// object of `size` bytes, or refreshes the object of one already
    /// queued. Returns true when the run is new.
    pub fn offer(&mut self, key: RunKey, finished_ms: i64, obj: T, size: usize) -> bool {
        let uid = key.uid.clone();
        if let Some(e) = self.entries.get_mut(&uid) {
            if let State::Working { dirty } = &mut e.state {
                *dirty = true;
            }
            let ready = e.state == State::Ready;
            let slot = (e.rank, e.seq, uid);
            if let Some((_, old)) = e.obj.take() {
                self.used -= old;
                self.cached.remove(&slot);
            }
            if ready {
                self.cache(slot, obj, size);
            } else if let Some(e) = self.entries.get_mut(&slot.2).filter(|_| self.used + size <= self.budget) {
                e.obj = Some((obj, size));
                self.used += size;
            }
            return false;
        }
        self.seq += 1;
        let rank = match self.order {
            QueueOrder::NewestFirst => -finished_ms,
            QueueOrder::OldestFirst => finished_ms,
        };
        let slot = (rank, self.seq, uid.clone());
        self.entries.insert(uid, Entry { key, rank, seq: self.seq, obj: None, state: State::Ready });
        self.ready.insert(slot.clone());
        self.cache(slot, obj, size);
        true
    }

    /// Gives a ready entry its object if there is room, making room by
    /// dropping the objects of worse-ranked entries.
    fn cache(&mut self, slot: Slot, obj: T, size: usize) {
        if size > self.budget {
            return;
        }
        while self.used + size > self.budget {
            match self.cached.last().cloned() {
                Some(worst) if worst > slot => {
                    self.cached.remove(&worst);
                    if let Some((_, n)) = self.entries.get_mut(&worst.2).and_then(|e| e.obj.take()) {
                        self.used -= n;
                    }
                }
                _ => return,
            }
        }
        if let Some(e) = self.entries.get_mut(&slot.2) {
            e.obj = Some((obj, size));
            self.used += size;
            self.cached.insert(slot);
        }
    }

    /// Takes the best-ranked ready run, after moving due delayed runs in.
    pub fn pop(&mut self, now: Instant) -> Result<Job<T>, Idle> {
        while let Some(first) = self.delayed.first().cloned().filter(|(at, _, _)| *at <= now) {
            self.delayed.remove(&first);
            if let Some(e) = self.entries.get_mut(&first.2) {
                e.state = State::Ready;
                self.ready.insert((e.rank, e.seq, first.2.clone()));
                if e.obj.is_some() {
                    self.cached.insert((e.rank, e.seq, first.2));
                }
            }
        }
        let Some(slot) = self.ready.pop_first() else {
            return Err(Idle { until: self.delayed.first().map(|(at, _, _)| *at) });
        };
        self.cached.remove(&slot);
        let e = self.entries.get_mut(&slot.2).expect("ready entries exist");
        e.state = State::Working { dirty: false };
        let obj = e.obj.take().map(|(o, n)| {
            self.used -= n;
            o
        });
        Ok(Job { key: e.key.clone(), obj })
    }

    /// Settles a job a worker took.
    pub fn finish(&mut self, uid: &str, next: Next) {
        let Some(e) = self.entries.get_mut(uid) else { return };
        match next {
            Next::Done => {
                if let Some((_, n)) = e.obj.take() {
                    self.used -= n;
                }
                self.entries.remove(uid);
            }
            Next::Again => {
                e.state = State::Ready;
                let slot = (e.rank, e.seq, uid.to_string());
                if e.obj.is_some() {
                    self.cached.insert(slot.clone());
                }
                self.ready.insert(slot);
            }
            Next::At(at) => {
                e.state = State::Delayed(at);
                self.delayed.insert((at, e.seq, uid.to_string()));
            }
        }
    }

    /// True when a newer version of a run being worked on has arrived.
    pub fn is_dirty(&self, uid: &str) -> bool {
        matches!(self.entries.get(uid).map(|e| e.state), Some(State::Working { dirty: true }))
    }
}

#[cfg(test)]
mod tests;
