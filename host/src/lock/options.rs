//! [`LockOptions`]: how a run takes the lock.

use std::time::Duration;

/// How a run takes the lock.
#[derive(Debug, Clone)]
pub struct LockOptions {
    /// How long a lease lasts without renewal.
    pub ttl: Duration,
    /// How long to wait for another run's lease before giving up.
    pub wait: Duration,
    /// How often to retry while waiting.
    pub poll: Duration,
}

impl Default for LockOptions {
    fn default() -> Self {
        LockOptions {
            ttl: Duration::from_secs(30),
            wait: Duration::from_secs(120),
            poll: Duration::from_millis(250),
        }
    }
}

impl LockOptions {
    /// Sets how long to wait for another run.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// Sets the lease length (the heartbeat renews it every third of that).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.max(Duration::from_secs(1));
        self
    }
}
