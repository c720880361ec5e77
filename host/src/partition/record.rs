//! [`Partition`]: one recorded range of a distributed migration, written once
//! by the worker that split it and read by every other.

use bson::{doc, Bson, DateTime};
use futures_util::TryStreamExt;
use mongodb::Collection;
use serde::{Deserialize, Serialize};

use super::range::Range;
use crate::error::{MigrateError, Result};
use crate::ledger::{Checkpoint, PARTITIONS_COLLECTION};
use crate::target::Target;

/// Where a partition stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PartitionState {
    /// Nobody has claimed it yet (or its worker handed it back).
    Pending,
    /// A worker holds it (or held it, when the lease has expired).
    Running,
    /// Every document of it is done.
    Done,
}

/// One partition document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Partition {
    /// `<migration>:<index>`.
    #[serde(rename = "_id")]
    pub id: String,
    /// The migration it belongs to.
    pub migration: String,
    /// Its place in the split (0-based).
    pub index: u32,
    /// How many partitions the split made.
    pub of: u32,
    /// The first `_id` (`MinKey`: from the start).
    pub lo: Bson,
    /// The first `_id` after it (`MaxKey`: to the end).
    pub hi: Bson,
    /// The shard holding it, on a sharded cluster.
    #[serde(default)]
    pub shard: Option<String>,
    /// Where it stands.
    pub state: PartitionState,
    /// The worker holding (or that last held) it.
    #[serde(default)]
    pub owner: Option<String>,
    /// The fencing token of the latest claim.
    #[serde(default)]
    pub token: i64,
    /// When the holder's lease lapses unless renewed.
    #[serde(default)]
    pub lease_until: Option<DateTime>,
    /// Where its run stands, moved by each batch's transaction.
    #[serde(default)]
    pub checkpoint: Option<Checkpoint>,
    /// The migration's checksum when the split was made.
    pub checksum: String,
    /// The mongoshift version that made the split.
    pub tool_version: String,
    /// The UUID of the collection split: one dropped and re-created since
    /// has other documents, which the ranges were not cut for.
    #[serde(default)]
    pub collection_uuid: Option<bson::Binary>,
    /// Why its last worker stopped, when it failed.
    #[serde(default)]
    pub error: Option<String>,
    /// About how many documents it held when the collection was split.
    #[serde(default)]
    pub estimate: Option<i64>,
    /// When its holder claimed it.
    #[serde(default)]
    pub claimed_at: Option<DateTime>,
    /// Documents done in it when its holder claimed it (by earlier
    /// holders): what the holder did since tells its rate.
    #[serde(default)]
    pub claimed_read: i64,
}

impl Partition {
    /// Its `_id` range.
    pub fn range(&self) -> Range {
        Range {
            lo: self.lo.clone(),
            hi: self.hi.clone(),
            shard: self.shard.clone(),
            estimate: self.estimate.map(|n| n.max(0) as u64),
        }
    }

    /// Whether a worker holds it now.
    pub fn is_held(&self) -> bool {
        self.state == PartitionState::Running
            && self.lease_until.is_some_and(|t| t > DateTime::now())
    }

    /// Documents done in it so far, by every holder.
    pub fn done(&self) -> i64 {
        self.checkpoint.as_ref().map_or(0, |cp| cp.read)
    }

    /// Documents per second its holder has done since claiming it (0 when
    /// nobody holds it).
    pub fn rate(&self, now: DateTime) -> f64 {
        let Some(since) = self.claimed_at.filter(|_| self.is_held()) else {
            return 0.0;
        };
        let secs = (now.timestamp_millis() - since.timestamp_millis()) as f64 / 1000.0;
        if secs <= 0.0 {
            return 0.0;
        }
        (self.done() - self.claimed_read).max(0) as f64 / secs
    }

    /// About how many documents are left in it (0 once done, or once past
    /// its estimate).
    pub fn left(&self) -> i64 {
        match self.state {
            PartitionState::Done => 0,
            _ => (self.estimate.unwrap_or(0) - self.done()).max(0),
        }
    }
}

/// What a split is recorded with, for the workers that join it.
#[derive(Debug, Clone)]
pub(crate) struct RecordedBy<'a> {
    /// The migration.
    pub(crate) migration: &'a str,
    /// Its checksum.
    pub(crate) checksum: &'a str,
    /// The UUID of the collection split.
    pub(crate) collection_uuid: Option<bson::Binary>,
}

pub(super) fn coll(target: &Target) -> Collection<Partition> {
    target.db().collection(PARTITIONS_COLLECTION)
}

/// Records `ranges` as the partitions of a migration: one insert, by the
/// worker holding the migration lock.
pub(crate) async fn record(target: &Target, by: &RecordedBy<'_>, ranges: Vec<Range>) -> Result<()> {
    let of = ranges.len() as u32;
    let docs = ranges.into_iter().enumerate().map(|(i, r)| Partition {
        id: format!("{}:{i:06}", by.migration),
        migration: by.migration.into(),
        index: i as u32,
        of,
        lo: r.lo,
        hi: r.hi,
        shard: r.shard,
        state: PartitionState::Pending,
        owner: None,
        token: 0,
        lease_until: None,
        checkpoint: None,
        checksum: by.checksum.into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        collection_uuid: by.collection_uuid.clone(),
        error: None,
        estimate: r.estimate.map(|n| n as i64),
        claimed_at: None,
        claimed_read: 0,
    });
    coll(target).insert_many(docs).await.map_err(|e| {
        MigrateError::db(
            format!("cannot record the partitions of {}", by.migration),
            e,
        )
    })?;
    Ok(())
}

/// Drops the partitions of an earlier run of `migration` (one since rolled
/// back), before it is split again.
pub(crate) async fn forget(target: &Target, migration: &str) -> Result<()> {
    coll(target)
        .delete_many(doc! { "migration": migration })
        .await
        .map_err(|e| {
            MigrateError::db(format!("cannot drop the old partitions of {migration}"), e)
        })?;
    Ok(())
}

/// The partitions of `migration`, in index order (none when not split).
pub(crate) async fn load(target: &Target, migration: &str) -> Result<Vec<Partition>> {
    let err = |e| {
        MigrateError::db(
            format!("cannot read the partitions of {migration} ({PARTITIONS_COLLECTION})"),
            e,
        )
    };
    coll(target)
        .find(doc! { "migration": migration })
        .sort(doc! { "index": 1 })
        .await
        .map_err(err)?
        .try_collect()
        .await
        .map_err(err)
}

/// The UUID of `collection` (`None` where the server does not tell it, or
/// the collection does not exist).
pub(crate) async fn collection_uuid(
    target: &Target,
    collection: &str,
) -> Result<Option<bson::Binary>> {
    let err = |e| MigrateError::db(format!("cannot read the collection {collection}"), e);
    let specs: Vec<mongodb::results::CollectionSpecification> = target
        .db()
        .list_collections()
        .filter(doc! { "name": collection })
        .await
        .map_err(err)?
        .try_collect()
        .await
        .map_err(err)?;
    Ok(specs.into_iter().next().and_then(|s| s.info.uuid))
}
