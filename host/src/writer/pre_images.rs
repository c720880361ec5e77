//! Pre-images: the originals of the documents a batch changes or deletes,
//! kept as one record per batch (split below the 16 MiB document limit) in
//! `mongoshift_preimages_<id>` for `down`, written in the batch's
//! transaction. The layout is [`crate::pre_image`]'s. A worker builds and
//! compresses a batch's records beside the writer ([`batch_records`]); the
//! transaction sends them as they are when it finds the batch as read, and
//! builds them again from what it read otherwise.
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

use bson::{doc, rawdoc, Bson, Document, RawArrayBuf, RawBsonRef, RawDocument, RawDocumentBuf};
use futures_util::TryStreamExt;
use mongodb::ClientSession;

use super::options::{Destination, WriteOptions};
use super::reply::{check_errors, run_cmd};
use super::reread::Item;
use super::scope::Scope;
use crate::batch::{raw_id_key, Batch, Outcome, Transformed};
use crate::error::{MigrateError, Result, DUPLICATE_KEY};
use crate::pre_image::{BatchRecords, Part, Records, DOCS, IDS, IDS_INDEXES};
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

/// The records of what `t` changes or deletes, for a run that keeps
/// pre-images in place; `None` for any other.
pub(crate) fn batch_records(opts: &WriteOptions, t: &Transformed) -> Option<BatchRecords> {
    if opts.pre_images.is_none() || !matches!(opts.destination, Destination::InPlace { .. }) {
        return None;
    }
    let changed = (0..t.batch.len()).filter_map(|i| {
        let delete = match &t.outcomes[i] {
            Outcome::Replace(_) => false,
            Outcome::Delete => true,
            Outcome::Keep | Outcome::Fail(_) => return None,
        };
        Some((i, delete, t.batch.doc(i)))
    });
    Some(BatchRecords {
        parts: records(changed, &t.batch, &HashSet::new()),
    })
}

/// The pre-images of what `items` change or delete, those not kept yet when
/// `some_kept`.
pub(super) async fn write(
    scope: Scope<'_>,
    items: &[Item<'_>],
    some_kept: bool,
    session: &mut Option<&mut ClientSession>,
) -> Result<()> {
    let Some(backup) = &scope.opts.pre_images else {
        return Ok(());
    };
    let (b, target) = (scope.batch(), scope.target);
    let at_least_once = scope.at_least_once();
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
    // A resumed run too sends the worker's records when none of the
    // batch's originals is kept yet.
    let mut todo = match scope
        .records
        .filter(|r| kept.is_empty() && covers(r, &changed, b))
    {
        // Still in `_id` order: the last first, as `records` gives them.
        Some(r) => r.parts.iter().rev().map(Part::clone).collect(),
        None => records(of_items(&changed), b, &kept),
    };
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
            todo.extend(records(of_items(&of_part), b, &kept));
            continue;
        }
        check_errors(&reply, b, &part.tags[..1], false)?;
    }
    Ok(())
}

/// Whether `records` keep exactly the originals of `changed`: the same
/// documents, each as the reader read it (none changed since, none set
/// aside, the whole batch).
fn covers(records: &BatchRecords, changed: &[&Item<'_>], b: &Batch) -> bool {
    let mut tags = records.parts.iter().flat_map(|p| &p.tags);
    changed.iter().all(|it| {
        tags.next() == Some(&it.i) && it.doc.as_bytes().as_ptr() == b.doc(it.i).as_bytes().as_ptr()
    }) && tags.next().is_none()
}

/// Each of `changed`'s batch index, whether it is deleted, and its original.
fn of_items<'a>(
    changed: &'a [&Item<'a>],
) -> impl Iterator<Item = (usize, bool, &'a RawDocument)> + 'a {
    changed
        .iter()
        .map(|it| (it.i, matches!(it.outcome, Outcome::Delete), it.doc))
}

/// The records of `changed` (batch index, deleted, original) not in
/// `kept`, the last first (taken with `pop`).
fn records<'a>(
    changed: impl Iterator<Item = (usize, bool, &'a RawDocument)>,
    b: &Batch,
    kept: &HashSet<Vec<u8>>,
) -> Vec<Part> {
    let mut records = Records::default();
    for (i, delete, doc) in changed {
        let id = b.id(i);
        if kept.contains(&raw_id_key(Some(id.as_raw_bson_ref()))) {
            continue;
        }
        records.push(i, id, delete, doc);
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
