//! [`Pace`]: the `--max-rate` limit as a virtual clock over documents
//! committed. Each commit of `n` documents books `n / rate` seconds after the
//! later of the previous booking and now; time left idle is not banked, so
//! the rate is never caught up in a burst.

use std::time::{Duration, Instant};

/// When the next commit may start.
#[derive(Debug, Clone)]
pub(crate) struct Pace {
    next: Option<Instant>,
}

impl Pace {
    pub(crate) fn new() -> Pace {
        Pace { next: None }
    }

    /// How long a commit of `docs` documents at `rate` docs/s waits from
    /// `now`; books its share of time.
    pub(crate) fn book(&mut self, docs: u64, rate: f64, now: Instant) -> Duration {
        let start = self.next.map_or(now, |n| n.max(now));
        let share = Duration::from_secs_f64(docs as f64 / rate.max(0.001));
        self.next = Some(start + share);
        start - now
    }

    /// Forgets the booking (after a pause: the wait is not owed).
    pub(crate) fn reset(&mut self) {
        self.next = None;
    }
}

/// The batch size that keeps a paced run smooth: at most a fifth of a
/// second's worth of documents per commit, so any window of a second or two
/// holds many commits and never more than the rate by much.
pub(crate) fn smooth_batch(configured: usize, rate: Option<u32>) -> usize {
    match rate {
        Some(r) => configured.min((r as usize / 5).max(1)),
        None => configured,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_are_spaced_by_their_share_of_a_second() {
        let mut pace = Pace::new();
        let t0 = Instant::now();
        assert_eq!(pace.book(100, 1000.0, t0), Duration::ZERO);
        assert_eq!(pace.book(100, 1000.0, t0), Duration::from_millis(100));
        // Idle time is not banked: a late commit waits nothing, and the
        // next one is spaced from it.
        let late = t0 + Duration::from_secs(5);
        assert_eq!(pace.book(100, 1000.0, late), Duration::ZERO);
        assert_eq!(pace.book(100, 1000.0, late), Duration::from_millis(100));
    }

    #[test]
    fn any_two_second_window_stays_within_the_rate() {
        let mut pace = Pace::new();
        let t0 = Instant::now();
        let mut at = Vec::new();
        let mut now = t0;
        for _ in 0..200 {
            now += pace.book(1000, 5000.0, now);
            at.push(now);
        }
        for (i, start) in at.iter().enumerate() {
            let end = *start + Duration::from_secs(2);
            let in_window = at[i..].iter().take_while(|t| **t < end).count() as u64 * 1000;
            assert!(in_window <= 10_000, "{in_window} documents in 2 s");
        }
    }

    #[test]
    fn a_smooth_batch_is_a_fifth_of_a_second() {
        assert_eq!(smooth_batch(1000, Some(5000)), 1000);
        assert_eq!(smooth_batch(1000, Some(1000)), 200);
        assert_eq!(smooth_batch(1000, Some(1)), 1);
        assert_eq!(smooth_batch(1000, None), 1000);
    }
}
