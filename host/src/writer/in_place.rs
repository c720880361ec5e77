//! Writing a batch back into its collection inside a transaction:
//! replacements or `$set`/`$unset` updates by `_id`, then deletions.

use bson::{rawdoc, RawArrayBuf, RawDocument, RawDocumentBuf};
use mongodb::ClientSession;

use super::diff::diff_update;
use super::reply::{check_errors, run_cmd};
use super::reread::Item;
use super::scope::Scope;
use crate::batch::Outcome;
use crate::error::Result;
use crate::options::UpdateForm;

/// The update statement of one document: a replacement or `$set`/`$unset`
/// (`None` when nothing changes).
pub(super) fn update_of(form: UpdateForm, it: &Item<'_>) -> Option<RawDocumentBuf> {
    let Outcome::Replace(r) = it.outcome else {
        return None;
    };
    let new = RawDocument::from_bytes(r).expect("checked by the worker");
    match form {
        UpdateForm::Replace => Some(new.to_raw_document_buf()),
        UpdateForm::Set => match diff_update(it.doc, new) {
            Some(Some(u)) => Some(u),
            Some(None) => None,
            None => Some(new.to_raw_document_buf()),
        },
    }
}

/// Replacements or `$set`/`$unset` updates by `_id` (in chunks well under the
/// 16 MiB command limit), then deletions.
pub(super) async fn write_in_place(
    scope: Scope<'_>,
    form: UpdateForm,
    items: &[Item<'_>],
    session: &mut Option<&mut ClientSession>,
) -> Result<()> {
    let (target, collection, b) = (scope.target, scope.collection, scope.batch());
    const CHUNK_BYTES: usize = 8 << 20;
    let mut chunk = RawArrayBuf::new();
    let mut idx = Vec::new();
    let mut bytes = 0;
    for it in items {
        let Some(u) = update_of(form, it) else {
            continue;
        };
        let len = u.as_bytes().len();
        if bytes + len > CHUNK_BYTES && !idx.is_empty() {
            let cmd = rawdoc! { "update": collection, "updates": std::mem::take(&mut chunk), "ordered": false };
            let reply = run_cmd(target, cmd, session).await?;
            check_errors(&reply, b, &idx, false)?;
            idx.clear();
            bytes = 0;
        }
        bytes += len;
        chunk.push(rawdoc! { "q": { "_id": b.id(it.i) }, "u": u, "upsert": false });
        idx.push(it.i);
    }
    if !idx.is_empty() {
        let cmd = rawdoc! { "update": collection, "updates": chunk, "ordered": false };
        let reply = run_cmd(target, cmd, session).await?;
        check_errors(&reply, b, &idx, false)?;
    }
    let mut deletes = RawArrayBuf::new();
    let mut del_idx = Vec::new();
    for it in items {
        if let Outcome::Delete = it.outcome {
            deletes.push(rawdoc! { "q": { "_id": b.id(it.i) }, "limit": 1 });
            del_idx.push(it.i);
        }
    }
    if !del_idx.is_empty() {
        let cmd = rawdoc! { "delete": collection, "deletes": deletes, "ordered": false };
        let reply = run_cmd(target, cmd, session).await?;
        check_errors(&reply, b, &del_idx, false)?;
    }
    Ok(())
}
