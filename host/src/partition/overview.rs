//! What the recorded partitions say now: how far each distributed migration
//! is ([`PartitionCounts`]) and which workers hold partitions
//! ([`LiveWorker`]), for `status` and `workers`.

use std::collections::BTreeMap;

use bson::{doc, DateTime};
use futures_util::TryStreamExt;
use serde::Serialize;

use super::record::{coll, Partition, PartitionState};
use crate::error::{MigrateError, Result};
use crate::ledger::PARTITIONS_COLLECTION;
use crate::target::Target;

/// How far the partitions of one migration are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PartitionCounts {
    /// The migration.
    pub migration: String,
    /// Partitions recorded.
    pub total: usize,
    /// Done.
    pub done: usize,
    /// Held by a live worker.
    pub running: usize,
    /// Waiting for a worker (never claimed, handed back, or whose worker's
    /// lease expired).
    pub pending: usize,
    /// Documents done so far, over every partition.
    pub documents: i64,
}

/// A worker holding partitions now (its lease has not expired).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveWorker {
    /// Its name (`--worker`).
    pub worker: String,
    /// The partitions it holds (`<migration>:<index>`).
    pub partitions: Vec<String>,
    /// Documents it has done in them so far.
    pub documents: i64,
    /// When its earliest lease lapses unless renewed.
    pub lease_until: DateTime,
}

/// Every recorded partition, by migration and index.
pub async fn all_partitions(target: &Target) -> Result<Vec<Partition>> {
    let err = |e| MigrateError::db(format!("cannot read {PARTITIONS_COLLECTION}"), e);
    coll(target)
        .find(doc! {})
        .sort(doc! { "migration": 1, "index": 1 })
        .await
        .map_err(err)?
        .try_collect()
        .await
        .map_err(err)
}

/// How far each migration's partitions are, by migration.
pub fn counts(parts: &[Partition]) -> Vec<PartitionCounts> {
    let mut by: BTreeMap<&str, PartitionCounts> = BTreeMap::new();
    for p in parts {
        let c = by
            .entry(p.migration.as_str())
            .or_insert_with(|| PartitionCounts {
                migration: p.migration.clone(),
                ..PartitionCounts::default()
            });
        c.total += 1;
        c.documents += p.checkpoint.as_ref().map_or(0, |cp| cp.read);
        match p.state {
            PartitionState::Done => c.done += 1,
            _ if p.is_held() => c.running += 1,
            _ => c.pending += 1,
        }
    }
    by.into_values().collect()
}

/// The workers holding partitions now, by name.
pub fn live_workers(parts: &[Partition]) -> Vec<LiveWorker> {
    let mut by: BTreeMap<&str, LiveWorker> = BTreeMap::new();
    for p in parts.iter().filter(|p| p.is_held()) {
        let (Some(owner), Some(until)) = (p.owner.as_deref(), p.lease_until) else {
            continue;
        };
        let w = by.entry(owner).or_insert_with(|| LiveWorker {
            worker: owner.to_string(),
            partitions: Vec::new(),
            documents: 0,
            lease_until: until,
        });
        w.partitions.push(p.id.clone());
        w.documents += p.checkpoint.as_ref().map_or(0, |cp| cp.read);
        w.lease_until = w.lease_until.min(until);
    }
    by.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::Bson;

    fn part(index: u32, state: PartitionState, owner: Option<&str>, lease_s: i64) -> Partition {
        let now = DateTime::now().timestamp_millis();
        Partition {
            id: format!("m:{index:06}"),
            migration: "m".into(),
            index,
            of: 4,
            lo: Bson::MinKey,
            hi: Bson::MaxKey,
            shard: None,
            state,
            owner: owner.map(Into::into),
            token: 1,
            lease_until: Some(DateTime::from_millis(now + lease_s * 1000)),
            checkpoint: None,
            checksum: String::new(),
            tool_version: String::new(),
            collection_uuid: None,
            error: None,
        }
    }

    #[test]
    fn an_expired_lease_counts_as_pending_and_its_worker_is_not_live() {
        let parts = [
            part(0, PartitionState::Done, Some("a"), -60),
            part(1, PartitionState::Running, Some("a"), 30),
            part(2, PartitionState::Running, Some("b"), -5),
            part(3, PartitionState::Pending, None, -60),
        ];
        let c = &counts(&parts)[0];
        assert_eq!((c.total, c.done, c.running, c.pending), (4, 1, 1, 2));
        let live = live_workers(&parts);
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].worker, "a");
        assert_eq!(live[0].partitions, ["m:000001"]);
    }
}
