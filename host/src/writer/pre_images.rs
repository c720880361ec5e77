//! Pre-images: the originals of the documents a batch changes or deletes,
//! kept as one record per batch (split below the 16 MiB document limit) in
//! `mongoshift_preimages_<id>` for `down`, written in the batch's
//! transaction. The layout is [`crate::pre_image`]'s.
//!
//! Written once per document. A run can meet documents whose pre-images are
//! already there (a batch redone after a crash without transactions, a rerun
//! after the ledger entry was removed, a resumed partition, a resumed run
//! with another batch size): the first original is kept, never the version
//! an earlier run already transformed. So when the collection held anything
//! as the run started, the documents already kept are looked up first (by
//! `_id` for per-document records, by the indexes on `ids` and `docs._id`
//! for batch records). Without a transaction, a record refused as a
//! duplicate (the same batch written again in this run) has its kept
//! documents looked up and the rest written.

use std::collections::HashSet;

use bson::{doc, rawdoc, Bson, Document, RawArrayBuf, RawBsonRef, RawDocumentBuf};
use futures_util::TryStreamExt;
use mongodb::ClientSession;

use super::options::WriteOptions;
use super::reply::{check_errors, run_cmd};
use super::reread::Item;
use crate::batch::raw_id_key;
use crate::batch::Batch;
use crate::batch::Outcome;
use crate::error::{MigrateError, Result, DUPLICATE_KEY};
use crate::pre_image::{Part, Records, DOCS, IDS, IDS_INDEXES};
use crate::target::Target;

/// Tells whether the pre-image collection of `opts` holds anything yet and,
/// when it does, gives it its indexes on the `_id`s batch records hold
/// (outside any transaction) for the lookups of originals already kept.
pub(super) async fn prepare(target: &Target, opts: &WriteOptions) -> Result<bool> {
    let Some(backup) = &opts.pre_images else {
        return Ok(false);
    };
    let some_kept = target
        .db()
        .collection::<Document>(backup)
        .find_one(doc! {})
        .projection(doc! { "_id": 1 })
        .await
        .map(|d| d.is_some())
        .map_err(|e| MigrateError::db(format!("cannot read {backup}"), e))?;
    // Only a run that finds originals kept looks them up: the index its
    // lookups use is built then, and a first run's inserts do not pay for it.
    if some_kept {
        let indexes: Vec<Document> = IDS_INDEXES
            .iter()
            .map(|key| doc! { "key": { *key: 1 }, "name": *key })
            .collect();
        target
            .db()
            .run_command(doc! { "createIndexes": backup.as_str(), "indexes": indexes })
            .await
            .map_err(|e| MigrateError::db(format!("cannot create the index of {backup}"), e))?;
    }
    Ok(some_kept)
}

