//! Writing what a cross-collection transform emits besides its outcomes:
//! inserts, upserts and deletes by `_id` in the collections its manifest
//! declares, inside the batch's transaction, in the order emitted. Each is
//! checked before anything is written; with pre-images kept, the first
//! version of every output document (or that there was none) is recorded
//! for `down`.

use bson::{rawdoc, Bson, RawArrayBuf, RawBson, RawDocument, RawDocumentBuf};
use mongodb::ClientSession;

use super::reread::Item;
use super::scope::Scope;
use crate::batch::{show_id, OutputOp};
use crate::error::{MigrateError, Result, DUPLICATE_KEY};

/// One checked output.
struct Write<'a> {
    /// The input document's place in its batch.
    i: usize,
    /// Its input document's `_id`, for messages.
    from: String,
    db: String,
    collection: String,
    /// As the manifest names it (`name` or `database.name`).
    declared: String,
    op: OutputOp,
    id: RawBson,
    doc: &'a RawDocument,
}

/// Checks the outputs of `items` (none for a failed document) before
/// anything is written; returns how many go to each collection.
pub(super) fn check_outputs(scope: Scope<'_>, items: &[Item<'_>]) -> Result<Vec<(String, i64)>> {
    let mut counts: Vec<(String, i64)> = Vec::new();
    for w in check(scope, items)? {
        match counts.iter_mut().find(|(c, _)| *c == w.declared) {
            Some((_, n)) => *n += 1,
            None => counts.push((w.declared.clone(), 1)),
        }
    }
    Ok(counts)
}

/// Writes the outputs of `items`, checked by [`check_outputs`], after
/// recording what each output document was when pre-images are kept.
pub(super) async fn write_outputs(
    scope: Scope<'_>,
    items: &[Item<'_>],
    session: &mut Option<&mut ClientSession>,
) -> Result<()> {
    let writes = check(scope, items)?;
    if writes.is_empty() {
        return Ok(());
    }
    if let Some(backup) = &scope.opts.pre_images {
        record_before(scope, backup, &writes, session).await?;
    }
    for run in writes.chunk_by(|a, b| a.db == b.db && a.collection == b.collection && a.op == b.op)
    {
        for part in chunks(run) {
            write_run(scope, part, session).await?;
        }
    }
    Ok(())
}

/// Every output of `items`, checked against the manifest's `outputs` and
/// the contract.
fn check<'a>(scope: Scope<'_>, items: &'a [Item<'a>]) -> Result<Vec<Write<'a>>> {
    let db = scope.target.db().name();
    let declared = &scope.opts.cross.outputs;
    let mut writes = Vec::new();
    for it in items {
        if matches!(it.outcome, crate::batch::Outcome::Fail(_)) {
            continue;
        }
        for o in it.outputs {
            let fail = |message: String| MigrateError::Output {
                migration: scope.migration.to_string(),
                document: show_id(&scope.batch().id(it.i)),
                message,
            };
            let (ns, named) =
                crate::transform::check_declared_output(o, declared, db).map_err(fail)?;
            let doc = RawDocument::from_bytes(&o.document).map_err(|e| fail(e.to_string()))?;
            let id = match doc.get("_id") {
                Ok(Some(id)) => id.to_raw_bson(),
                _ => {
                    return Err(fail(format!(
                        "its output ({}) to `{ns}` has no _id",
                        o.op.as_str()
                    )))
                }
            };
            writes.push(Write {
                i: it.i,
                from: show_id(&scope.batch().id(it.i)),
                db: ns.db_or(db).to_string(),
                collection: ns.collection.clone(),
                declared: named.to_string(),
                op: o.op,
                id,
                doc,
            });
        }
    }
    Ok(writes)
}

/// A run of writes cut so no command nears the 16 MiB message limit.
fn chunks<'a, 'w>(run: &'a [Write<'w>]) -> Vec<&'a [Write<'w>]> {
    const CHUNK_BYTES: usize = 8 << 20;
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (k, w) in run.iter().enumerate() {
        let len = w.doc.as_bytes().len();
        if bytes + len > CHUNK_BYTES && k > start {
            out.push(&run[start..k]);
            (start, bytes) = (k, 0);
        }
        bytes += len;
    }
    out.push(&run[start..]);
    out
}

