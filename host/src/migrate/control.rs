//! `pause` and `resume`: a flag on a running migration's ledger entry,
//! obeyed by its run (every worker of a distributed run) between batches.

use crate::error::{MigrateError, Result};
use crate::ledger::LedgerEntry;
use crate::lock::{hostname, state};
use crate::options::ThrottleOptions;
use crate::partition::PartitionState;
use crate::throttle::Controls;

use super::migrator::Migrator;

impl Migrator {
    /// [`Migrator::pause`] without its audit record.
    pub(super) async fn pause_unaudited(&self, id: &str) -> Result<LedgerEntry> {
        if !self.run_alive(id).await? {
            let state = match self.ledger.get(id).await? {
                Some(e) if e.state == crate::ledger::State::Running => {
                    "recorded as running, but no run holds the lock or a partition of it (the \
                     run that started it is gone); `mongoshift up` goes on from its checkpoint"
                        .to_string()
                }
                Some(e) => format!(
                    "it is {}, not running; only a migration an `up` is applying can be paused",
                    e.state
                ),
                None => "it is not in the ledger: no run has started it; `mongoshift status` \
                         lists what is running"
                    .into(),
            };
            return Err(MigrateError::Control {
                id: id.to_string(),
                action: "pause".into(),
                reason: state,
            });
        }
        self.ledger.set_paused(id, true, &whoami()).await
    }

    /// [`Migrator::resume`] without its audit record.
    pub(super) async fn resume_unaudited(&self, id: &str) -> Result<LedgerEntry> {
        self.ledger.set_paused(id, false, &whoami()).await
    }

    /// Whether a run is applying `id` now: the lock is held, or a
    /// distributed worker holds one of its partitions.
    pub(super) async fn run_alive(&self, id: &str) -> Result<bool> {
        if state(&self.target).await?.is_some_and(|s| s.is_live()) {
            return Ok(true);
        }
        let now = bson::DateTime::now();
        let parts = crate::partition::load(&self.target, id).await?;
        Ok(parts
            .iter()
            .any(|p| p.state == PartitionState::Running && p.lease_until.is_some_and(|t| t > now)))
    }

    /// The controls of a run of a migration whose manifest sets `manifest`
    /// limits: the flags' win.
    pub(super) fn controls_with(&self, manifest: &ThrottleOptions) -> Controls {
        Controls {
            throttle: self.controls.throttle.or(*manifest),
            ..self.controls
        }
    }
}

/// Who pauses or resumes: this host and process.
fn whoami() -> String {
    format!("{} (pid {})", hostname(), std::process::id())
}
