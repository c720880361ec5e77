//! Asking a rewrite that waits for its cut-over to swap: a small `$set` on
//! its ledger entry, written by any process (`mongoshift swap` runs on
//! another machine than the run), read by the run about once a second.

use bson::{doc, DateTime, Document};

use super::collection::LEDGER_COLLECTION;
use super::entry::{LedgerEntry, State};
use super::store::Ledger;
use crate::error::{MigrateError, Result};
use crate::target::Target;

impl Ledger {
    /// Records a swap request on migration `id`, by `by`. Refused, naming
    /// its state, unless it is a running rewrite waiting for its swap that
    /// nobody asked to swap yet. Whether a run is alive to obey it is the
    /// caller's to check.
    pub async fn request_swap(&self, id: &str, by: &str) -> Result<LedgerEntry> {
        let Some(entry) = self.get(id).await? else {
            return Err(refused(
                id,
                "it is not in the ledger: no run has started it; `mongoshift status` lists what \
                 is running"
                    .into(),
            ));
        };
        if let Some(reason) = not_waiting(&entry) {
            return Err(refused(id, reason));
        }
        let filter = doc! {
            "_id": id,
            "state": State::Running.as_str(),
            "rewrite.waiting": { "$ne": null },
            "swap_requested_by": null,
        };
        let set =
            doc! { "$set": { "swap_requested_by": by, "swap_requested_at": DateTime::now() } };
        let updated = entries(self.target())
            .update_one(filter, set)
            .await
            .map_err(|e| MigrateError::db(format!("cannot ask {id} to swap"), e))?;
        if updated.matched_count == 0 {
            return Err(refused(
                id,
                "its entry changed meanwhile (the run ended, or another command got there \
                 first); see `mongoshift status`"
                    .into(),
            ));
        }
        Ok(self.get(id).await?.unwrap_or(entry))
    }
}

/// Why `entry` is not a rewrite waiting for its swap, if it is not.
pub(crate) fn not_waiting(entry: &LedgerEntry) -> Option<String> {
    if entry.state != State::Running {
        return Some(format!(
            "it is {}, not waiting for its swap; only a rewrite run by `mongoshift up \
             --postpone-swap` waits for one",
            entry.state
        ));
    }
    let Some(rw) = &entry.rewrite else {
        return Some(
            "it is running in place, not waiting for a swap; only a rewrite run by \
             `mongoshift up --postpone-swap` has one"
                .into(),
        );
    };
    if let Some(by) = &entry.swap_requested_by {
        return Some(format!(
            "its swap was already asked for (by {by}); its run is swapping"
        ));
    }
    if rw.waiting.is_none() {
        let why = if rw.postponed {
            "its swap is postponed, but its run has not reached the wait yet (it waits once \
             the copy and the first catch-up are done); try again then"
        } else {
            "its swap is not postponed (`mongoshift up --postpone-swap` postpones it)"
        };
        return Some(format!(
            "it is a rewrite in phase {}, not waiting for its swap: {why}",
            rw.phase
        ));
    }
    None
}

fn refused(id: &str, reason: String) -> MigrateError {
    MigrateError::Control {
        id: id.to_string(),
        action: "swap".into(),
        reason,
    }
}

/// Who asked migration `id` to swap, if anyone did (one small read).
pub(crate) async fn swap_requested(target: &Target, id: &str) -> Result<Option<String>> {
    let found = entries(target)
        .find_one(doc! { "_id": id })
        .projection(doc! { "swap_requested_by": 1 })
        .await
        .map_err(|e| {
            MigrateError::db(format!("cannot read the ledger ({LEDGER_COLLECTION})"), e)
        })?;
    Ok(found.and_then(|d| d.get_str("swap_requested_by").ok().map(str::to_string)))
}

fn entries(target: &Target) -> mongodb::Collection<Document> {
    target.db().collection(LEDGER_COLLECTION)
}
