//! [`FleetOptions`]: how many databases run at once, and when a fleet run
//! stops starting new ones.

use crate::target::{Target, Topology};

/// How a fleet run goes through its databases.
#[derive(Debug, Clone, Default)]
pub struct FleetOptions {
    /// Databases run at once; `None`: [`default_concurrency`] of the deployment.
    pub concurrency: Option<usize>,
    /// After the first database fails, start no other (those not started are
    /// reported skipped); the ones running finish.
    pub fail_fast: bool,
    /// Run the first N databases (in order) first, and the rest only if all
    /// of them succeeded.
    pub canary: Option<usize>,
}

impl FleetOptions {
    /// Sets the databases run at once.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = Some(n.max(1));
        self
    }

    /// Stops starting databases after the first failure.
    pub fn fail_fast(mut self, yes: bool) -> Self {
        self.fail_fast = yes;
        self
    }

    /// Runs the first `n` databases first, the rest only if they all succeed.
    pub fn canary(mut self, n: usize) -> Self {
        self.canary = Some(n);
        self
    }
}

/// Databases run at once when not told: 4 on a single server (a standalone
/// or a lone replica-set member), whose write path is the limit whatever
/// the number; 8 on a replica set with secondaries or a sharded cluster,
/// which spread the load (majority writes wait on the network, so more
/// databases in flight hide that latency).
pub fn default_concurrency(target: &Target) -> usize {
    match target.topology() {
        Topology::Sharded => 8,
        Topology::ReplicaSet if target.members() > 1 => 8,
        Topology::ReplicaSet | Topology::Standalone => 4,
    }
}
