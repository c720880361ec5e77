//! `swap`: asking a rewrite that waits for its cut-over (`up
//! --postpone-swap`) to swap now, from any machine; and the refusal of a
//! postponed cut-over for a migration that runs in place.

use crate::error::{MigrateError, Result};
use crate::ledger::{not_waiting, LedgerEntry};
use crate::lock::hostname;

use super::migrator::Migrator;

impl Migrator {
    /// [`Migrator::swap`] without its audit record.
    pub(super) async fn swap_unaudited(&self, id: &str) -> Result<LedgerEntry> {
        // The ledger refuses what is not waiting; a wait recorded by a run
        // that died is refused here.
        let recorded_waiting = self
            .ledger
            .get(id)
            .await?
            .is_some_and(|e| not_waiting(&e).is_none());
        if recorded_waiting && !self.run_alive(id).await? {
            return Err(MigrateError::Control {
                id: id.to_string(),
                action: "swap".into(),
                reason: "it was waiting for its swap, but no run holds the lock (the run that \
                         waited is gone); `mongoshift up` resumes it and waits again"
                    .into(),
            });
        }
        let by = format!("{} (pid {})", hostname(), std::process::id());
        self.ledger.request_swap(id, &by).await
    }
}

/// `up --postpone-swap` (or `--swap-at`) for migration `id`, which runs in
/// place (`why`): it has no swap to postpone.
pub(super) fn not_a_rewrite(id: &str, why: &str) -> MigrateError {
    MigrateError::Control {
        id: id.to_string(),
        action: "postpone the swap of".into(),
        reason: format!(
            "it does not run as a rewrite ({why}), so it has no swap; run it without \
             --postpone-swap and --swap-at, or give it `strategy = \"rewrite\"` (`up --to` stops \
             before it)"
        ),
    }
}
