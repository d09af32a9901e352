//! What one replica does with the bucket Leases each retry period, from
//! what it read. Pure: the edge (`leader.rs`) reads and writes the Leases.
//!
//! - Its own Leases are renewed; one a replica short of its share asks for
//!   (`chains.tekton.dev/bucket-wanted-by`) is handed over while it holds
//!   more than its least share (buckets / replicas, rounded down).
//! - An expired Lease (its holder stopped renewing) is taken at once.
//! - A free Lease (absent, or released) is taken up to the share (rounded up), and by
//!   anyone once it has stayed free for a lease duration.
//! - Below its least share, the replica asks for buckets of the fullest holders.
//!
//! Expiry is judged on this replica's clock from when a Lease last changed,
//! as client-go does, so clock skew between nodes does not matter.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::signer::buckets::fnv1a;

/// One bucket's Lease as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// The read failed: nothing is decided for this bucket.
    Unknown,
    Absent,
    Lease {
        holder: Option<String>,
        renew: Option<String>,
        wanted_by: Option<String>,
    },
}

/// What to do with a bucket's Lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    Take(u32),
    Renew(u32),
    /// Hand over (the holder is over its share and someone asked).
    Release(u32),
    /// Ask its holder for it.
    Want(u32),
}

impl Act {
    /// The bucket acted on.
    pub fn bucket(self) -> u32 {
        match self {
            Act::Take(b) | Act::Renew(b) | Act::Release(b) | Act::Want(b) => b,
        }
    }
}

/// What the replica remembers between rounds: each Lease's last
/// (holder, renewTime) and when it was first seen so.
#[derive(Debug, Default)]
pub struct Observed {
    last: BTreeMap<u32, (Option<String>, Option<String>, Instant)>,
}

impl Observed {
    /// Since when bucket `b` has looked like this (now, if it just changed).
    fn since(&mut self, b: u32, holder: &Option<String>, renew: &Option<String>, now: Instant) -> Instant {
        match self.last.get(&b) {
            Some((h, r, at)) if h == holder && r == renew => *at,
            _ => {
                self.last.insert(b, (holder.clone(), renew.clone(), now));
                now
            }
        }
    }
}

/// The round's inputs besides the Leases.
pub struct Round<'a> {
    pub me: &'a str,
    pub now: Instant,
    pub lease_duration: Duration,
    /// Replicas at least (the `--replicas` hint during the first lease
    /// duration, before the others show as holders; then 1): the share
    /// follows the replicas seen (holders, askers and this one).
    pub replicas: u32,
}

/// How many buckets one replica should hold: (at least, at most).
pub fn share(buckets: u32, members: u32) -> (u32, u32) {
    let m = members.max(1);
    (buckets / m, buckets.div_ceil(m))
}

