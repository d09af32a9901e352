//! Sharing runs across replicas, as upstream's knative buckets do: a run's
//! bucket comes from a hash of its UID, each bucket has one Lease, and a
//! replica signs only the runs of the buckets it holds. Pure: names, the
//! hash, the leader-election ConfigMap's settings, and which buckets this
//! replica holds now.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::watch;

pub use crate::tekton::objects::{MAX_BUCKETS, all_lease_names, lease_name};

/// The bucket of a run: FNV-1a of its UID, modulo the bucket count.
pub fn bucket_of(uid: &str, buckets: u32) -> u32 {
    (fnv1a(uid.as_bytes()) % u64::from(buckets.max(1))) as u32
}

/// 64-bit FNV-1a: stable across releases and machines (unlike std's hasher).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// Leader election settings: upstream's `tekton-chains-config-leader-election`
/// keys, or the signer's flags where the ConfigMap is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Election {
    pub buckets: u32,
    /// How long a holder keeps a Lease without renewing it.
    pub lease_duration: Duration,
    /// How long a holder goes on signing without a successful renewal.
    pub renew_deadline: Duration,
    /// How often Leases are read, renewed and tried.
    pub retry_period: Duration,
}

impl Election {
    /// Settings from a lease duration alone: renew deadline 2/3 of it, retry period 1/3.
    pub fn from_duration(buckets: u32, lease_duration: Duration) -> Self {
        Self { buckets, lease_duration, renew_deadline: lease_duration * 2 / 3, retry_period: lease_duration / 3 }
    }

    /// Reads the ConfigMap's data over `self` (absent keys keep `self`'s
    /// values). Every bad key is named with its value and what is allowed;
    /// nothing is taken from a ConfigMap with any bad key.
    pub fn with_config(self, data: &BTreeMap<String, String>) -> Result<Self, Vec<String>> {
        let mut out = self;
        let mut problems = Vec::new();
        let mut duration = |key: &str, slot: &mut Duration| {
            if let Some(v) = data.get(key) {
                match go_duration(v) {
                    Some(d) if d >= Duration::from_secs(1) => *slot = d,
                    _ => problems.push(format!(
                        "{key}: invalid value {v:?}; allowed: a duration of 1s or more, such as 15s or 1m"
                    )),
                }
            }
        };
        duration("lease-duration", &mut out.lease_duration);
        duration("renew-deadline", &mut out.renew_deadline);
        duration("retry-period", &mut out.retry_period);
        if let Some(v) = data.get("buckets") {
            match v.trim().parse::<u32>() {
                Ok(n) if (1..=MAX_BUCKETS).contains(&n) => out.buckets = n,
                _ => problems.push(format!("buckets: invalid value {v:?}; allowed: 1 to {MAX_BUCKETS}")),
            }
        }
        if problems.is_empty() && !(out.retry_period < out.renew_deadline && out.renew_deadline < out.lease_duration) {
            problems.push(format!(
                "retry-period ({:?}) < renew-deadline ({:?}) < lease-duration ({:?}) must hold",
                out.retry_period, out.renew_deadline, out.lease_duration
            ));
        }
        if problems.is_empty() { Ok(out) } else { Err(problems) }
    }
}

/// A Go duration of whole units: `60s`, `1m30s`, `500ms`, `1h`.
fn go_duration(s: &str) -> Option<Duration> {
    let mut rest = s.trim();
    let mut total = Duration::ZERO;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: u64 = rest.get(..digits)?.parse().ok()?;
        rest = rest.get(digits..)?;
        let (unit, len) = [("ms", 2, 1), ("h", 1, 3_600_000), ("m", 1, 60_000), ("s", 1, 1000)]
            .iter()
            .find(|(u, _, _)| rest.starts_with(u))
            .map(|(_, len, ms)| (*ms, *len))?;
        total = total.checked_add(Duration::from_millis(n.checked_mul(unit)?))?;
        rest = rest.get(len..)?;
    }
    Some(total)
}

/// The bucket a StatefulSet pod owns: its ordinal, from
/// `STATEFUL_CONTROLLER_ORDINAL` (the pod name, `…-2`, or the number).
pub fn ordinal(value: &str, buckets: u32) -> Result<u32, String> {
    let tail = value.rsplit('-').next().unwrap_or(value);
    match tail.parse::<u32>() {
        Ok(n) if n < buckets => Ok(n),
        Ok(n) => Err(format!(
            "STATEFUL_CONTROLLER_ORDINAL: ordinal {n} of {value:?} has no bucket; allowed: below buckets ({buckets}): set buckets to the replica count"
        )),
        Err(_) => {
            Err(format!("STATEFUL_CONTROLLER_ORDINAL: invalid value {value:?}; allowed: a pod name ending in -N, or N"))
        }
    }
}

/// Which buckets this replica holds, each until when (a holder that cannot
/// renew stops signing at its renew deadline, before anyone else may take
/// the Lease). Shared by the election (writer) and the workers (readers).
pub struct Held {
    buckets: u32,
    until: Mutex<Vec<Option<Instant>>>,
    /// Bumped whenever a bucket is gained: the run watches list again, to
    /// find that bucket's runs.
    gained: watch::Sender<u64>,
}

