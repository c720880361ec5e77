//! Side collection: documents a transform failed, set aside with their
//! error instead of stopping the run.

use bson::{rawdoc, DateTime, RawArrayBuf, RawDocumentBuf};
use mongodb::ClientSession;

use super::reply::{check_errors, run_cmd};
use super::reread::Item;
use super::scope::Scope;
use crate::batch::{dropped_note, show_id_of, BatchLogs, Outcome};
use crate::error::{MigrateError, Result};
use crate::ledger::CheckpointSlot;

/// The collection holding documents a run set aside.
pub const QUARANTINE_COLLECTION: &str = "mongoshift_quarantine";

/// Failing documents: without quarantine the first stops the batch before
/// anything of it is written; with it they are set aside.
pub(super) async fn quarantine(
    scope: Scope<'_>,
    items: &[Item<'_>],
    session: &mut Option<&mut ClientSession>,
) -> Result<()> {
    let (target, collection, migration, opts) =
        (scope.target, scope.collection, scope.migration, scope.opts);
    let b = scope.batch();
    let replaying = opts.checkpoint == CheckpointSlot::Replay;
    let mut docs = RawArrayBuf::new();
    let mut updates = RawArrayBuf::new();
    let mut n = 0;
    for it in items {
        if let Outcome::Fail(msg) = it.outcome {
            if !opts.quarantine {
                return Err(MigrateError::DocumentFailed {
                    batch: b.seq() + 1,
                    document: show_id_of(it.doc),
                    message: msg.clone(),
                    logs: failure_logs(&scope.t.logs, it.i),
                });
            }
            let key = rawdoc! { "migration": migration, "id": b.id(it.i) };
            let entry = rawdoc! {
                "_id": key.clone(),
                "migration": migration,
                "collection": collection,
                "error": msg.as_str(),
                "logs": logs_of(&scope.t.logs, it.i),
                "original": it.doc.to_raw_document_buf(),
                "at": DateTime::now(),
            };
            if replaying {
                // The entry it already has is replaced: the document as it
                // is now, and the error of the files that ran now.
                updates.push(rawdoc! {
                    "q": { "_id": key },
                    "u": entry,
                    "upsert": true,
                });
            } else {
                docs.push(entry);
            }
            n += 1;
        }
    }
    if n > 0 {
        let cmd = if replaying {
            rawdoc! { "update": QUARANTINE_COLLECTION, "updates": updates, "ordered": false }
        } else {
            rawdoc! { "insert": QUARANTINE_COLLECTION, "documents": docs, "ordered": false }
        };
        let reply = run_cmd(target, cmd, session).await?;
        check_errors(&reply, b, &[], scope.at_least_once())?;
    }
    Ok(())
}

/// A replay: the quarantine entries of the batch's documents that did not
/// fail again are cleared, with the batch's writes (after them, without a
/// transaction: an entry is never gone before its document is written).
pub(super) async fn clear_replayed(
    scope: Scope<'_>,
    items: &[Item<'_>],
    session: &mut Option<&mut ClientSession>,
) -> Result<()> {
    let b = scope.batch();
    let mut ids = RawArrayBuf::new();
    for it in items {
        if !matches!(it.outcome, Outcome::Fail(_)) {
            let id: RawDocumentBuf = rawdoc! { "migration": scope.migration, "id": b.id(it.i) };
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    let cmd = rawdoc! {
        "delete": QUARANTINE_COLLECTION,
        "deletes": [ { "q": { "_id": { "$in": ids } }, "limit": 0 } ],
    };
    let reply = run_cmd(scope.target, cmd, session).await?;
    check_errors(&reply, b, &[], scope.at_least_once())
}

/// How many of a failed document's log lines its error shows.
const FAILURE_LOG_LINES: usize = 5;

/// The last lines the transform logged for document `i`, as its error shows
/// them, when it logged any.
fn failure_logs(logs: &BatchLogs, i: usize) -> Option<String> {
    let own = BatchLogs {
        lines: logs.of_document(i).cloned().collect(),
        dropped: logs.dropped,
    };
    own.tail(FAILURE_LOG_LINES).map(crate::text::message)
}

/// The lines the transform logged while it worked on document `i`, each
/// `{level, message}`, and the note of the batch's dropped lines, if any
/// (they may have been this document's).
fn logs_of(logs: &BatchLogs, i: usize) -> RawArrayBuf {
    let mut lines = RawArrayBuf::new();
    for line in logs.of_document(i) {
        lines.push(rawdoc! { "level": line.level.name(), "message": line.message.as_str() });
    }
    if logs.dropped > 0 {
        let note: RawDocumentBuf =
            rawdoc! { "level": "warn", "message": dropped_note(logs.dropped) };
        lines.push(note);
    }
    lines
}