/// This round's acts.
pub fn plan(round: &Round, reads: &[Read], seen: &mut Observed) -> Vec<Act> {
    let n = reads.len() as u32;
    let (me, now) = (round.me, round.now);
    let mut mine = Vec::new();
    let mut expired = Vec::new();
    let mut free = Vec::new();
    let mut live: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let mut members: BTreeSet<&str> = BTreeSet::from([me]);
    let mut wanted = BTreeMap::new();
    for (b, read) in (0u32..).zip(reads) {
        let (holder, renew, wanted_by) = match read {
            Read::Unknown => continue,
            Read::Absent => (None, None, &None),
            Read::Lease { holder, renew, wanted_by } => {
                (holder.clone().filter(|h| !h.is_empty()), renew.clone(), wanted_by)
            }
        };
        if let Some(w) = wanted_by.as_deref().filter(|w| *w != me) {
            members.insert(w);
            wanted.insert(b, w.to_string());
        }
        let since = seen.since(b, &holder, &renew, now);
        let stale = now.saturating_duration_since(since) >= round.lease_duration;
        match holder {
            Some(h) if h == me => mine.push(b),
            Some(_) if stale => expired.push(b),
            Some(h) => live.entry(h).or_default().push(b),
            None => free.push((b, stale)),
        }
    }
    members.extend(live.keys().map(String::as_str));
    let (least, most) = share(n, round.replicas.max(members.len() as u32));

    let mut acts = Vec::new();
    let mut count = mine.len() as u32;
    // Asks come from replicas below the least share: hand over above it.
    for &b in &mine {
        if count > least && wanted.contains_key(&b) {
            acts.push(Act::Release(b));
            count -= 1;
        } else {
            acts.push(Act::Renew(b));
        }
    }
    for b in expired {
        acts.push(Act::Take(b));
        count += 1;
    }
    // Each replica prefers other free buckets (rendezvous order), so replicas
    // started together seldom race for the same Lease.
    free.sort_by_key(|(b, _)| std::cmp::Reverse(fnv1a(format!("{me}/{b}").as_bytes())));
    for (b, stale) in free {
        if count < most || stale {
            acts.push(Act::Take(b));
            count += 1;
        }
    }
    // Ask for what is missing, from the fullest holders first.
    let mut others: Vec<(u32, Vec<u32>)> = live.into_values().map(|bs| (bs.len() as u32, bs)).collect();
    while count < least {
        others.sort_by_key(|(c, _)| std::cmp::Reverse(*c));
        let Some((c, bs)) = others.first_mut().filter(|(c, _)| *c > least) else { break };
        let Some(i) = bs.iter().position(|b| wanted.get(b).is_none_or(|w| w != me)) else { break };
        acts.push(Act::Want(bs.remove(i)));
        *c -= 1;
        count += 1;
    }
    acts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(h: &str, renew: &str) -> Read {
        Read::Lease { holder: Some(h.into()), renew: Some(renew.into()), wanted_by: None }
    }

    fn round(me: &str, now: Instant, replicas: u32) -> Round<'_> {
        Round { me, now, lease_duration: Duration::from_secs(15), replicas }
    }

    #[test]
    fn a_fresh_start_takes_only_its_share_of_free_buckets() {
        let now = Instant::now();
        let reads = vec![Read::Absent; 10];
        let acts = plan(&round("a", now, 3), &reads, &mut Observed::default());
        assert_eq!(acts.len(), 4, "ceil(10/3) = 4");
        assert!(acts.iter().all(|a| matches!(a, Act::Take(_))));
        let other = plan(&round("b", now, 3), &reads, &mut Observed::default());
        assert_ne!(acts, other, "another replica prefers other buckets");
        // Alone for a lease duration: the rest is taken too.
        let mut seen = Observed::default();
        plan(&round("a", now, 3), &reads, &mut seen);
        let later = plan(&round("a", now + Duration::from_secs(15), 3), &reads, &mut seen);
        assert_eq!(later.len(), 10);
    }

    #[test]
    fn own_leases_are_renewed_and_expired_ones_taken_at_once() {
        let now = Instant::now();
        let mut seen = Observed::default();
        let reads = vec![held("a", "t1"), held("b", "t1"), held("c", "t1")];
        assert_eq!(plan(&round("a", now, 3), &reads, &mut seen), [Act::Renew(0)]);
        // b renews, c does not: after a lease duration only c's is taken.
        let reads = vec![held("a", "t2"), held("b", "t2"), held("c", "t1")];
        let acts = plan(&round("a", now + Duration::from_secs(16), 3), &reads, &mut seen);
        assert_eq!(acts, [Act::Renew(0), Act::Take(2)]);
    }

    #[test]
    fn a_replica_short_of_its_share_asks_and_the_holder_hands_over() {
        let now = Instant::now();
        let mut reads: Vec<Read> = (0..4).map(|_| held("a", "t")).collect();
        // b sees a holding all four: it asks for two.
        let acts = plan(&round("b", now, 1), &reads, &mut Observed::default());
        assert_eq!(acts, [Act::Want(0), Act::Want(1)]);
        reads[0] = Read::Lease { holder: Some("a".into()), renew: Some("t".into()), wanted_by: Some("b".into()) };
        // a learns of b from the ask: share 2, hands bucket 0 over.
        let acts = plan(&round("a", now, 1), &reads, &mut Observed::default());
        assert_eq!(acts, [Act::Release(0), Act::Renew(1), Act::Renew(2), Act::Renew(3)]);
        // b takes it once free, then asks for one more.
        reads[0] = Read::Lease { holder: None, renew: Some("t2".into()), wanted_by: None };
        let acts = plan(&round("b", now, 1), &reads, &mut Observed::default());
        assert_eq!(acts, [Act::Take(0), Act::Want(1)]);
        // At its least share, a holder ignores asks.
        let mut asked = vec![held("b", "t"), held("b", "t"), held("a", "t"), held("a", "t")];
        asked[2] = Read::Lease { holder: Some("a".into()), renew: Some("t".into()), wanted_by: Some("b".into()) };
        assert_eq!(plan(&round("a", now, 1), &asked, &mut Observed::default()), [Act::Renew(2), Act::Renew(3)]);
    }

    #[test]
    fn ten_over_three_settles_at_four_three_three() {
        // 4/4/2 after a start race: the short one asks a full one, which hands one over.
        let now = Instant::now();
        let owners = ["a", "a", "a", "a", "b", "b", "b", "b", "c", "c"];
        let reads: Vec<Read> = owners.iter().map(|o| held(o, "t")).collect();
        let acts = plan(&round("c", now, 1), &reads, &mut Observed::default());
        assert_eq!(acts, [Act::Renew(8), Act::Renew(9), Act::Want(0)]);
        let mut asked = reads.clone();
        asked[0] = Read::Lease { holder: Some("a".into()), renew: Some("t".into()), wanted_by: Some("c".into()) };
        assert_eq!(plan(&round("a", now, 1), &asked, &mut Observed::default())[0], Act::Release(0));
        // 4/3/3: nobody asks.
        let settled = ["a", "a", "a", "a", "b", "b", "b", "c", "c", "c"];
        let reads: Vec<Read> = settled.iter().map(|o| held(o, "t")).collect();
        for me in ["a", "b", "c"] {
            let acts = plan(&round(me, now, 1), &reads, &mut Observed::default());
            assert!(acts.iter().all(|a| matches!(a, Act::Renew(_))), "{me}: {acts:?}");
        }
    }

    #[test]
    fn unreadable_leases_are_left_alone() {
        let now = Instant::now();
        let reads = vec![Read::Unknown, Read::Absent];
        assert_eq!(plan(&round("a", now, 1), &reads, &mut Observed::default()), [Act::Take(1)]);
    }
}
