//! [`LatencyGuard`]: the `--max-latency` limit. It watches the moving
//! average of this run's own batch-commit latency (the server's answer to
//! the run's writes, which is what the application's writes queue behind)
//! and, while it is above the limit, backs off before each commit and halves
//! the rate; below it, the rate comes back gradually.

use std::collections::VecDeque;
use std::time::Duration;

/// Commits in the moving average.
const WINDOW: usize = 5;
/// The first back-off; it doubles while the latency stays high.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// The longest back-off.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// The rate never falls below this many documents per second.
const FLOOR_RATE: f64 = 10.0;
/// Each commit under the limit raises the rate by this factor.
const RECOVERY: f64 = 1.25;

/// The latency limit's state.
#[derive(Debug, Clone)]
pub(crate) struct LatencyGuard {
    limit: Duration,
    recent: VecDeque<Duration>,
    backoff: Duration,
    /// The rate it holds the run to, while it holds it.
    rate: Option<f64>,
    /// The run's rate when it began to hold it: where it lets go when no
    /// rate is configured.
    free: Option<f64>,
    /// Commits since the rate and back-off last stepped down: the average
    /// must see the new rate (a whole window) before it steps again.
    since_step: usize,
}

impl LatencyGuard {
    pub(crate) fn new(limit: Duration) -> LatencyGuard {
        LatencyGuard {
            limit,
            recent: VecDeque::with_capacity(WINDOW),
            backoff: Duration::ZERO,
            rate: None,
            free: None,
            since_step: WINDOW,
        }
    }

    /// The moving average, once there is one.
    pub(crate) fn average(&self) -> Option<Duration> {
        let n = self.recent.len() as u32;
        (n > 0).then(|| self.recent.iter().sum::<Duration>() / n)
    }

    /// Whether the average is above the limit.
    pub(crate) fn above(&self) -> bool {
        self.average().is_some_and(|a| a > self.limit)
    }

    /// After a commit that took `took`, at `current` docs/s (the run's rate
    /// now: the configured one, or what it measured). `ceiling` is where the
    /// rate stops being held (the configured rate, if any).
    pub(crate) fn after_commit(&mut self, took: Duration, current: f64, ceiling: Option<f64>) {
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(took);
        self.since_step += 1;
        if self.above() {
            if self.since_step < WINDOW {
                return;
            }
            self.since_step = 0;
            self.free = self.free.or(Some(current));
            let from = self.rate.unwrap_or(current).min(current);
            self.rate = Some((from / 2.0).max(FLOOR_RATE));
            self.backoff = (self.backoff * 2).clamp(FIRST_BACKOFF, MAX_BACKOFF);
        } else {
            self.backoff = Duration::ZERO;
            let free = ceiling.or(self.free).unwrap_or(f64::INFINITY);
            self.rate = self.rate.map(|r| r * RECOVERY).filter(|r| *r < free);
            if self.rate.is_none() {
                self.free = None;
            }
        }
    }

    /// How long to wait before the next commit.
    pub(crate) fn backoff(&self) -> Duration {
        self.backoff
    }

    /// The rate it holds the run to, if it holds it.
    pub(crate) fn rate(&self) -> Option<f64> {
        self.rate
    }

    /// The limit.
    pub(crate) fn limit(&self) -> Duration {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_doubling_and_halves_the_rate_then_recovers_gradually() {
        let mut g = LatencyGuard::new(Duration::from_millis(10));
        g.after_commit(Duration::from_millis(50), 1000.0, Some(1000.0));
        assert!(g.above());
        assert_eq!(g.backoff(), FIRST_BACKOFF);
        assert_eq!(g.rate(), Some(500.0));
        // The average sees a whole window at the new rate before it steps
        // again.
        for _ in 1..WINDOW {
            g.after_commit(Duration::from_millis(50), 500.0, Some(1000.0));
            assert_eq!(g.rate(), Some(500.0));
        }
        g.after_commit(Duration::from_millis(50), 500.0, Some(1000.0));
        assert_eq!(g.backoff(), FIRST_BACKOFF * 2);
        assert_eq!(g.rate(), Some(250.0));
        for _ in 0..10 * WINDOW {
            g.after_commit(Duration::from_millis(50), 100.0, Some(1000.0));
        }
        assert_eq!(g.backoff(), MAX_BACKOFF, "capped");
        // Fast commits bring the average under the limit, then the rate up.
        for _ in 0..WINDOW {
            g.after_commit(Duration::ZERO, 100.0, Some(1000.0));
        }
        assert!(!g.above());
        assert_eq!(g.backoff(), Duration::ZERO);
        let held = g.rate().expect("still held");
        g.after_commit(Duration::ZERO, held, Some(1000.0));
        assert!(g.rate().expect("still held") > held, "recovers");
        for _ in 0..40 {
            g.after_commit(Duration::ZERO, 100.0, Some(1000.0));
        }
        assert_eq!(g.rate(), None, "let go at the configured rate");
    }
}
