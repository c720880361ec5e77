//! [`ThrottleState`]: whether a run writes at will or is held back, and why.

use std::time::Duration;

/// Where a run's throttle stands.
#[derive(Debug, Clone, PartialEq)]
pub enum ThrottleState {
    /// Writing as fast as its limits allow, none holding it back.
    Running,
    /// Held back.
    Throttled(Reason),
}

/// Why a run is held back, with the value measured.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Reason {
    /// `--max-rate` is what the run writes at.
    Rate {
        /// The limit, documents per second.
        limit: u32,
    },
    /// A secondary lags more than `--max-lag`.
    Lag {
        /// The lag measured.
        measured: Duration,
        /// The limit.
        limit: Duration,
    },
    /// Batch commits take longer than `--max-latency` on average.
    Latency {
        /// The moving average measured.
        measured: Duration,
        /// The limit.
        limit: Duration,
        /// The rate the run is held to meanwhile, documents per second.
        rate: u64,
    },
}

impl Reason {
    /// The same kind of reason, whatever was measured.
    pub(crate) fn same_kind(&self, other: &Reason) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

impl ThrottleState {
    /// `running` or `throttled`.
    pub fn name(&self) -> &'static str {
        match self {
            ThrottleState::Running => "running",
            ThrottleState::Throttled(_) => "throttled",
        }
    }

    /// What holds it back: `rate`, `lag` or `latency`.
    pub fn kind(&self) -> Option<&'static str> {
        let ThrottleState::Throttled(r) = self else {
            return None;
        };
        Some(match r {
            Reason::Rate { .. } => "rate",
            Reason::Lag { .. } => "lag",
            Reason::Latency { .. } => "latency",
        })
    }

    /// Why it is throttled, in words, with the value measured.
    pub fn reason(&self) -> Option<String> {
        let ThrottleState::Throttled(r) = self else {
            return None;
        };
        Some(match r {
            Reason::Rate { limit } => format!("at the rate limit of {limit} docs/s (--max-rate)"),
            Reason::Lag { measured, limit } => format!(
                "replication lag {:.1} s is above {} s (--max-lag)",
                measured.as_secs_f64(),
                limit.as_secs()
            ),
            Reason::Latency {
                measured,
                limit,
                rate,
            } => format!(
                "batch commit latency {} ms is above {} ms (--max-latency); held to {rate} docs/s",
                measured.as_millis(),
                limit.as_millis()
            ),
        })
    }

    /// What the ledger records: `running`, or `throttled: <reason>`.
    pub fn ledger_text(&self) -> String {
        match self.reason() {
            Some(r) => format!("throttled: {r}"),
            None => "running".into(),
        }
    }

    /// Whether `other` is the same state for the reader: the same kind of
    /// reason, whatever was measured (so a changing measure is not news).
    pub(crate) fn same_as(&self, other: &ThrottleState) -> bool {
        match (self, other) {
            (ThrottleState::Running, ThrottleState::Running) => true,
            (ThrottleState::Throttled(a), ThrottleState::Throttled(b)) => a.same_kind(b),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ledger_text_names_the_reason_and_the_value() {
        let lag = ThrottleState::Throttled(Reason::Lag {
            measured: Duration::from_millis(12_340),
            limit: Duration::from_secs(10),
        });
        assert_eq!(
            lag.ledger_text(),
            "throttled: replication lag 12.3 s is above 10 s (--max-lag)"
        );
        assert_eq!(ThrottleState::Running.ledger_text(), "running");
        let other = ThrottleState::Throttled(Reason::Lag {
            measured: Duration::from_secs(11),
            limit: Duration::from_secs(10),
        });
        assert!(lag.same_as(&other));
        assert!(!lag.same_as(&ThrottleState::Running));
    }
}
