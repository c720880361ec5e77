//! Running a write command and reading the server's reply: each refused
//! document is named by its `_id`.

use bson::{Bson, Document, RawDocumentBuf};
use mongodb::ClientSession;

use crate::batch::Batch;
use crate::error::{MigrateError, Result, DUPLICATE_KEY};
use crate::target::Target;

/// Runs a write command of the batch, in `session` when there is one.
pub(super) async fn run_cmd(
    target: &Target,
    cmd: RawDocumentBuf,
    session: &mut Option<&mut ClientSession>,
) -> Result<Document> {
    target
        .run_raw(cmd, session.as_deref_mut())
        .await
        .map_err(|e| MigrateError::db("cannot write the batch", e))
}

/// The first write error of `reply`, naming its document (`idx`: the batch
/// index of each statement). With `ignore_duplicates` a document written
/// again (a redone batch without transactions) is not an error.
pub(super) fn check_errors(
    reply: &Document,
    b: &Batch,
    idx: &[usize],
    ignore_duplicates: bool,
) -> Result<()> {
    let Ok(errors) = reply.get_array("writeErrors") else {
        return Ok(());
    };
    for e in errors {
        let Bson::Document(e) = e else { continue };
        let code = e.get_i32("code").unwrap_or_default();
        // A document written again (a redone batch) is already there; a
        // duplicate on another unique index is a real refusal.
        // The server names the index's key (MongoDB 4.2 and later); without
        // it the duplicate is taken for a real refusal.
        let again = e
            .get_document("keyPattern")
            .is_ok_and(|k| k.keys().eq(["_id"]));
        if ignore_duplicates && code == DUPLICATE_KEY && again {
            continue;
        }
        let at = e.get_i32("index").map_or(0, |i| i as usize);
        return Err(MigrateError::WriteRejected {
            batch: b.seq() + 1,
            document: idx
                .get(at)
                .map_or_else(|| "?".to_string(), |&i| b.id_text(i)),
            message: e.get_str("errmsg").unwrap_or("write error").to_string(),
            code,
        });
    }
    Ok(())
}
