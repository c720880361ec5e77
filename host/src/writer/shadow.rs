//! Copy-and-swap writes: what each document becomes goes into the shadow,
//! each original into the backup.

use bson::{rawdoc, RawArrayBuf, RawDocument};
use mongodb::ClientSession;

use super::reply::{check_errors, run_cmd};
use super::scope::Scope;
use crate::error::Result;

/// Copy-and-swap: documents of a batch (what each becomes, into the
/// shadow; each original, into the backup) in unordered inserts, in chunks
/// well under the 16 MiB command limit. Without transactions a redone batch
/// finds its documents already there, which is fine.
pub(super) async fn insert_all(
    scope: Scope<'_>,
    into: &str,
    docs: &[(usize, &RawDocument)],
    session: &mut Option<&mut ClientSession>,
) -> Result<()> {
    let (target, b, at_least_once) = (scope.target, scope.batch(), scope.at_least_once());
    const CHUNK_BYTES: usize = 8 << 20;
    let mut chunk = RawArrayBuf::new();
    let mut idx = Vec::new();
    let mut bytes = 0;
    for &(i, doc) in docs {
        if bytes + doc.as_bytes().len() > CHUNK_BYTES && !idx.is_empty() {
            let cmd = rawdoc! { "insert": into, "documents": std::mem::take(&mut chunk), "ordered": false };
            let reply = run_cmd(target, cmd, session).await?;
            check_errors(&reply, b, &idx, at_least_once)?;
            idx.clear();
            bytes = 0;
        }
        bytes += doc.as_bytes().len();
        chunk.push(doc.to_raw_document_buf());
        idx.push(i);
    }
    if !idx.is_empty() {
        let cmd = rawdoc! { "insert": into, "documents": chunk, "ordered": false };
        let reply = run_cmd(target, cmd, session).await?;
        check_errors(&reply, b, &idx, at_least_once)?;
    }
    Ok(())
}
