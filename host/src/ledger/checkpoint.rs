//! [`Checkpoint`]: where a document-by-document run stands, and its write,
//! which commits inside the batch's own transaction.

use bson::doc;
use mongodb::ClientSession;
use serde::{Deserialize, Serialize};

use super::collection::{LEDGER_COLLECTION, PARTITIONS_COLLECTION};
use crate::batch::Outcome;
use crate::error::{MigrateError, Result};
use crate::target::Target;

/// Where a document-by-document run stands: everything up to and including
/// `last_id` (in `_id` order) is done. Committed in the same transaction as the
/// batch it follows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// `_id` of the last document done.
    pub last_id: Option<bson::Bson>,
    /// Documents read and decided.
    pub read: i64,
    /// Kept unchanged.
    pub kept: i64,
    /// Replaced.
    pub replaced: i64,
    /// Deleted.
    pub deleted: i64,
    /// Failed (quarantined).
    pub failed: i64,
    /// Batches committed.
    pub batches: i64,
    /// Documents changed by another client while their batch was in flight,
    /// read and transformed again.
    #[serde(default)]
    pub changed: i64,
    /// Documents deleted by another client (or changed to no longer match the
    /// filter) while their batch was in flight, left alone.
    #[serde(default)]
    pub gone: i64,
    /// Writes to other collections (cross-collection migrations), by
    /// collection (`name` or `database.name`, as declared in `outputs`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub outputs: std::collections::BTreeMap<String, i64>,
}

impl Checkpoint {
    /// Counts one document's outcome (`delta` -1 takes one back, when a
    /// document changed in flight got another outcome).
    pub(crate) fn count(&mut self, o: &Outcome, delta: i64) {
        match o {
            Outcome::Keep => self.kept += delta,
            Outcome::Replace(_) => self.replaced += delta,
            Outcome::Delete => self.deleted += delta,
            Outcome::Fail(_) => self.failed += delta,
        }
    }
}

/// Where a run's checkpoint is recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckpointSlot {
    /// The migration's ledger entry, fenced by the lock's token.
    #[default]
    Entry,
    /// One partition of a distributed run (the `_id` of its document in
    /// [`PARTITIONS_COLLECTION`]), fenced by the token of its claim: a
    /// worker whose claim was taken over cannot move it.
    Partition(String),
    /// A replay of quarantined documents (`mongoshift quarantine replay`):
    /// no checkpoint moves; each batch only proves the lock is still held
    /// (fenced by its token), and the batch's quarantine entries are
    /// replaced or cleared with its writes.
    Replay,
}

/// Whose checkpoint a batch moves, and the token that fences it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CheckpointAt<'a> {
    pub(crate) migration: &'a str,
    pub(crate) slot: &'a CheckpointSlot,
    pub(crate) fence: i64,
}

/// Records `next` as the checkpoint at `at` (with its counters), fenced:
/// only the holder of token `at.fence` may move it. In `session`, when
/// given: inside the transaction of the batch it follows. `batch`
/// (1-based) names the batch if the lease was lost.
pub(crate) async fn save_checkpoint(
    target: &Target,
    at: CheckpointAt<'_>,
    next: &Checkpoint,
    batch: u64,
    session: Option<&mut ClientSession>,
) -> Result<()> {
    let encoding = |e: &dyn std::fmt::Display| MigrateError::Encoding {
        context: "cannot encode the checkpoint".into(),
        message: e.to_string(),
    };
    let cpb = bson::to_bson(next).map_err(|e| encoding(&e))?;
    let update = match at.slot {
        CheckpointSlot::Entry => doc! {
            "update": LEDGER_COLLECTION,
            "updates": [ {
                "q": { "_id": at.migration, "fence": at.fence },
                "u": { "$set": {
                    "checkpoint": cpb,
                    "matched": next.read,
                    "modified": next.replaced + next.deleted,
                    "quarantined": next.failed,
                } },
            } ],
        },
        CheckpointSlot::Replay => doc! {
            "update": LEDGER_COLLECTION,
            "updates": [ {
                "q": { "_id": at.migration, "fence": at.fence },
                "u": { "$set": { "replayed_at": bson::DateTime::now() } },
            } ],
        },
        CheckpointSlot::Partition(id) => doc! {
            "update": PARTITIONS_COLLECTION,
            "updates": [ {
                "q": { "_id": id, "token": at.fence, "state": "running" },
                "u": { "$set": { "checkpoint": cpb } },
            } ],
        },
    };
    let cmd = bson::RawDocumentBuf::from_document(&update).map_err(|e| encoding(&e))?;
    let reply = target
        .run_raw(cmd, session)
        .await
        .map_err(|e| MigrateError::db("cannot write the batch", e))?;
    if reply.get_i32("n").unwrap_or(0) != 1 {
        return Err(match at.slot {
            CheckpointSlot::Entry | CheckpointSlot::Replay => MigrateError::LockLost {
                what: format!("the checkpoint of batch {batch}"),
            },
            CheckpointSlot::Partition(id) => MigrateError::PartitionLost {
                partition: id.clone(),
                what: format!("the checkpoint of batch {batch}"),
            },
        });
    }
    Ok(())
}
