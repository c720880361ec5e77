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
/// collection: as it was before the run, or deleted when the run created it.
async fn restore_outputs(target: &Target, backup: &str) -> Result<u64> {
    let read_err = |e| MigrateError::db(format!("cannot read pre-images from {backup}"), e);
    let mut cursor = target
        .db()
        .collection::<RawDocumentBuf>(backup)
        .find(doc! { "op": "output" })
        .await
        .map_err(read_err)?;
    let mut done = 0;
    while let Some(b) = cursor.try_next().await.map_err(read_err)? {
        let ns = b
            .get_str("ns")
            .map_err(|_| invalid(backup, "an output's pre-image without `ns`"))?;
        let (db, coll) = ns
            .split_once('.')
            .ok_or_else(|| invalid(backup, "an output's pre-image with a bad `ns`"))?;
        let id = b
            .get("id")
            .ok()
            .flatten()
            .map(|v| v.to_raw_bson())
            .ok_or_else(|| invalid(backup, "an output's pre-image without `id`"))?;
        let cmd = match b.get_document("doc") {
            Ok(original) => rawdoc! { "update": coll, "updates": [
                { "q": { "_id": id }, "u": original.to_raw_document_buf(), "upsert": true }
            ] },
            Err(_) => rawdoc! { "delete": coll, "deletes": [ { "q": { "_id": id }, "limit": 1 } ] },
        };
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
        done += 1;
    }
    Ok(done)
}

fn invalid(backup: &str, what: &str) -> MigrateError {
    MigrateError::Encoding {
        context: format!("the pre-images in {backup} are damaged"),
        message: what.into(),
    }
}