impl Held {
    /// Nothing held yet.
    pub fn none(buckets: u32) -> Self {
        let buckets = buckets.clamp(1, MAX_BUCKETS);
        Self { buckets, until: Mutex::new(vec![None; buckets as usize]), gained: watch::channel(0).0 }
    }

    /// Every bucket, for good (no leader election).
    pub fn all() -> Self {
        Self::only(1, 0)
    }

    /// Bucket `b` of `buckets`, for good (a StatefulSet pod's ordinal).
    pub fn only(buckets: u32, b: u32) -> Self {
        let me = Self::none(buckets);
        me.set(b, Some(Instant::now() + Duration::from_secs(100 * 365 * 86_400)));
        me
    }

    /// Bucket count.
    pub fn buckets(&self) -> u32 {
        self.buckets
    }

    /// Whether this replica signs the run with this UID now.
    pub fn holds(&self, uid: &str) -> bool {
        self.holds_bucket(bucket_of(uid, self.buckets), Instant::now())
    }

    /// Whether bucket `b` is held at `now`.
    pub fn holds_bucket(&self, b: u32, now: Instant) -> bool {
        self.until.lock().get(b as usize).copied().flatten().is_some_and(|t| now < t)
    }

    /// Buckets held at `now`.
    pub fn held(&self, now: Instant) -> Vec<u32> {
        (0..self.buckets).filter(|b| self.holds_bucket(*b, now)).collect()
    }

    /// Holds `b` until `until`, or lets it go (`None`); a gain wakes the watches.
    pub fn set(&self, b: u32, until: Option<Instant>) {
        let now = Instant::now();
        let was = self.holds_bucket(b, now);
        if let Some(slot) = self.until.lock().get_mut(b as usize) {
            *slot = until;
        }
        if !was && self.holds_bucket(b, now) {
            self.gained.send_modify(|g| *g += 1);
        }
    }

    /// Changes whenever a bucket is gained.
    pub fn gains(&self) -> watch::Receiver<u64> {
        self.gained.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_spread_evenly_over_buckets() {
        let mut counts = [0u32; 10];
        for i in 0..10_000 {
            let uid = format!("{:08x}-1b2c-4d5e-8f90-{:012x}", i * 7919, i);
            counts[bucket_of(&uid, 10) as usize] += 1;
        }
        assert!(counts.iter().all(|c| (800..1200).contains(c)), "{counts:?}");
        assert_eq!(bucket_of("anything", 1), 0);
        assert_eq!(bucket_of("x", 7), bucket_of("x", 7), "stable");
    }

    #[test]
    fn lease_names_keep_the_single_name_and_carry_the_count() {
        assert_eq!(lease_name(0, 1), "tekton-chains-signer");
        assert_eq!(lease_name(3, 10), "tekton-chains-signer.03-of-10");
        let all = all_lease_names();
        assert_eq!(all.len(), 55);
        assert!(all.iter().all(|n| n.len() <= 63));
    }

    #[test]
    fn upstreams_configmap_is_read_and_bad_keys_are_named() {
        let base = Election::from_duration(1, Duration::from_secs(15));
        assert_eq!(base.retry_period, Duration::from_secs(5));
        let data = |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let seeded =
            data(&[("lease-duration", "60s"), ("renew-deadline", "40s"), ("retry-period", "10s"), ("buckets", "3")]);
        let e = base.with_config(&seeded).unwrap();
        assert_eq!(
            (e.buckets, e.lease_duration, e.retry_period),
            (3, Duration::from_secs(60), Duration::from_secs(10))
        );
        assert_eq!(base.with_config(&data(&[("lease-duration", "1m30s")])).unwrap().lease_duration.as_secs(), 90);
        let bad = base.with_config(&data(&[("buckets", "11"), ("retry-period", "soon")])).unwrap_err();
        assert_eq!(
            bad,
            [
                r#"retry-period: invalid value "soon"; allowed: a duration of 1s or more, such as 15s or 1m"#,
                r#"buckets: invalid value "11"; allowed: 1 to 10"#,
            ]
        );
        let order = base.with_config(&data(&[("renew-deadline", "20s")])).unwrap_err();
        assert!(order[0].contains("must hold"), "{order:?}");
    }

    #[test]
    fn ordinals_come_from_the_pod_name() {
        assert_eq!(ordinal("tekton-chains-controller-2", 3), Ok(2));
        assert_eq!(ordinal("0", 3), Ok(0));
        assert!(ordinal("tekton-chains-controller-3", 3).unwrap_err().contains("below buckets (3)"));
        assert!(ordinal("controller", 3).unwrap_err().contains("invalid value \"controller\""));
    }

    #[test]
    fn held_buckets_expire_and_gains_are_signalled() {
        let held = Held::none(4);
        let gains = held.gains();
        let now = Instant::now();
        held.set(2, Some(now + Duration::from_secs(60)));
        assert_eq!(held.held(now), [2]);
        assert!(gains.has_changed().unwrap());
        held.set(2, Some(now + Duration::from_secs(90)));
        assert_eq!(*held.gains().borrow(), 1, "a renewal is no gain");
        assert!(!held.holds_bucket(2, now + Duration::from_secs(91)), "past its deadline");
        held.set(2, None);
        assert!(held.held(now).is_empty());
        assert!(Held::all().holds("any-uid"));
    }
}
