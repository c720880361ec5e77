//! The ledger entry of a distributed migration: counted on by each partition
//! done, applied by the transaction that marks the last one done.

use bson::{doc, DateTime, Document};
use mongodb::{ClientSession, Collection};

use super::checkpoint::Checkpoint;
use super::collection::LEDGER_COLLECTION;
use crate::error::{MigrateError, Result};
use crate::target::Target;

fn coll(target: &Target) -> Collection<Document> {
    target.db().collection(LEDGER_COLLECTION)
}

/// What the transaction that marks a migration's last partition done does
/// besides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AfterLast {
    /// Marks the migration applied.
    Apply,
    /// Moves a shared rewrite from its copy to its catch-up, which one
    /// worker then runs (with the swap) under the lock.
    CatchUp,
}

/// Counts one more partition of `migration` done, inside the transaction
/// that marks it done. Every such transaction writes this one document, so
/// two of them that run at once conflict and one starts over (and then sees
/// the other's partition done): the last partition is never missed. With
/// `all` (the sum of every partition's checkpoint, when this was the last
/// one) the same write records their counts and does what `then` says.
pub(crate) async fn partition_done(
    target: &Target,
    migration: &str,
    all: Option<&Checkpoint>,
    then: AfterLast,
    session: &mut ClientSession,
) -> Result<()> {
    let err = |e| {
        MigrateError::db(
            format!("cannot record a partition of {migration} done in the ledger"),
            e,
        )
    };
    let mut update = doc! { "$inc": { "partitions_done": 1_i64 } };
    if let Some(cp) = all {
        let entry = coll(target)
            .find_one(doc! { "_id": migration })
            .session(&mut *session)
            .await
            .map_err(err)?;
        let started = entry
            .as_ref()
            .and_then(|e| e.get_datetime("started_at").ok().copied());
        let now = DateTime::now();
        let duration = started.map_or(0, |s| now.timestamp_millis() - s.timestamp_millis());
        let state = if cp.failed > 0 {
            "applied_with_errors"
        } else {
            "applied"
        };
        let cpb = bson::to_bson(cp).map_err(|e| MigrateError::Encoding {
            context: "cannot encode the checkpoint".into(),
            message: e.to_string(),
        })?;
        let counts = doc! {
            "checkpoint": cpb,
            "matched": cp.read,
            "modified": cp.replaced + cp.deleted,
            "quarantined": cp.failed,
        };
        let mut set = match then {
            AfterLast::Apply => doc! {
                "state": state,
                "error": null,
                "applied_at": now,
                "finished_at": now,
                "duration_ms": duration,
            },
            AfterLast::CatchUp => doc! { "rewrite.phase": "catch-up" },
        };
        set.extend(counts);
        update.insert("$set", set);
    }
    coll(target)
        .update_one(doc! { "_id": migration }, update)
        .session(session)
        .await
        .map_err(err)?;
    Ok(())
}

/// Records that a worker of distributed `migration` failed with `error`
/// (the entry was running): the other workers stop, and the next
/// `up --distributed` goes on from every partition's checkpoint.
pub(crate) async fn partition_failed(target: &Target, migration: &str, error: &str) -> Result<()> {
    coll(target)
        .update_one(
            doc! { "_id": migration, "state": "running" },
            doc! { "$set": { "state": "failed", "error": error, "finished_at": DateTime::now() } },
        )
        .await
        .map_err(|e| {
            MigrateError::db(
                format!("cannot record the failure of {migration} in the ledger"),
                e,
            )
        })?;
    Ok(())
}
