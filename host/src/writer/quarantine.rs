//! Side collection: documents a transform failed, set aside with their
//! error instead of stopping the run.

use bson::{rawdoc, DateTime, RawArrayBuf};
use mongodb::ClientSession;

use super::reply::{check_errors, run_cmd};
use super::reread::Item;
use super::scope::Scope;
use crate::batch::{show_id_of, Outcome};
use crate::error::{MigrateError, Result};

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
    let mut docs = RawArrayBuf::new();
    let mut n = 0;
    for it in items {
        if let Outcome::Fail(msg) = it.outcome {
            if !opts.quarantine {
                return Err(MigrateError::DocumentFailed {
                    batch: b.seq() + 1,
                    document: show_id_of(it.doc),
                    message: msg.clone(),
                });
            }
            docs.push(rawdoc! {
                "_id": { "migration": migration, "id": b.id(it.i) },
                "migration": migration,
                "collection": collection,
                "error": msg.as_str(),
                "original": it.doc.to_raw_document_buf(),
                "at": DateTime::now(),
            });
            n += 1;
        }
    }
    if n > 0 {
        let cmd = rawdoc! { "insert": QUARANTINE_COLLECTION, "documents": docs, "ordered": false };
        let reply = run_cmd(target, cmd, session).await?;
        check_errors(&reply, b, &[], scope.at_least_once())?;
    }
    Ok(())
}