/// One command for writes of one op to one collection.
async fn write_run(
    scope: Scope<'_>,
    run: &[Write<'_>],
    session: &mut Option<&mut ClientSession>,
) -> Result<()> {
    let w0 = &run[0];
    let coll = w0.collection.as_str();
    let mut arr = RawArrayBuf::new();
    for w in run {
        match w.op {
            OutputOp::Insert => arr.push(w.doc.to_raw_document_buf()),
            OutputOp::Upsert => arr.push(
                rawdoc! { "q": { "_id": w.id.clone() }, "u": w.doc.to_raw_document_buf(), "upsert": true },
            ),
            OutputOp::Delete => arr.push(rawdoc! { "q": { "_id": w.id.clone() }, "limit": 1 }),
        }
    }
    let cmd = match w0.op {
        OutputOp::Insert => rawdoc! { "insert": coll, "documents": arr, "ordered": true },
        OutputOp::Upsert => rawdoc! { "update": coll, "updates": arr, "ordered": true },
        OutputOp::Delete => rawdoc! { "delete": coll, "deletes": arr, "ordered": true },
    };
    let reply = scope
        .target
        .run_raw_in(&w0.db, cmd, session.as_deref_mut())
        .await
        .map_err(|e| MigrateError::db(format!("cannot write outputs to {}", w0.declared), e))?;
    let Ok(errors) = reply.get_array("writeErrors") else {
        return Ok(());
    };
    let Some(Bson::Document(e)) = errors.first() else {
        return Ok(());
    };
    let code = e.get_i32("code").unwrap_or_default();
    let w = e
        .get_i32("index")
        .ok()
        .and_then(|k| run.get(k as usize))
        .unwrap_or(w0);
    let message = if code == DUPLICATE_KEY && w.op == OutputOp::Insert {
        format!(
            "its output inserts _id {} into `{}`, which already holds a document with that _id \
             (emit an upsert to replace it, or choose another _id)",
            show_id(&w.id),
            w.declared
        )
    } else {
        format!(
            "its output ({}) of _id {} to `{}` was refused: {}",
            w.op.as_str(),
            show_id(&w.id),
            w.declared,
            e.get_str("errmsg").unwrap_or("write error")
        )
    };
    let _ = w.i;
    Err(MigrateError::Output {
        migration: scope.migration.to_string(),
        document: w.from.clone(),
        message,
    })
}

/// The `_id` of an output document's pre-image: its namespace and `_id`,
/// as one binary value. A scalar, because a query on an embedded-document
/// `_id` does not use the `_id` index on every server (secantusd-rs scans
/// the collection for each, which made each batch slower than the last).
fn pre_image_key(ns: &str, id: &RawBson) -> RawBson {
    let key = rawdoc! { "ns": ns, "id": id.clone() };
    RawBson::Binary(bson::Binary {
        subtype: bson::spec::BinarySubtype::Generic,
        bytes: key.into_bytes(),
    })
}

/// Records, once per output document, what it was before this run wrote it
/// (`doc: null`: it did not exist), so `down` can put every touched
/// collection back; the first record of a document is kept.
async fn record_before(
    scope: Scope<'_>,
    backup: &str,
    writes: &[Write<'_>],
    session: &mut Option<&mut ClientSession>,
) -> Result<()> {
    let mut ups = RawArrayBuf::new();
    for run in writes.chunk_by(|a, b| a.db == b.db && a.collection == b.collection) {
        let ids: Vec<Bson> = run
            .iter()
            .filter_map(|w| Bson::try_from(w.id.clone()).ok())
            .collect();
        let current =
            super::reread::find_by_ids(scope.target, &run[0].db, &run[0].collection, ids, session)
                .await?;
        let ns = format!("{}.{}", run[0].db, run[0].collection);
        for w in run {
            let before = current
                .get(&crate::batch::raw_id_key(Some(w.id.as_raw_bson_ref())))
                .map_or(RawBson::Null, |d: &RawDocumentBuf| {
                    RawBson::Document(d.clone())
                });
            ups.push(rawdoc! {
                "q": { "_id": pre_image_key(&ns, &w.id) },
                "u": { "$setOnInsert": { "op": "output", "ns": ns.as_str(), "id": w.id.clone(), "doc": before } },
                "upsert": true,
            });
        }
    }
    let cmd = rawdoc! { "update": backup, "updates": ups, "ordered": true };
    let reply = scope
        .target
        .run_raw(cmd, session.as_deref_mut())
        .await
        .map_err(|e| {
            MigrateError::db(
                format!("cannot keep the outputs' pre-images in {backup}"),
                e,
            )
        })?;
    if let Ok(errors) = reply.get_array("writeErrors") {
        if let Some(e) = errors.first() {
            return Err(MigrateError::Database {
                context: format!("cannot keep the outputs' pre-images in {backup}"),
                message: e.to_string(),
                labels: vec![],
                cause: crate::error::DbCause::Other,
            });
        }
    }
    Ok(())
}
