//! Pre-images: the original of every document a run changes or deletes, kept
//! in `mongoshift_preimages_<id>` for `down`.
//!
//! Written once per document. A run can meet documents whose pre-images are
//! already there (a batch redone after a crash without transactions, a rerun
//! after the ledger entry was removed): the first original is kept, never the
//! version an earlier run already transformed. Without a transaction a
//! duplicate is simply refused and ignored; inside one a refused write would
//! abort the transaction, so the documents already kept are looked up first,
//! when the collection held anything as the run started.

use std::collections::HashSet;

use bson::{doc, rawdoc, Bson, Document, RawArrayBuf, RawDocumentBuf};
use futures_util::TryStreamExt;
use mongodb::ClientSession;

use super::options::WriteOptions;
use super::reply::{check_errors, run_cmd};
use super::reread::Item;
use crate::batch::raw_id_key;
use crate::batch::Batch;
use crate::batch::Outcome;
use crate::error::{MigrateError, Result};
use crate::target::Target;

/// Whether the pre-image collection of `opts` holds anything yet.
pub(super) async fn any_kept(target: &Target, opts: &WriteOptions) -> Result<bool> {
    let Some(backup) = &opts.pre_images else {
        return Ok(false);
    };
    target
        .db()
        .collection::<Document>(backup)
        .find_one(doc! {})
        .projection(doc! { "_id": 1 })
        .await
        .map(|d| d.is_some())
        .map_err(|e| MigrateError::db(format!("cannot read {backup}"), e))
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
        kept_among(target, backup, &changed, b, session).await?
    } else {
        HashSet::new()
    };
    let mut docs = RawArrayBuf::new();
    let mut idx = Vec::new();
    for it in changed {
        let id = b.id(it.i);
        if kept.contains(&raw_id_key(Some(id.as_raw_bson_ref()))) {
            continue;
        }
        let op = if matches!(it.outcome, Outcome::Delete) {
            "delete"
        } else {
            "replace"
        };
        docs.push(rawdoc! { "_id": id, "op": op, "doc": it.doc.to_raw_document_buf() });
        idx.push(it.i);
    }
    if !idx.is_empty() {
        let cmd = rawdoc! { "insert": backup.as_str(), "documents": docs, "ordered": false };
        let reply = run_cmd(target, cmd, session).await?;
        check_errors(&reply, b, &idx, at_least_once)?;
    }
    Ok(())
}

/// Which of these documents already have a pre-image (by `id_key`).
async fn kept_among(
    target: &Target,
    backup: &str,
    items: &[&Item<'_>],
    b: &Batch,
    session: &mut Option<&mut ClientSession>,
) -> Result<HashSet<Vec<u8>>> {
    let ids: Vec<Bson> = items
        .iter()
        .map(|it| Bson::try_from(b.id(it.i)).unwrap_or(Bson::Null))
        .collect();
    let coll = target.db().collection::<RawDocumentBuf>(backup);
    let find = coll
        .find(doc! { "_id": { "$in": ids } })
        .projection(doc! { "_id": 1 });
    let fail = |e| MigrateError::db(format!("cannot read {backup}"), e);
    let mut kept = HashSet::new();
    match session {
        Some(s) => {
            let mut cursor = find.session(&mut **s).await.map_err(fail)?;
            while let Some(d) = cursor.next(s).await.transpose().map_err(fail)? {
                kept.insert(raw_id_key(d.get("_id").ok().flatten()));
            }
        }
        None => {
            let mut cursor = find.await.map_err(fail)?;
            while let Some(d) = cursor.try_next().await.map_err(fail)? {
                kept.insert(raw_id_key(d.get("_id").ok().flatten()));
            }
        }
    }
    Ok(kept)
}
