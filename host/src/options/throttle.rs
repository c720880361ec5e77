//! [`ThrottleOptions`]: how fast a run may write on a live deployment.

use std::time::Duration;

/// The limits a run holds itself to; each is off when `None`. Set in a
/// manifest (`max_rate`, `max_lag_s`, `max_latency_ms`) or by `up`'s flags,
/// which win.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ThrottleOptions {
    /// Documents committed per second, at most (smoothly: no bursts).
    pub max_rate: Option<u32>,
    /// Wait before a commit while any secondary lags the primary by more.
    pub max_lag: Option<Duration>,
    /// Back off while the moving average of this run's batch-commit
    /// latency is above this.
    pub max_latency: Option<Duration>,
}

impl ThrottleOptions {
    /// Each limit of `self`, else of `fallback` (flags over the manifest).
    pub fn or(self, fallback: ThrottleOptions) -> ThrottleOptions {
        ThrottleOptions {
            max_rate: self.max_rate.or(fallback.max_rate),
            max_lag: self.max_lag.or(fallback.max_lag),
            max_latency: self.max_latency.or(fallback.max_latency),
        }
    }

    /// Whether any limit is set.
    pub fn any(&self) -> bool {
        self.max_rate.is_some() || self.max_lag.is_some() || self.max_latency.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_manifest_limit_by_limit() {
        let flags = ThrottleOptions {
            max_rate: Some(10),
            ..ThrottleOptions::default()
        };
        let manifest = ThrottleOptions {
            max_rate: Some(99),
            max_lag: Some(Duration::from_secs(5)),
            max_latency: None,
        };
        let both = flags.or(manifest);
        assert_eq!(both.max_rate, Some(10));
        assert_eq!(both.max_lag, Some(Duration::from_secs(5)));
        assert!(both.any());
        assert!(!ThrottleOptions::default().any());
    }
}
