//! Pausing and resuming a running migration, and the throttle state it
//! shows: small `$set`s on its ledger entry, written by any process (`pause`
//! and `resume` run on another machine than the run), read by the run
//! between batches.

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

    /// Whether migration `id` is paused, and by whom (one small read).
    pub(crate) async fn pause_flag(&self, id: &str) -> Result<Option<String>> {
        let found = entries(self.target())
            .find_one(doc! { "_id": id })
            .projection(doc! { "paused": 1, "paused_by": 1 })
            .await
            .map_err(|e| {
                MigrateError::db(format!("cannot read the ledger ({LEDGER_COLLECTION})"), e)
            })?;
        Ok(found
            .filter(|d| d.get_bool("paused").unwrap_or(false))
            .map(|d| {
                d.get_str("paused_by")
                    .unwrap_or("another process")
                    .to_string()
            }))
    }

    /// Records where the throttle of migration `id` stands, for `status`.
    /// Only progress: a failed write is the caller's to ignore.
    pub(crate) async fn set_throttle(&self, id: &str, state: &str) -> Result<()> {
        entries(self.target())
            .update_one(
                doc! { "_id": id, "state": State::Running.as_str() },
                doc! { "$set": { "throttle": state } },
            )
            .await
            .map(drop)
            .map_err(|e| MigrateError::db(format!("cannot record the throttle state of {id}"), e))
    }
}

fn entries(target: &Target) -> mongodb::Collection<Document> {
    target.db().collection(LEDGER_COLLECTION)
}

fn by_whom(entry: &LedgerEntry) -> &str {
    entry.paused_by.as_deref().unwrap_or("another process")
}
