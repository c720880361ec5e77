//! Pausing and resuming a running migration: small `$set`s on its ledger
//! entry, written by any process (`pause` and `resume` run on another
//! machine than the run).

use bson::{doc, DateTime, Document};

use super::collection::LEDGER_COLLECTION;
use super::entry::{LedgerEntry, State};
use super::store::Ledger;
use crate::error::{MigrateError, Result};
use crate::target::Target;

impl Ledger {
    /// Sets (`paused`) or clears the pause flag of migration `id`, recording
    /// `by` and the time. Refused when it is not recorded as running (pause)
    /// or not paused (resume); the error names its state. Whether a run is
    /// alive to obey it is the caller's to check.
    pub async fn set_paused(&self, id: &str, paused: bool, by: &str) -> Result<LedgerEntry> {
        let action = if paused { "pause" } else { "resume" };
        let refused = |reason: String| MigrateError::Control {
            id: id.to_string(),
            action: action.into(),
            reason,
        };
        let Some(entry) = self.get(id).await? else {
            return Err(refused(
                "it is not in the ledger: no run has started it; `mongoshift status` lists what \
                 is running"
                    .into(),
            ));
        };
        if entry.state != State::Running {
            return Err(refused(format!(
                "it is {}, not running; only a migration an `up` is applying can be paused",
                entry.state
            )));
        }
        if entry.paused == paused {
            return Err(refused(if paused {
                format!("it is already paused (by {})", by_whom(&entry))
            } else {
                "it is not paused; `mongoshift pause` pauses it".into()
            }));
        }
        let filter =
            doc! { "_id": id, "state": State::Running.as_str(), "paused": { "$ne": paused } };
        let set =
            doc! { "$set": { "paused": paused, "paused_by": by, "paused_at": DateTime::now() } };
        let updated = entries(self.target())
            .update_one(filter, set)
            .await
            .map_err(|e| MigrateError::db(format!("cannot {action} {id}"), e))?;
        if updated.matched_count == 0 {
            return Err(refused(
                "its entry changed meanwhile (the run ended, or another command got there \
                 first); see `mongoshift status`"
                    .into(),
            ));
        }
        Ok(self.get(id).await?.unwrap_or(entry))
    }
}

fn entries(target: &Target) -> mongodb::Collection<Document> {
    target.db().collection(LEDGER_COLLECTION)
}

fn by_whom(entry: &LedgerEntry) -> &str {
    entry.paused_by.as_deref().unwrap_or("another process")
}
