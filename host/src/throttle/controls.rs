//! [`Controls`]: what holds a run back besides its own speed.

use crate::options::ThrottleOptions;

/// The limits and the pause switches a pipeline run obeys.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Controls {
    /// Rate, replication lag and latency limits.
    pub throttle: ThrottleOptions,
    /// Pause by itself once this percentage of the expected total is done
    /// (`up --pause-at`, for rehearsals).
    pub pause_at: Option<f64>,
    /// Obey `mongoshift pause` (every real run does; a dry run writes
    /// nothing and does not).
    pub obey_pause: bool,
}

impl Controls {
    /// The controls of a run that writes: `throttle`, `pause_at`, and the
    /// pause flag obeyed.
    pub fn writing(throttle: ThrottleOptions, pause_at: Option<f64>) -> Controls {
        Controls {
            throttle,
            pause_at,
            obey_pause: true,
        }
    }

    /// Whether anything is to be watched at all.
    pub(crate) fn any(&self) -> bool {
        self.obey_pause || self.pause_at.is_some() || self.throttle.any()
    }
}
