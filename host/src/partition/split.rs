//! Splitting a collection into `_id` ranges of about the same number of
//! documents: the chunk table's ranges on a sharded cluster (each cut again
//! when it holds more than a partition's worth), else `$bucketAuto` on
//! `_id`, else `$sample`. Never `splitVector`, which managed services do not
//! grant.

use bson::{doc, Bson, Document};
use futures_util::TryStreamExt;

use super::chunks::{ranges_from_chunks, read_chunks};
use super::range::Range;
use crate::error::{MigrateError, Result};
use crate::target::{Target, Topology};

/// The ranges of the documents of `collection` matching `filter`: about
/// `per` documents each, or exactly `exactly` ranges when given. The first
/// starts at `MinKey`, the last ends at `MaxKey`, and together they cover
/// every `_id` once.
pub async fn split(
    target: &Target,
    collection: &str,
    filter: &Document,
    per: u64,
    exactly: Option<u32>,
) -> Result<Vec<Range>> {
    if exactly.is_none() && target.topology() == Topology::Sharded {
        if let Some(chunks) = read_chunks(target, collection).await? {
            if let Some(ranges) = ranges_from_chunks(&chunks) {
                let mut out = Vec::new();
                for r in ranges {
                    out.extend(split_range(target, collection, filter, &r, per, None).await?);
                }
                return Ok(out);
            }
        }
    }
    split_range(target, collection, filter, &Range::all(), per, exactly).await
}

/// `range` cut into pieces of about `per` documents (or exactly `exactly`).
async fn split_range(
    target: &Target,
    collection: &str,
    filter: &Document,
    range: &Range,
    per: u64,
    exactly: Option<u32>,
) -> Result<Vec<Range>> {
    let coll = target.db().collection::<Document>(collection);
    let within = range.filter(filter);
    let count = coll
        .count_documents(within.clone())
        .await
        .map_err(|e| MigrateError::db(format!("cannot count the documents of {collection}"), e))?;
    let n = match exactly {
        Some(n) => u64::from(n),
        None => count.div_ceil(per.max(1)).max(1),
    };
    let mut starts = if n <= 1 {
        Vec::new()
    } else {
        match bucket_starts(&coll, &within, n).await {
            Ok(s) => s,
            // `$bucketAuto` is not everywhere: a sample's quantiles do.
            Err(_) => sample_starts(&coll, &within, n).await?,
        }
    };
    starts.retain(|s| crate::batch::compare_ids(s, &range.lo).is_gt());
    starts.dedup();
    let mut bounds = vec![range.lo.clone()];
    bounds.extend(starts);
    bounds.push(range.hi.clone());
    let mut out: Vec<Range> = bounds
        .windows(2)
        .map(|w| Range {
            lo: w[0].clone(),
            hi: w[1].clone(),
            shard: range.shard.clone(),
            estimate: None,
        })
        .collect();
    // An exact split of fewer documents than partitions: the rest are empty.
    if let Some(n) = exactly {
        while out.len() < n as usize {
            out.push(Range {
                lo: range.hi.clone(),
                hi: range.hi.clone(),
                shard: range.shard.clone(),
                estimate: Some(0),
            });
        }
    }
    let each = count / out.iter().filter(|r| !r.is_empty()).count().max(1) as u64;
    for r in out.iter_mut().filter(|r| !r.is_empty()) {
        r.estimate = Some(each);
    }
    Ok(out)
}

/// Where each of `n` buckets of about equal size starts, but the first.
async fn bucket_starts(
    coll: &mongodb::Collection<Document>,
    filter: &Document,
    n: u64,
) -> Result<Vec<Bson>> {
    let pipeline = [
        doc! { "$match": filter.clone() },
        doc! { "$bucketAuto": { "groupBy": "$_id", "buckets": n as i64 } },
        doc! { "$project": { "_id": 1 } },
    ];
    let buckets = aggregate(coll, pipeline, "$bucketAuto").await?;
    let mut starts: Vec<Bson> = buckets
        .iter()
        .filter_map(|b| b.get_document("_id").ok()?.get("min").cloned())
        .collect();
    starts.sort_by(crate::batch::compare_ids);
    Ok(starts.into_iter().skip(1).collect())
}

/// Where each of `n` ranges starts, but the first, from a sorted sample.
async fn sample_starts(
    coll: &mongodb::Collection<Document>,
    filter: &Document,
    n: u64,
) -> Result<Vec<Bson>> {
    let size = (n * 20).min(100_000) as i64;
    let pipeline = [
        doc! { "$match": filter.clone() },
        doc! { "$sample": { "size": size } },
        doc! { "$project": { "_id": 1 } },
    ];
    let docs = aggregate(coll, pipeline, "$sample").await?;
    let mut ids: Vec<Bson> = docs.iter().filter_map(|d| d.get("_id").cloned()).collect();
    ids.sort_by(crate::batch::compare_ids);
    let step = (ids.len() as u64).div_ceil(n).max(1) as usize;
    Ok(ids.into_iter().step_by(step).skip(1).collect())
}

async fn aggregate(
    coll: &mongodb::Collection<Document>,
    pipeline: [Document; 3],
    by: &str,
) -> Result<Vec<Document>> {
    let err = |e| MigrateError::db(format!("cannot split the collection by {by}"), e);
    coll.aggregate(pipeline)
        .await
        .map_err(err)?
        .try_collect()
        .await
        .map_err(err)
}