/// The pre-images of what `items` change or delete, those not kept yet when
/// `some_kept`.
pub(super) async fn write(
    opts: &WriteOptions,
    items: &[Item<'_>],
    b: &Batch,
    at_least_once: bool,
    some_kept: bool,
    target: &Target,
    session: &mut Option<&mut ClientSession>,
) -> Result<()> {
    let Some(backup) = &opts.pre_images else {
        return Ok(());
    };
    let changed: Vec<&Item<'_>> = items
        .iter()
        .filter(|it| matches!(it.outcome, Outcome::Replace(_) | Outcome::Delete))
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    let kept = if some_kept {
        let ids = changed.iter().map(|it| b.id(it.i)).collect();
        kept_among(target, backup, ids, session).await?
    } else {
        HashSet::new()
    };
    let mut todo = records(&changed, b, &kept);
    while let Some(part) = todo.pop() {
        let cmd = rawdoc! {
            "insert": backup.as_str(),
            "documents": RawArrayBuf::from_iter([part.record]),
        };
        let reply = run_cmd(target, cmd, session).await?;
        if at_least_once && duplicate_id(&reply) {
            // Written before by this run (a batch redone without a
            // transaction): the rest of its documents, if any, go again.
            let of_part: Vec<&Item<'_>> = changed
                .iter()
                .filter(|it| part.tags.contains(&it.i))
                .copied()
                .collect();
            let ids = of_part.iter().map(|it| b.id(it.i)).collect();
            let kept = kept_among(target, backup, ids, session).await?;
            todo.extend(records(&of_part, b, &kept));
            continue;
        }
        check_errors(&reply, b, &part.tags[..1], false)?;
    }
    Ok(())
}

/// The records of `changed` not in `kept`, the last first (taken with `pop`).
fn records(changed: &[&Item<'_>], b: &Batch, kept: &HashSet<Vec<u8>>) -> Vec<Part> {
    let mut records = Records::default();
    for it in changed {
        let id = b.id(it.i);
        if kept.contains(&raw_id_key(Some(id.as_raw_bson_ref()))) {
            continue;
        }
        let delete = matches!(it.outcome, Outcome::Delete);
        records.push(it.i, id, delete, it.doc);
    }
    let mut parts = records.finish();
    parts.reverse();
    parts
}

/// Whether the server refused the record as a duplicate `_id`.
fn duplicate_id(reply: &Document) -> bool {
    let Ok(errors) = reply.get_array("writeErrors") else {
        return false;
    };
    errors.iter().any(|e| {
        e.as_document().is_some_and(|e| {
            e.get_i32("code").ok() == Some(DUPLICATE_KEY)
                && e.get_document("keyPattern")
                    .is_ok_and(|k| k.keys().eq(["_id"]))
        })
    })
}

/// Which of `ids` already have a pre-image (by `id_key`): per-document
/// records by their `_id`, batch records by the indexes on `ids` and
/// `docs._id` (the `_id`s only are read). Equality, unlike a range, matches
/// `_id`s of any BSON type.
async fn kept_among(
    target: &Target,
    backup: &str,
    ids: Vec<bson::RawBson>,
    session: &mut Option<&mut ClientSession>,
) -> Result<HashSet<Vec<u8>>> {
    let ids: Vec<Bson> = ids
        .into_iter()
        .map(|id| Bson::try_from(id).unwrap_or(Bson::Null))
        .collect();
    let mut kept = HashSet::new();
    let by_id = doc! { "_id": { "$in": ids.clone() } };
    for d in find(target, backup, by_id, doc! { "_id": 1 }, session).await? {
        kept.insert(raw_id_key(d.get("_id").ok().flatten()));
    }
    let by_listed = doc! { IDS: { "$in": ids.clone() } };
    for d in find(target, backup, by_listed, doc! { IDS: 1 }, session).await? {
        let Ok(listed) = d.get_array(IDS) else {
            continue;
        };
        for id in listed.into_iter().flatten() {
            kept.insert(raw_id_key(Some(id)));
        }
    }
    let by_entry = doc! { "docs._id": { "$in": ids } };
    for d in find(target, backup, by_entry, doc! { "docs._id": 1 }, session).await? {
        let Ok(entries) = d.get_array(DOCS) else {
            continue;
        };
        for e in entries.into_iter().flatten() {
            if let RawBsonRef::Document(e) = e {
                kept.insert(raw_id_key(e.get("_id").ok().flatten()));
            }
        }
    }
    Ok(kept)
}

async fn find(
    target: &Target,
    backup: &str,
    filter: Document,
    projection: Document,
    session: &mut Option<&mut ClientSession>,
) -> Result<Vec<RawDocumentBuf>> {
    let coll = target.db().collection::<RawDocumentBuf>(backup);
    let find = coll.find(filter).projection(projection);
    let fail = |e| MigrateError::db(format!("cannot read {backup}"), e);
    let mut out = Vec::new();
    match session {
        Some(s) => {
            let mut cursor = find.session(&mut **s).await.map_err(fail)?;
            while let Some(d) = cursor.next(s).await.transpose().map_err(fail)? {
                out.push(d);
            }
        }
        None => {
            let mut cursor = find.await.map_err(fail)?;
            while let Some(d) = cursor.try_next().await.map_err(fail)? {
                out.push(d);
            }
        }
    }
    Ok(out)
}
