//! Swaps a run left half-way: found by every command, so the first thing a
//! user reads says what happened to the collection and what to run.

use serde::Serialize;

use super::catalog;
use super::fence;
use super::state::Phase;
use crate::error::Result;
use crate::ledger::{LedgerEntry, State};
use crate::progress::Direction;
use crate::target::Target;

/// A rewrite whose run stopped inside its window (fence, rename, or the
/// rollback's), with no run working on it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interrupted {
    /// The migration.
    pub id: String,
    /// The collection swapped.
    pub collection: String,
    /// Where it stopped.
    pub phase: Phase,
    /// Whether the collection refuses inserts and updates now (a fence left
    /// on it that does not expire, or has not yet).
    pub writes_refused: bool,
    /// Whether no collection has the name now (only between the two renames
    /// of an earlier version's swap).
    pub missing: bool,
    /// Whether it was `down` that stopped.
    pub rolling_back: bool,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.collection;
        let writes = if self.missing {
            format!("{c} does not exist until then (its original is in the backup)")
        } else if self.writes_refused {
            format!("writes to {c} are refused until then")
        } else {
            format!("{c} takes writes and holds every document")
        };
        if self.rolling_back {
            write!(
                f,
                "migration {} was interrupted while rolling back its swap of {c} ({}): {writes}; \
                 run `mongoshift down` to finish the rollback or `mongoshift up` to undo it",
                self.id, self.phase
            )
        } else {
            write!(
                f,
                "migration {} was interrupted in its swap of {c} ({}): {writes}; \
                 run `mongoshift up` to finish it or `mongoshift down` to undo it",
                self.id, self.phase
            )
        }
    }
}

/// The swaps of `entries` left half-way by a run that is gone (its lease
/// lapsed, or its process no longer exists on this host). Empty while a run
/// holds the lock: it is working on them.
pub async fn find(target: &Target, entries: &[LedgerEntry]) -> Result<Vec<Interrupted>> {
    if crate::lock::state(target)
        .await?
        .is_some_and(|s| !crate::lock::holder_gone(&s))
    {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    for e in entries {
        let Some(r) = &e.rewrite else { continue };
        if !matches!(e.state, State::Running | State::Failed) || !r.phase.in_window() {
            continue;
        }
        let missing = !catalog::exists(target, &r.collection).await?;
        let validation = catalog::validation(target, &r.collection).await?;
        found.push(Interrupted {
            id: e.id.clone(),
            collection: r.collection.clone(),
            phase: r.phase,
            writes_refused: fence::refuses_writes(&validation),
            missing,
            rolling_back: e.direction == Some(Direction::Down),
        });
    }
    Ok(found)
}
