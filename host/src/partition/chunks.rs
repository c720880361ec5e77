//! The ranges of a sharded collection: one per chunk of its chunk table,
//! grouped by shard, so each shard's partitions read from that shard alone.

use std::collections::BTreeMap;

use bson::{doc, Bson, Document};
use futures_util::TryStreamExt;

use super::range::Range;
use crate::error::{MigrateError, Result};
use crate::target::Target;

/// The ranges of `chunks` (documents shaped like `config.chunks`: `min` and
/// `max` as `{ _id: ... }`, `shard`), grouped by shard (shards by name,
/// ranges in `_id` order within a shard). `None` when the chunks are not cut
/// by `_id` alone (another shard key, or a hashed one), which the caller
/// splits another way.
pub fn ranges_from_chunks(chunks: &[Document]) -> Option<Vec<Range>> {
    let mut by_shard: BTreeMap<String, Vec<Range>> = BTreeMap::new();
    for c in chunks {
        let bound = |side: &str| -> Option<Bson> {
            let d = c.get_document(side).ok()?;
            (d.len() == 1).then(|| d.get("_id").cloned()).flatten()
        };
        let shard = c.get_str("shard").ok()?.to_string();
        let range = Range {
            lo: bound("min")?,
            hi: bound("max")?,
            shard: Some(shard.clone()),
            estimate: None,
        };
        by_shard.entry(shard).or_default().push(range);
    }
    let mut out = Vec::new();
    for (_, mut ranges) in by_shard {
        ranges.sort_by(|a, b| crate::batch::compare_ids(&a.lo, &b.lo));
        out.extend(ranges);
    }
    (!out.is_empty()).then_some(out)
}

/// The chunk table of `collection` on a sharded cluster, when it is sharded
/// by `_id` (ranged): `None` otherwise.
pub(super) async fn read_chunks(
    target: &Target,
    collection: &str,
) -> Result<Option<Vec<Document>>> {
    let config = target.client().database("config");
    let ns = format!("{}.{}", target.db().name(), collection);
    let err = |e| MigrateError::db(format!("cannot read the chunk table of {ns}"), e);
    let Some(meta) = config
        .collection::<Document>("collections")
        .find_one(doc! { "_id": &ns })
        .await
        .map_err(err)?
    else {
        return Ok(None);
    };
    // A hashed key's chunks cut hashes, not `_id`s.
    if meta.get_document("key").ok() != Some(&doc! { "_id": 1 }) {
        return Ok(None);
    }
    let query = match meta.get("uuid") {
        Some(uuid) => doc! { "uuid": uuid.clone() },
        None => doc! { "ns": &ns },
    };
    let chunks: Vec<Document> = config
        .collection::<Document>("chunks")
        .find(query)
        .await
        .map_err(err)?
        .try_collect()
        .await
        .map_err(err)?;
    Ok(Some(chunks))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(lo: Bson, hi: Bson, shard: &str) -> Document {
        doc! { "min": { "_id": lo }, "max": { "_id": hi }, "shard": shard }
    }

    #[test]
    fn chunks_give_ranges_grouped_by_shard_in_id_order() {
        let chunks = [
            chunk(Bson::Int32(200), Bson::Int32(300), "s0"),
            chunk(Bson::MinKey, Bson::Int32(100), "s0"),
            chunk(Bson::Int32(100), Bson::Int32(200), "s1"),
            chunk(Bson::Int32(300), Bson::MaxKey, "s1"),
        ];
        let ranges = ranges_from_chunks(&chunks).expect("cut by _id");
        let seen: Vec<(Option<&str>, &Bson)> =
            ranges.iter().map(|r| (r.shard.as_deref(), &r.lo)).collect();
        assert_eq!(
            seen,
            [
                (Some("s0"), &Bson::MinKey),
                (Some("s0"), &Bson::Int32(200)),
                (Some("s1"), &Bson::Int32(100)),
                (Some("s1"), &Bson::Int32(300)),
            ]
        );
        assert_eq!(ranges[3].hi, Bson::MaxKey);
    }

    #[test]
    fn chunks_cut_by_another_key_are_not_ranges_of_id() {
        let other = [doc! { "min": { "tenant": 1 }, "max": { "tenant": 2 }, "shard": "s0" }];
        assert_eq!(ranges_from_chunks(&other), None);
        assert_eq!(ranges_from_chunks(&[]), None);
    }
}
