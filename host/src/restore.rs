//! Rolling back from pre-images: every document a run changed or deleted is put
//! back exactly as it was (the same bytes), deleted ones re-inserted, a
//! record (a batch's originals, or one document's in the layout of earlier
//! versions) at a time.

use bson::{doc, rawdoc, RawArrayBuf, RawDocumentBuf};
use futures_util::TryStreamExt;

use crate::batch::show_id_of;
use crate::error::{MigrateError, Result};
use crate::pre_image::{entries, originals, DOCS, PACKED};
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
    let total = check_and_count(target, backup).await?;
    let backups = target.db().collection::<RawDocumentBuf>(backup);
    let read_err = |e| MigrateError::db(format!("cannot read pre-images from {backup}"), e);
    let mut cursor = backups
        .find(doc! { "op": { "$ne": "output" } })
        .sort(doc! { "_id": 1 })
        .await
        .map_err(read_err)?;
    let mut done = 0u64;
    let mut pending = Pending::default();
    // A record at a time: its originals join the pending upserts, sent in
    // chunks well under the server's command limit.
    while let Some(record) = cursor.try_next().await.map_err(read_err)? {
        for o in originals(backup, &record)? {
            let u = rawdoc! { "q": { "_id": o.id }, "u": o.doc, "upsert": true };
            if pending.full_with(u.as_bytes().len()) {
                done += pending.send(target, collection, backup).await?;
                documents_event(progress, migration, done, total);
            }
            pending.push(u);
        }
    }
    done += pending.send(target, collection, backup).await?;
    documents_event(progress, migration, done, total);
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

/// Refuses a collection holding a record of no known form, or a packed
/// record that does not read back (naming it), before anything is
/// restored; counts the originals the others keep.
async fn check_and_count(target: &Target, backup: &str) -> Result<u64> {
    let backups = target.db().collection::<RawDocumentBuf>(backup);
    let read_err = |e| MigrateError::db(format!("cannot read pre-images from {backup}"), e);
    let not_doc = doc! { "$not": { "$type": "object" } };
    let damaged = doc! { "op": { "$ne": "output" }, "$or": [
        { "doc": not_doc.clone(), DOCS: { "$not": { "$type": "array" } }, PACKED: { "$not": { "$type": "binData" } } },
        { DOCS: { "$elemMatch": { "doc": not_doc } } },
        { DOCS: { "$elemMatch": { "_id": { "$exists": false } } } },
    ] };
    if let Some(record) = backups.find_one(damaged).await.map_err(read_err)? {
        originals(backup, &record)?;
        return Err(MigrateError::Encoding {
            context: format!("the pre-images in {backup} are damaged"),
            message: format!(
                "record {}: a `docs` entry without `_id` or `doc`",
                show_id_of(&record)
            ),
        });
    }
    // Packed records are checked here (decompressed, their checksum and
    // entries read) rather than half-way through the restore.
    let mut packed = backups
        .find(doc! { PACKED: { "$exists": true } })
        .await
        .map_err(read_err)?;
    while let Some(record) = packed.try_next().await.map_err(read_err)? {
        entries(backup, &record)?;
    }
    let count = [
        doc! { "$match": { "op": { "$ne": "output" } } },
        doc! { "$group": { "_id": null, "n": { "$sum": { "$ifNull": ["$n", 1] } } } },
    ];
    let mut cursor = backups.aggregate(count).await.map_err(read_err)?;
    let n = match cursor.try_next().await.map_err(read_err)? {
        Some(d) => d
            .get_i64("n")
            .ok()
            .or_else(|| d.get_i32("n").ok().map(i64::from)),
        None => None,
    };
    Ok(n.map_or(0, |n| n.max(0) as u64))
}

fn documents_event(progress: &Progress, migration: &str, done: u64, total: u64) {
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

/// Upserts of originals waiting to be sent.
#[derive(Default)]
struct Pending {
    updates: RawArrayBuf,
    n: u64,
    bytes: usize,
}

impl Pending {
    /// At most 1,000 upserts and 8 MiB in one command (a larger original
    /// goes alone).
    const MAX_N: u64 = 1000;
    const MAX_BYTES: usize = 8 << 20;

    fn full_with(&self, bytes: usize) -> bool {
        self.n > 0 && (self.n >= Self::MAX_N || self.bytes + bytes > Self::MAX_BYTES)
    }

    fn push(&mut self, u: RawDocumentBuf) {
        self.bytes += u.as_bytes().len();
        self.n += 1;
        self.updates.push(u);
    }

    /// Sends the pending upserts; returns how many.
    async fn send(&mut self, target: &Target, collection: &str, backup: &str) -> Result<u64> {
        let Pending { updates, n, .. } = std::mem::take(self);
        if n == 0 {
            return Ok(0);
        }
        let cmd = rawdoc! { "update": collection, "updates": updates, "ordered": false };
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
        Ok(n)
    }
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
