//! [`Pace`]: a migration's rate and ETA as the progress renderer shows
//! them, with the time the run spent paused left out (the events carry it).

use std::time::{Duration, Instant};

/// When a migration's progress started, and from where.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pace {
    started: Instant,
    /// Documents done at the first progress event (a resumed run's
    /// checkpoint).
    first: Option<u64>,
}

impl Pace {
    pub(super) fn new() -> Pace {
        Pace {
            started: Instant::now(),
            first: None,
        }
    }

    /// Documents per second over the time not paused, once measurable.
    pub(super) fn rate(&mut self, done: u64, paused_ms: u64) -> Option<f64> {
        let first = *self.first.get_or_insert(done);
        let active = self
            .started
            .elapsed()
            .saturating_sub(Duration::from_millis(paused_ms));
        (active >= Duration::from_millis(500) && done > first)
            .then(|| (done - first) as f64 / active.as_secs_f64())
    }

    /// The rate and the time left at it, in words: `1234 docs/s, eta 5s`.
    pub(super) fn describe(&mut self, done: u64, total: Option<u64>, paused_ms: u64) -> String {
        let Some(rate) = self.rate(done, paused_ms) else {
            return String::new();
        };
        let eta = total
            .filter(|t| *t >= done)
            .map(|t| format!(", eta {}s", ((t - done) as f64 / rate).round() as u64))
            .unwrap_or_default();
        format!(", {rate:.0} docs/s{eta}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paused_time_is_left_out_of_the_rate() {
        let mut pace = Pace {
            started: Instant::now() - Duration::from_secs(10),
            first: Some(0),
        };
        let busy = pace.rate(1000, 0).expect("measurable");
        let paused = pace.rate(1000, 5_000).expect("measurable");
        assert!((busy - 100.0).abs() < 5.0, "{busy}");
        assert!((paused - 200.0).abs() < 10.0, "{paused}");
        assert!(pace.describe(1000, Some(2000), 5_000).contains("eta 5s"));
    }
}
