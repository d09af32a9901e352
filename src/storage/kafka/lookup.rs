//! Retries without duplicates: after a produce whose outcome is unknown
//! (no reply within the deadline, a connection lost mid-request), Kafka may
//! have appended the record. Retries reuse that attempt's record time; the
//! retry first looks for the record in its partition, from the offset of
//! that time, and publishes again only when it is not there. A record is
//! found by its content and time, so another run's record of the same bytes
//! is not taken for it. (On a topic that keeps the broker's append time
//! instead, the lookup finds nothing and the record is published again: a
//! duplicate is better than a lost signature.)

use std::num::NonZeroUsize;

use prometheus_client::metrics::counter::Counter;
use rskafka::client::error::Error as KafkaError;
use rskafka::client::partition::{OffsetAt, PartitionClient};
use rskafka::record::Record;
use sha2::{Digest as _, Sha256};

/// How many unsure records are remembered (the oldest are dropped).
const KEPT: usize = 1024;
/// The most one lookup reads from the partition before it gives up (and
/// publishes again: a duplicate is better than a lost signature).
const SCAN_CAP: usize = 16 << 20;
/// The most one fetch asks for.
const FETCH_BYTES: i32 = 1 << 20;

/// What identifies a record's content: its value and headers (not its
/// time).
pub fn digest(r: &Record) -> [u8; 32] {
    let mut h = Sha256::new();
    let mut part = |b: &[u8]| {
        h.update((b.len() as u64).to_be_bytes());
        h.update(b);
    };
    part(r.value.as_deref().unwrap_or_default());
    for (k, v) in &r.headers {
        part(k.as_bytes());
        part(v);
    }
    h.finalize().into()
}

/// True when `a` and `b` are the same record: content and time.
pub fn same(a: &Record, b: &Record) -> bool {
    a.value == b.value && a.headers == b.headers && a.key == b.key && a.timestamp == b.timestamp
}

/// Records whose produce had no certain outcome: digest → (partition, the
/// record's time in ms).
pub struct Unsure(parking_lot::Mutex<lru::LruCache<[u8; 32], (i32, i64)>>);

impl Default for Unsure {
    fn default() -> Self {
        Self(parking_lot::Mutex::new(lru::LruCache::new(NonZeroUsize::new(KEPT).unwrap_or(NonZeroUsize::MIN))))
    }
}

impl Unsure {
    /// Where and since when to look for `digest`, if its outcome is unknown.
    pub fn get(&self, digest: &[u8; 32]) -> Option<(i32, i64)> {
        self.0.lock().get(digest).copied()
    }

    /// Notes that a record of `digest` and time `at_ms` may be in
    /// `partition` (a note already kept stays: its retries use its time).
    pub fn note(&self, digest: [u8; 32], partition: i32, at_ms: i64) {
        let mut kept = self.0.lock();
        if kept.get(&digest).is_none() {
            kept.put(digest, (partition, at_ms));
        }
    }

    pub fn forget(&self, digest: &[u8; 32]) {
        self.0.lock().pop(digest);
    }
}

/// True when `pc` holds `wanted` (content and time); `requests` counts
/// each request made.
pub async fn written(pc: &PartitionClient, wanted: &Record, requests: &Counter) -> Result<bool, KafkaError> {
    requests.inc();
    let mut offset = pc.get_offset(OffsetAt::Timestamp(wanted.timestamp)).await?;
    let mut scanned = 0usize;
    while offset >= 0 && scanned < SCAN_CAP {
        requests.inc();
        let (records, high_watermark) = pc.fetch_records(offset, 1..FETCH_BYTES, 0).await?;
        let Some(last) = records.last().map(|r| r.offset) else { return Ok(false) };
        if records.iter().any(|r| same(&r.record, wanted)) {
            return Ok(true);
        }
        scanned += records.iter().map(|r| r.record.approximate_size()).sum::<usize>();
        offset = last.saturating_add(1);
        if offset >= high_watermark {
            break;
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rskafka::chrono::DateTime;

    use super::*;

    fn rec(value: &[u8], sig: &[u8], at: i64) -> Record {
        Record {
            key: None,
            value: Some(value.to_vec()),
            headers: BTreeMap::from([("signature".into(), sig.to_vec())]),
            timestamp: DateTime::from_timestamp_millis(at).unwrap(),
        }
    }

    #[test]
    fn content_is_digested_and_content_and_time_make_a_record() {
        let (a, b) = (rec(b"v", b"s", 1), rec(b"v", b"s", 2));
        assert!(!same(&a, &b), "another run's record of the same bytes");
        assert!(same(&a, &rec(b"v", b"s", 1)));
        assert_eq!(digest(&a), digest(&b));
        assert_ne!(digest(&a), digest(&rec(b"v", b"t", 1)));
        // Length-prefixed: moving bytes between fields changes the digest.
        assert_ne!(digest(&rec(b"vs", b"", 1)), digest(&rec(b"v", b"s", 1)));
    }

    #[test]
    fn the_first_unsure_attempt_sets_where_to_look_from() {
        let u = Unsure::default();
        let d = digest(&rec(b"v", b"s", 0));
        assert_eq!(u.get(&d), None);
        u.note(d, 2, 5_000);
        u.note(d, 1, 9_000);
        assert_eq!(u.get(&d), Some((2, 5_000)), "the first note stays");
        u.forget(&d);
        assert_eq!(u.get(&d), None);
    }
}
