//! What the signer remembers about runs between attempts, in memory and
//! bounded (least recently used runs are forgotten first). Pure: no I/O.
//!
//! - failed attempts, so the count grows even when the run's
//!   `chains.tekton.dev/retries` annotation cannot be written;
//! - conflicting patches since the last attempt, for their backoff and cap;
//! - a signed result not yet written to the run (its snapshot's hash and
//!   the annotations), so a retried patch never signs, logs or pushes again;
//! - runs given up on in memory (their failure could not be written);
//! - the resourceVersion whose `signed=true` was checked or written by us.

use std::num::NonZeroUsize;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::pipeline::Done;

/// Runs remembered at most.
pub const RUNS_KEPT: usize = 16_384;

/// A signed result waiting to be written to its run.
#[derive(Debug, PartialEq)]
pub struct Pending {
    /// [`snapshot`] of the run version that was signed.
    pub snapshot: [u8; 32],
    pub done: Done,
}

/// What is remembered about one run.
#[derive(Debug, Default, Clone)]
pub struct RunState {
    /// Failed attempts counted here (the annotation may lag behind).
    pub attempts: u32,
    /// Conflicting patches since the last attempt.
    pub conflicts: u32,
    pub pending: Option<Arc<Pending>>,
    /// The run was given up on here: its failure could not be written.
    pub gave_up: bool,
    /// The resourceVersion whose `signed=true` is known good.
    pub verified: Option<String>,
    /// The resourceVersion whose `signed=true` was found bad (counted and
    /// reported once, however often a retry sees it again).
    pub flagged: Option<String>,
}

/// The bounded memory of runs, by uid.
pub struct RunMemory {
    runs: Mutex<lru::LruCache<String, RunState>>,
}

impl Default for RunMemory {
    fn default() -> Self {
        Self::with_capacity(RUNS_KEPT)
    }
}

impl RunMemory {
    /// A memory of at most `n` runs.
    pub fn with_capacity(n: usize) -> Self {
        Self { runs: Mutex::new(lru::LruCache::new(NonZeroUsize::new(n.max(1)).expect("at least one"))) }
    }

    /// What is known about a run (the default when nothing is).
    pub fn get(&self, uid: &str) -> RunState {
        self.runs.lock().get(uid).cloned().unwrap_or_default()
    }

    /// Changes what is known about a run and returns the new state.
    pub fn update(&self, uid: &str, f: impl FnOnce(&mut RunState)) -> RunState {
        let mut runs = self.runs.lock();
        let state = runs.get_or_insert_mut(uid.to_string(), RunState::default);
        f(state);
        state.clone()
    }

    /// Forgets a run.
    pub fn forget(&self, uid: &str) {
        self.runs.lock().pop(uid);
    }

    /// Runs remembered now.
    pub fn len(&self) -> usize {
        self.runs.lock().len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The identity of what a run version asks to be signed: its kind, uid,
/// spec and status. Labels and annotations are left out, so a run edited
/// while it is signed keeps its snapshot (the signed result is written to
/// the newer version, never signed again).
pub fn snapshot(obj: &Value) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [&obj["kind"], &obj["metadata"]["uid"], &obj["spec"], &obj["status"]] {
        let bytes = serde_json::to_vec(part).unwrap_or_default();
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_memory_is_bounded_and_forgets_the_least_recent() {
        let m = RunMemory::with_capacity(3);
        for i in 0..5 {
            m.update(&format!("u{i}"), |s| s.attempts = i);
        }
        assert_eq!(m.len(), 3);
        assert_eq!(m.get("u0").attempts, 0, "forgotten");
        assert_eq!(m.get("u4").attempts, 4);
        m.forget("u4");
        assert_eq!(m.get("u4").attempts, 0);
    }

    #[test]
    fn a_snapshot_ignores_metadata_edits_but_not_the_run() {
        let run = json!({ "kind": "TaskRun", "metadata": { "uid": "u", "annotations": { "a": "1" } },
                          "spec": { "x": 1 }, "status": { "y": 2 } });
        let mut edited = run.clone();
        edited["metadata"]["annotations"]["a"] = json!("2");
        edited["metadata"]["labels"] = json!({ "l": "v" });
        edited["metadata"]["resourceVersion"] = json!("99");
        assert_eq!(snapshot(&run), snapshot(&edited));
        let mut other = run.clone();
        other["status"]["y"] = json!(3);
        assert_ne!(snapshot(&run), snapshot(&other));
        let mut other_uid = run.clone();
        other_uid["metadata"]["uid"] = json!("v");
        assert_ne!(snapshot(&run), snapshot(&other_uid));
    }
}
