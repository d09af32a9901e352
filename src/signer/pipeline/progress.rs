//! What a failed attempt got done, so its retry does only the rest: each
//! payload's [`Signed`] (its signature and transparency log entry) and the
//! backends that stored it. A retry reuses the signature and log entry
//! and skips those backends, so nothing that succeeded is written twice
//! (no second `.sig` layer, occurrence, message or log entry).
//!
//! Kept in memory per chains-config (a new config starts afresh), for at
//! most [`KEPT`] payloads; a run's entries go once the run is done (every
//! payload stored everywhere). A restarted signer starts afresh too.

use std::collections::BTreeSet;
use std::num::NonZeroUsize;
use std::sync::Arc;

use parking_lot::Mutex;
use sha2::{Digest as _, Sha256};

use crate::signing::Signed;

/// Payloads whose progress is kept.
pub const KEPT: usize = 512;

/// Which payload: its run's uid, its storage key and the hash of its bytes
/// (a payload that changed is signed afresh).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Id {
    uid: String,
    key: String,
    sha256: [u8; 32],
}

/// One payload's progress.
#[derive(Debug, Clone)]
pub struct Progress {
    pub signed: Arc<Signed>,
    /// Backends (by name) that stored it.
    pub stored: BTreeSet<&'static str>,
}

/// The progress of the payloads of failed attempts.
pub struct Ledger {
    kept: Mutex<lru::LruCache<Id, Progress>>,
}

impl Default for Ledger {
    fn default() -> Self {
        Self { kept: Mutex::new(lru::LruCache::new(NonZeroUsize::new(KEPT).unwrap_or(NonZeroUsize::MIN))) }
    }
}

fn id(uid: &str, key: &str, bytes: &[u8]) -> Id {
    Id { uid: uid.into(), key: key.into(), sha256: Sha256::digest(bytes).into() }
}

impl Ledger {
    /// What an earlier attempt did for this payload, if anything.
    pub fn get(&self, uid: &str, key: &str, bytes: &[u8]) -> Option<Progress> {
        self.kept.lock().get(&id(uid, key, bytes)).cloned()
    }

    /// Records what an attempt did for one payload of run `uid`.
    pub fn record(&self, uid: &str, signed: &Arc<Signed>, stored: BTreeSet<&'static str>) {
        let id = id(uid, &signed.key, &signed.payload);
        self.kept.lock().put(id, Progress { signed: signed.clone(), stored });
    }

    /// Forgets run `uid` (it is done).
    pub fn forget(&self, uid: &str) {
        let mut kept = self.kept.lock();
        // The usual case: no attempt of any run has failed lately.
        if kept.is_empty() {
            return;
        }
        let ids: Vec<Id> = kept.iter().filter(|(id, _)| id.uid == uid).map(|(id, _)| id.clone()).collect();
        for id in ids {
            kept.pop(&id);
        }
    }

    /// Payloads kept now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.kept.lock().len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
