//! [`Claim`]: a partition held by this worker, its lease renewed by a
//! heartbeat; the same rules as the migration lock (a lease, a fencing
//! token bumped by every claim, take-over once the lease has expired).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bson::{doc, DateTime, Document};
use mongodb::options::ReturnDocument;
use mongodb::Collection;

use super::record::{coll, Partition, PartitionState};
use crate::error::{MigrateError, Result};
use crate::ledger::PARTITIONS_COLLECTION;
use crate::target::Target;

/// A partition this worker holds. Dropping it stops the heartbeat; the lease
/// then expires and another worker may claim the partition.
#[derive(Debug)]
pub struct Claim {
    /// The partition as claimed (its `token` fences every write of the run).
    pub partition: Partition,
    lost: Arc<AtomicBool>,
    heartbeat: tokio::task::JoinHandle<()>,
}

impl Claim {
    /// Whether the heartbeat found the partition taken over.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

fn expiry(ttl: Duration) -> DateTime {
    DateTime::from_millis(DateTime::now().timestamp_millis() + ttl.as_millis() as i64)
}

/// Claims a partition of `migration` for `worker`: a pending one, or a
/// running one whose lease has expired (lowest index first), or only
/// partition `only` when given. One atomic `findOneAndUpdate` sets the
/// owner, the lease and a new token, so two workers never hold the same one.
pub(crate) async fn claim(
    target: &Target,
    migration: &str,
    worker: &str,
    ttl: Duration,
    only: Option<u32>,
) -> Result<Option<Claim>> {
    let now = DateTime::now();
    let mut filter = doc! {
        "migration": migration,
        "$or": [
            { "state": "pending" },
            { "state": "running", "lease_until": { "$lt": now } },
        ],
    };
    if let Some(i) = only {
        filter.insert("index", i64::from(i));
    }
    let claimed = coll(target)
        .find_one_and_update(
            filter,
            doc! {
                "$set": { "state": "running", "owner": worker, "lease_until": expiry(ttl), "claimed_at": now },
                "$inc": { "token": 1_i64 },
            },
        )
        .sort(doc! { "index": 1 })
        .return_document(ReturnDocument::After)
        .await
        .map_err(|e| MigrateError::db(format!("cannot claim a partition of {migration} ({PARTITIONS_COLLECTION})"), e))?;
    let Some(partition) = claimed else {
        return Ok(None);
    };
    debug_assert_eq!(partition.state, PartitionState::Running);
    // What earlier holders did, so that what this one does tells its rate.
    let mut partition = partition;
    partition.claimed_read = partition.done();
    coll(target)
        .update_one(
            doc! { "_id": &partition.id, "token": partition.token },
            doc! { "$set": { "claimed_read": partition.claimed_read } },
        )
        .await
        .map_err(|e| MigrateError::db(format!("cannot claim partition {}", partition.id), e))?;
    let lost = Arc::new(AtomicBool::new(false));
    let raw: Collection<Document> = target.db().collection(PARTITIONS_COLLECTION);
    let heartbeat = tokio::spawn(heartbeat(
        raw,
        partition.id.clone(),
        partition.token,
        ttl,
        lost.clone(),
    ));
    Ok(Some(Claim {
        partition,
        lost,
        heartbeat,
    }))
}

async fn heartbeat(
    coll: Collection<Document>,
    id: String,
    token: i64,
    ttl: Duration,
    lost: Arc<AtomicBool>,
) {
    let every = ttl / 3;
    loop {
        tokio::time::sleep(every).await;
        let res = coll
            .update_one(
                doc! { "_id": &id, "token": token, "state": "running" },
                doc! { "$set": { "lease_until": expiry(ttl) } },
            )
            .await;
        match res {
            Ok(r) if r.matched_count == 0 => {
                lost.store(true, Ordering::SeqCst);
                return;
            }
            // A failed renewal is retried at the next beat; the lease lasts
            // three beats, and each batch's checkpoint is fenced anyway.
            _ => {}
        }
    }
}
