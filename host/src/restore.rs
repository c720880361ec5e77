//! Rolling back from pre-images: every document a run changed or deleted is put
//! back exactly as it was (the same bytes), deleted ones re-inserted.

use bson::{doc, rawdoc, RawArrayBuf, RawDocumentBuf};
use futures_util::TryStreamExt;

use crate::error::{MigrateError, Result};
use crate::progress::{Event, Progress};
use crate::target::Target;
use crate::writer::QUARANTINE_COLLECTION;

/// Restores `backup` into `collection`, then drops `backup` and the
/// migration's quarantine records. Idempotent: a restore that stops part-way
/// can run again. Returns how many documents were restored.
pub(crate) async fn restore(
    target: &Target,
    collection: &str,
    backup: &str,
    migration: &str,
    progress: &Progress,
) -> Result<u64> {
    let backups = target.db().collection::<RawDocumentBuf>(backup);
    let total = backups
        .estimated_document_count()
        .await
        .map_err(|e| MigrateError::db("cannot count pre-images", e))?;
    let mut cursor = backups
        .find(doc! { "op": { "$ne": "output" } })
        .sort(doc! { "_id": 1 })
        .batch_size(1000)
        .await
        .map_err(|e| MigrateError::db(format!("cannot read pre-images from {backup}"), e))?;
    let mut done = 0u64;
    let mut updates = RawArrayBuf::new();
    let mut n = 0;
    loop {
        let next = cursor
            .try_next()
            .await
            .map_err(|e| MigrateError::db(format!("cannot read pre-images from {backup}"), e))?;
        let end = next.is_none();
        if let Some(b) = next {
            let id = b
                .get("_id")
                .ok()
                .flatten()
                .map(|v| v.to_raw_bson())
                .ok_or_else(|| invalid(backup, "a pre-image without _id"))?;
            let original = b
                .get_document("doc")
                .map_err(|_| invalid(backup, "a pre-image without `doc`"))?;
            updates.push(
                rawdoc! { "q": { "_id": id }, "u": original.to_raw_document_buf(), "upsert": true },
            );
            n += 1;
        }
        if n > 0 && (n >= 1000 || end) {
            let cmd = rawdoc! { "update": collection, "updates": std::mem::take(&mut updates), "ordered": false };
            let reply = target
                .db()
                .run_raw_command(cmd)
                .await
                .map_err(|e| MigrateError::db("cannot restore pre-images", e))?;
            if let Ok(errors) = reply.get_array("writeErrors") {
                if let Some(e) = errors.first() {
                    return Err(invalid(
                        backup,
                        &format!("the server refused a restored document: {e}"),
                    ));
                }
            }
            done += n;
            n = 0;
            progress.event(&Event::Documents {
                id: migration.into(),
                done,
                total: Some(total),
                replaced: done,
                deleted: 0,
                failed: 0,
                paused_ms: 0,
                batches: 0,
                retries: Default::default(),
            });
        }
        if end {
            break;
        }
    }
    done += restore_outputs(target, backup).await?;
    target
        .db()
        .collection::<bson::Document>(backup)
        .drop()
        .await
        .map_err(|e| MigrateError::db(format!("cannot drop {backup}"), e))?;
    target
        .db()
        .collection::<bson::Document>(QUARANTINE_COLLECTION)
        .delete_many(doc! { "migration": migration })
        .await
        .map_err(|e| MigrateError::db("cannot clear the quarantine", e))?;
    Ok(done)
}

/// Puts back every document a cross-collection run wrote in another
/// collection: as it was before the run, or deleted when the run created it;
/// a thousand at a time per collection.
async fn restore_outputs(target: &Target, backup: &str) -> Result<u64> {
    let read_err = |e| MigrateError::db(format!("cannot read pre-images from {backup}"), e);
    let mut cursor = target
        .db()
        .collection::<RawDocumentBuf>(backup)
        .find(doc! { "op": "output" })
        .sort(doc! { "ns": 1 })
        .await
        .map_err(read_err)?;
    let mut pending: Option<(String, RawArrayBuf, RawArrayBuf, usize)> = None;
    let mut done = 0;
    loop {
        let next = cursor.try_next().await.map_err(read_err)?;
        let ns = match &next {
            Some(b) => Some(
                b.get_str("ns")
                    .map_err(|_| invalid(backup, "an output's pre-image without `ns`"))?
                    .to_string(),
            ),
            None => None,
        };
        let flush = match (&pending, &ns) {
            (Some((p, _, _, n)), Some(ns)) => p != ns || *n >= 1000,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if flush {
            let (p, ups, dels, n) = pending.take().expect("pending");
            put_back(target, backup, &p, ups, dels).await?;
            done += n as u64;
            crate::failpoint::hit(crate::failpoint::RESTORE_MID_OUTPUTS);
        }
        let (Some(b), Some(ns)) = (next, ns) else {
            return Ok(done);
        };
        let id = b
            .get("id")
            .ok()
            .flatten()
            .map(|v| v.to_raw_bson())
            .ok_or_else(|| invalid(backup, "an output's pre-image without `id`"))?;
        let (_, ups, dels, n) =
            pending.get_or_insert_with(|| (ns, RawArrayBuf::new(), RawArrayBuf::new(), 0));
        match b.get_document("doc") {
            Ok(original) => ups.push(
                rawdoc! { "q": { "_id": id }, "u": original.to_raw_document_buf(), "upsert": true },
            ),
            Err(_) => dels.push(rawdoc! { "q": { "_id": id }, "limit": 1 }),
        }
        *n += 1;
    }
}

/// Restores (`ups`) and deletes (`dels`) in the collection `ns` names.
async fn put_back(
    target: &Target,
    backup: &str,
    ns: &str,
    ups: RawArrayBuf,
    dels: RawArrayBuf,
) -> Result<()> {
    let (db, coll) = ns
        .split_once('.')
        .ok_or_else(|| invalid(backup, "an output's pre-image with a bad `ns`"))?;
    let mut cmds = Vec::new();
    if !ups.is_empty() {
        cmds.push(rawdoc! { "update": coll, "updates": ups, "ordered": false });
    }
    if !dels.is_empty() {
        cmds.push(rawdoc! { "delete": coll, "deletes": dels, "ordered": false });
    }
    for cmd in cmds {
        let reply = target
            .run_raw_in(db, cmd, None)
            .await
            .map_err(|e| MigrateError::db(format!("cannot restore {ns}"), e))?;
        if let Ok(errors) = reply.get_array("writeErrors") {
            if let Some(e) = errors.first() {
                return Err(invalid(
                    backup,
                    &format!("the server refused a restored document of {ns}: {e}"),
                ));
            }
        }
    }
    Ok(())
}

fn invalid(backup: &str, what: &str) -> MigrateError {
    MigrateError::Encoding {
        context: format!("the pre-images in {backup} are damaged"),
        message: what.into(),
    }
}
