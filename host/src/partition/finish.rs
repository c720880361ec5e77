//! The end of a claim: the partition marked done (and, when it was the last,
//! the migration applied, in the same transaction), or handed back.

use bson::doc;
use futures_util::TryStreamExt;
use mongodb::ClientSession;

use super::claim::Claim;
use super::record::{coll, PartitionState};
use crate::error::{MigrateError, Result};
use crate::ledger::{in_transaction, partition_done, partition_failed, AfterLast, Checkpoint};
use crate::target::Target;

/// Marks the claimed partition done, fenced by its token. In the same
/// transaction, counts it on the migration's ledger entry and, when every
/// other partition is done too, records the sum of their counts and does
/// what `last` says (marks the migration applied, or a shared rewrite's
/// copy finished). Returns whether it was the last.
pub(crate) async fn complete(target: &Target, claim: &Claim, last: AfterLast) -> Result<bool> {
    let mut session = target
        .client()
        .start_session()
        .await
        .map_err(|e| MigrateError::db("cannot start a session", e))?;
    in_transaction(&mut session, "the end of a partition", 50, async |s| {
        mark_done(target, claim, last, s).await
    })
    .await
}

async fn mark_done(
    target: &Target,
    claim: &Claim,
    then: AfterLast,
    session: &mut ClientSession,
) -> Result<bool> {
    let p = &claim.partition;
    let err = |e| MigrateError::db(format!("cannot mark partition {} done", p.id), e);
    let res = coll(target)
        .update_one(
            doc! { "_id": &p.id, "token": p.token, "state": "running" },
            doc! { "$set": { "state": "done", "lease_until": null, "error": null } },
        )
        .session(&mut *session)
        .await
        .map_err(err)?;
    if res.matched_count == 0 {
        return Err(MigrateError::PartitionLost {
            partition: p.id.clone(),
            what: "its end".into(),
        });
    }
    let all: Vec<super::Partition> = coll(target)
        .find(doc! { "migration": &p.migration })
        .session(&mut *session)
        .await
        .map_err(err)?
        .stream(&mut *session)
        .try_collect()
        .await
        .map_err(err)?;
    let last = all.iter().all(|q| q.state == PartitionState::Done);
    let sum = last.then(|| total(all.iter().filter_map(|q| q.checkpoint.as_ref())));
    partition_done(target, &p.migration, sum.as_ref(), then, session).await?;
    Ok(last)
}

/// The counts of every partition together.
fn total<'a>(cps: impl Iterator<Item = &'a Checkpoint>) -> Checkpoint {
    let mut sum = Checkpoint::default();
    for cp in cps {
        sum.read += cp.read;
        sum.kept += cp.kept;
        sum.replaced += cp.replaced;
        sum.deleted += cp.deleted;
        sum.failed += cp.failed;
        sum.batches += cp.batches;
        sum.changed += cp.changed;
        sum.gone += cp.gone;
        for (k, v) in &cp.outputs {
            *sum.outputs.entry(k.clone()).or_insert(0) += v;
        }
    }
    sum
}

/// Hands a partition whose run failed back (pending, its checkpoint kept,
/// the error recorded) and marks the migration failed, so the other workers
/// stop instead of failing on the same documents.
pub(crate) async fn hand_back(target: &Target, claim: Claim, error: &str) -> Result<()> {
    let p = &claim.partition;
    coll(target)
        .update_one(
            doc! { "_id": &p.id, "token": p.token, "state": "running" },
            doc! { "$set": { "state": "pending", "owner": null, "lease_until": null, "error": error } },
        )
        .await
        .map_err(|e| MigrateError::db(format!("cannot hand partition {} back", p.id), e))?;
    partition_failed(target, &p.migration, error).await
}
