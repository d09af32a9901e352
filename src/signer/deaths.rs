//! How often signing workers die outside a job: a few deaths are restarted,
//! too many in a minute mean the signer is broken (`/healthz` fails).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Worker deaths (outside a job) tolerated per window before the signer
/// reports itself broken on `/healthz`.
pub const MAX_WORKER_RESTARTS: usize = 5;

/// The window deaths are counted over.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Deaths seen in the last [`WINDOW`].
#[derive(Debug, Default)]
pub struct Deaths {
    seen: VecDeque<Instant>,
}

impl Deaths {
    /// Records a death at `now`. `Some(count)` when the deaths in the window
    /// are more than [`MAX_WORKER_RESTARTS`]: stop, broken; else restart.
    pub fn record(&mut self, now: Instant) -> Option<usize> {
        self.seen.push_back(now);
        while self.seen.front().is_some_and(|t| now.saturating_duration_since(*t) > WINDOW) {
            self.seen.pop_front();
        }
        (self.seen.len() > MAX_WORKER_RESTARTS).then_some(self.seen.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_deaths_a_minute_are_restarted_the_sixth_is_broken() {
        let t0 = Instant::now();
        let mut d = Deaths::default();
        for i in 0..5 {
            assert_eq!(d.record(t0 + Duration::from_secs(i)), None, "death {i}");
        }
        assert_eq!(d.record(t0 + Duration::from_secs(10)), Some(6));
    }

    #[test]
    fn deaths_older_than_the_window_are_forgotten() {
        let t0 = Instant::now();
        let mut d = Deaths::default();
        // One death every 13 s never holds more than 5 in a minute.
        for i in 0..100 {
            assert_eq!(d.record(t0 + Duration::from_secs(13 * i)), None, "death {i}");
        }
        // Then a burst: the 6th within the window breaks.
        let later = t0 + Duration::from_secs(13 * 100 + 61);
        let burst: Vec<_> = (0..6).map(|i| d.record(later + Duration::from_millis(i))).collect();
        assert_eq!(burst, [None, None, None, None, None, Some(6)]);
    }
}
