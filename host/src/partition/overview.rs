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
    /// About how many documents are left (from the estimates of the split).
    pub left: i64,
    /// Documents per second, over the workers holding partitions now.
    pub rate: u64,
    /// Seconds left at that rate, when there is one.
    pub eta_seconds: Option<u64>,
}

/// A worker holding partitions now (its lease has not expired).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveWorker {
    /// Its name (`--worker`).
    pub worker: String,
    /// The partitions it holds (`<migration>:<index>`).
    pub partitions: Vec<String>,
    /// Documents done in them so far (by every holder).
    pub documents: i64,
    /// Documents per second it has done since claiming them.
    pub rate: u64,
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
    let now = DateTime::now();
    let mut rates: BTreeMap<&str, f64> = BTreeMap::new();
    let mut by: BTreeMap<&str, PartitionCounts> = BTreeMap::new();
    for p in parts {
        let c = by
            .entry(p.migration.as_str())
            .or_insert_with(|| PartitionCounts {
                migration: p.migration.clone(),
                ..PartitionCounts::default()
            });
        c.total += 1;
        c.documents += p.done();
        c.left += p.left();
        *rates.entry(p.migration.as_str()).or_insert(0.0) += p.rate(now);
        match p.state {
            PartitionState::Done => c.done += 1,
            _ if p.is_held() => c.running += 1,
            _ => c.pending += 1,
        }
    }
    for (m, c) in by.iter_mut() {
        let rate = rates.get(m).copied().unwrap_or(0.0);
        c.rate = rate.round() as u64;
        c.eta_seconds = (rate >= 1.0).then(|| (c.left as f64 / rate).round() as u64);
    }
    by.into_values().collect()
}

/// The workers holding partitions now, by name.
pub fn live_workers(parts: &[Partition]) -> Vec<LiveWorker> {
    let now = DateTime::now();
    let mut rates: BTreeMap<&str, f64> = BTreeMap::new();
    let mut by: BTreeMap<&str, LiveWorker> = BTreeMap::new();
    for p in parts.iter().filter(|p| p.is_held()) {
        let (Some(owner), Some(until)) = (p.owner.as_deref(), p.lease_until) else {
            continue;
        };
        let w = by.entry(owner).or_insert_with(|| LiveWorker {
            worker: owner.to_string(),
            partitions: Vec::new(),
            documents: 0,
            rate: 0,
            lease_until: until,
        });
        w.partitions.push(p.id.clone());
        w.documents += p.done();
        w.lease_until = w.lease_until.min(until);
        *rates.entry(owner).or_insert(0.0) += p.rate(now);
    }
    for (name, w) in by.iter_mut() {
        w.rate = rates.get(name).copied().unwrap_or(0.0).round() as u64;
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
            estimate: Some(1000),
            claimed_at: Some(DateTime::from_millis(now - 10_000)),
            claimed_read: 0,
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

    #[test]
    fn rates_and_eta_come_from_what_each_holder_did_since_its_claim() {
        let mut held = part(1, PartitionState::Running, Some("a"), 30);
        held.checkpoint = Some(crate::ledger::Checkpoint {
            read: 700,
            ..Default::default()
        });
        // 200 of them were done by an earlier holder: 500 in 10 s is 50/s.
        held.claimed_read = 200;
        let parts = [
            part(0, PartitionState::Done, Some("a"), -60),
            held,
            part(2, PartitionState::Pending, None, -60),
        ];
        let c = &counts(&parts)[0];
        assert_eq!(c.rate, 50);
        // 300 left in the held one, 1000 in the pending one, none in the done one.
        assert_eq!(c.left, 1300);
        assert_eq!(c.eta_seconds, Some(26));
        assert_eq!(live_workers(&parts)[0].rate, 50);
    }
}
