//! A run without `--distributed` meeting a migration that workers share:
//! `up` refuses one whose partitions are not all done (it would start over
//! the documents they did), `down` takes every partition away from the
//! workers first, so that none of them writes again after it.
//!
//! Workers hold partitions, not the migration lock, so the lock alone does
//! not keep them out. `down` claims every partition nobody holds (one
//! `updateMany`, the same condition as a worker's claim, a new token each),
//! then looks for partitions still held: when there are some, it hands its
//! claims back and refuses, naming the workers; otherwise it drops them all.
//! A worker that comes back finds nothing to claim and stops on the ledger
//! entry, which `down` rolls back.

use std::time::Duration;

use bson::{doc, DateTime};

use super::record::{coll, load, Partition, PartitionState};
use crate::error::{MigrateError, Result};
use crate::ledger::PARTITIONS_COLLECTION;
use crate::target::Target;

/// Refuses `up` without `--distributed` for a migration whose distributed
/// run is not finished (fine when it was never split, or every partition is
/// done and what is left runs under the lock: a rewrite's catch-up).
pub(crate) async fn check_unshared(target: &Target, migration: &str) -> Result<()> {
    let parts = load(target, migration).await?;
    if parts.iter().all(|p| p.state == PartitionState::Done) {
        return Ok(());
    }
    if let Some(e) = held_error(migration, &parts, "") {
        return Err(e);
    }
    Err(MigrateError::DistributedUnfinished {
        id: migration.to_string(),
        done: parts
            .iter()
            .filter(|p| p.state == PartitionState::Done)
            .count(),
        of: parts.len(),
    })
}

/// Takes every partition of `migration` from the workers for a rollback
/// (`by` names it), or refuses when a worker holds one now; on success its
/// partitions are dropped.
pub(crate) async fn withdraw(
    target: &Target,
    migration: &str,
    by: &str,
    ttl: Duration,
) -> Result<()> {
    if load(target, migration).await?.is_empty() {
        return Ok(());
    }
    let err = |e| {
        MigrateError::db(
            format!("cannot take the partitions of {migration} from its workers ({PARTITIONS_COLLECTION})"),
            e,
        )
    };
    let now = DateTime::now();
    let until = DateTime::from_millis(now.timestamp_millis() + ttl.as_millis() as i64);
    coll(target)
        .update_many(
            doc! {
                "migration": migration,
                "$or": [
                    { "state": "pending" },
                    { "state": "running", "lease_until": { "$lt": now } },
                ],
            },
            doc! {
                "$set": { "state": "running", "owner": by, "lease_until": until },
                "$inc": { "token": 1_i64 },
            },
        )
        .await
        .map_err(err)?;
    let parts = load(target, migration).await?;
    let others: Vec<Partition> = parts
        .into_iter()
        .filter(|p| p.owner.as_deref() != Some(by))
        .collect();
    if let Some(e) = held_error(migration, &others, by) {
        coll(target)
            .update_many(
                doc! { "migration": migration, "owner": by, "state": "running" },
                doc! { "$set": { "state": "pending", "lease_until": null } },
            )
            .await
            .map_err(err)?;
        return Err(e);
    }
    super::record::forget(target, migration).await
}

/// The refusal naming the workers holding partitions of `migration` now
/// (none but `except`), if any.
fn held_error(migration: &str, parts: &[Partition], except: &str) -> Option<MigrateError> {
    let held: Vec<&Partition> = parts
        .iter()
        .filter(|p| p.is_held() && p.owner.as_deref() != Some(except))
        .collect();
    let until = held.iter().filter_map(|p| p.lease_until).max()?;
    let mut workers: Vec<String> = held.iter().filter_map(|p| p.owner.clone()).collect();
    workers.sort();
    workers.dedup();
    Some(MigrateError::PartitionsHeld {
        id: migration.to_string(),
        workers: workers.join(", "),
        until: until.try_to_rfc3339_string().unwrap_or_default(),
    })
}
