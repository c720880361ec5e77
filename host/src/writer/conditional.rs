//! Writing in place without a transaction: each write applies only while
//! its document is unchanged; a document changed meanwhile is read again,
//! transformed again and written again.

use std::collections::HashMap;

use bson::{rawdoc, Document, RawDocumentBuf};
use futures_util::StreamExt;

use super::diff::unchanged_query;
use super::in_place::update_of;
use super::reply::{check_errors, run_cmd};
use super::reread::{reread, Item};
use super::scope::Scope;
use super::{pre_images, quarantine::quarantine};
use crate::batch::Outcome;
use crate::error::{MigrateError, Result};
use crate::ledger::Checkpoint;
use crate::options::UpdateForm;
use crate::transform::Retransform;

/// Without a transaction: each write applies only if the document is still as
/// the transform saw it (every top-level field equal). One command per
/// document, many in flight, so each one's result is known. Returns the batch
/// indexes of the documents whose write did not apply.
pub(super) async fn write_conditionally(
    scope: Scope<'_>,
    form: UpdateForm,
    items: &[Item<'_>],
) -> Result<Vec<usize>> {
    let (target, collection, b) = (scope.target, scope.collection, scope.batch());
    let mut cmds = Vec::new();
    for it in items {
        let cmd = match it.outcome {
            Outcome::Delete => rawdoc! {
                "delete": collection,
                "deletes": [ { "q": unchanged_query(it.doc), "limit": 1 } ],
            },
            Outcome::Replace(_) => match update_of(form, it) {
                Some(u) => rawdoc! {
                    "update": collection,
                    "updates": [ { "q": unchanged_query(it.doc), "u": u, "upsert": false } ],
                },
                None => continue,
            },
            _ => continue,
        };
        cmds.push((it.i, cmd));
    }
    let replies: Vec<(usize, Result<Document>)> = futures_util::stream::iter(cmds)
        .map(|(i, cmd)| async move { (i, run_cmd(target, cmd, &mut None).await) })
        .buffer_unordered(32)
        .collect()
        .await;
    let mut missed = Vec::new();
    for (i, reply) in replies {
        let reply = reply?;
        check_errors(&reply, b, &[i], false)?;
        if reply.get_i32("n").unwrap_or(0) == 0 {
            missed.push(i);
        }
    }
    missed.sort_unstable();
    Ok(missed)
}

/// Writes again the documents whose conditional write did not apply because
/// another client changed them (`missed`), until none is missed: each is
/// read again, transformed again and written again, ten rounds at most.
/// `next` is counted again for what changed.
pub(super) async fn settle(
    scope: Scope<'_>,
    form: UpdateForm,
    retransform: &mut Option<Box<dyn Retransform>>,
    items: &[Item<'_>],
    mut missed: Vec<usize>,
    next: &mut Checkpoint,
    kept: bool,
) -> Result<()> {
    let (opts, b) = (scope.opts, scope.batch());
    // Without a transaction there is no session to write in.
    let mut session = None;
    // Without a transaction the writes are conditional: a document
    // changed by another client between the read and the write is left
    // alone by it, read again, transformed again and written again.
    let mut rounds = 0;
    let mut latest: HashMap<usize, (RawDocumentBuf, Outcome)> = HashMap::new();
    while !missed.is_empty() {
        rounds += 1;
        if rounds > 10 {
            return Err(MigrateError::Database {
                context: format!("batch {} keeps changing", b.seq() + 1),
                message: format!(
                    "{} document(s) were changed by other clients in 10 rounds in a row",
                    missed.len()
                ),
                labels: vec![],
                cause: crate::error::DbCause::Other,
            });
        }
        // What each document should be now if our write applied.
        let written = |i: usize| -> Vec<Option<&[u8]>> {
            let o = latest
                .get(&i)
                .map(|(_, o)| o)
                .or_else(|| items.iter().find(|it| it.i == i).map(|it| it.outcome));
            match o {
                Some(Outcome::Replace(r)) => vec![Some(r.as_slice())],
                _ => vec![],
            }
        };
        let f = reread(scope, retransform, &missed, &written, &mut session).await?;
        next.changed += f.changed.len() as i64;
        // Without transactions there are no outputs (refused before the run).
        for (i, (doc, o, _)) in f.changed {
            let before = latest.get(&i).map(|(_, o)| o.clone()).or_else(|| {
                items
                    .iter()
                    .find(|it| it.i == i)
                    .map(|it| it.outcome.clone())
            });
            if let Some(before) = before {
                next.count(&before, -1);
            }
            next.count(&o, 1);
            latest.insert(i, (doc, o));
        }
        let again: Vec<Item<'_>> = missed
            .iter()
            .filter_map(|i| {
                latest.get(i).map(|(doc, outcome)| Item {
                    i: *i,
                    doc,
                    outcome,
                    outputs: &[],
                })
            })
            .filter(|it| f.gone.iter().all(|g| *g != it.i))
            .collect();
        quarantine(scope, &again, &mut session).await?;
        // The batch's first write kept originals of some of these: they are
        // looked up whatever the collection held as the run started (`kept`).
        let _ = kept;
        pre_images::write(opts, &again, b, true, true, scope.target, &mut session).await?;
        missed = write_conditionally(scope, form, &again).await?;
    }
    Ok(())
}
