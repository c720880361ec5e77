//! Writing in place without a transaction: each write applies only while
//! its document is unchanged, a batch's writes in one command; a document
//! changed meanwhile is read again, transformed again and written again.

use std::collections::{HashMap, HashSet};

use bson::{rawdoc, RawArrayBuf, RawDocument, RawDocumentBuf};

use super::reply::{check_errors, run_cmd};
use super::reread::{reread, Item};
use super::scope::Scope;
use super::unchanged::{replace_if_unchanged, take_not_applied, unchanged_filter};
use super::{pre_images, quarantine::quarantine};
use crate::batch::Outcome;
use crate::error::{MigrateError, Result};
use crate::ledger::Checkpoint;
use crate::transform::Retransform;

/// One conditional write of the document at batch index `i`: an update by
/// the pipeline `u`, which changes the document only while it is unchanged,
/// or a deletion (`u` is `None`) applying only where `filter` matches.
struct Op {
    i: usize,
    filter: RawDocumentBuf,
    u: Option<RawArrayBuf>,
}

/// Without a transaction: each write applies only if the document is still
/// exactly as the transform saw it, the batch's writes in one `update` and
/// one `delete` (more only past the server's limits). Returns the batch
/// indexes of the documents to read again: each update that did not apply
/// (the server names it), and every deletion when fewer were deleted than
/// sent.
pub(super) async fn write_conditionally(
    scope: Scope<'_>,
    items: &[Item<'_>],
) -> Result<Vec<usize>> {
    // Well under the 16 MiB of a command.
    const CHUNK_BYTES: usize = 8 << 20;
    let most = scope.target.max_write_batch().max(1);
    let mut chunks: Vec<Vec<Op>> = vec![Vec::new()];
    let mut bytes = 0;
    for it in items {
        let (filter, u) = match it.outcome {
            Outcome::Delete => (unchanged_filter(it.doc), None),
            Outcome::Replace(r) => {
                let new = RawDocument::from_bytes(r).expect("checked by the worker");
                if new == it.doc {
                    continue;
                }
                let (filter, pipeline) = replace_if_unchanged(it.doc, new);
                (filter, Some(pipeline))
            }
            _ => continue,
        };
        let len = filter.as_bytes().len() + u.as_ref().map_or(0, |u| u.as_bytes().len());
        let last = chunks.last().map_or(0, Vec::len);
        if last > 0 && (last >= most || bytes + len > CHUNK_BYTES) {
            chunks.push(Vec::new());
            bytes = 0;
        }
        bytes += len;
        if let Some(c) = chunks.last_mut() {
            c.push(Op { i: it.i, filter, u });
        }
    }
    let mut missed = Vec::new();
    for ops in chunks.iter().filter(|c| !c.is_empty()) {
        missed.extend(update_and_delete(scope, ops).await?);
    }
    missed.sort_unstable();
    Ok(missed)
}

/// `ops` as one unordered `update` and one unordered `delete`. An update
/// that did not apply is named by its write error. An update whose document
/// is gone matched nothing and needs nothing more. A deletion that did not
/// apply is not named: when fewer were deleted than sent, every deletion is
/// read again (a document still there had changed; one gone is done).
async fn update_and_delete(scope: Scope<'_>, ops: &[Op]) -> Result<Vec<usize>> {
    let (target, collection, b) = (scope.target, scope.collection, scope.batch());
    let mut missed = Vec::new();
    let (updates, deletes): (Vec<&Op>, Vec<&Op>) = ops.iter().partition(|op| op.u.is_some());
    for (kind, list) in [("update", &updates), ("delete", &deletes)] {
        if list.is_empty() {
            continue;
        }
        let mut statements = RawArrayBuf::new();
        for op in list.iter() {
            statements.push(match &op.u {
                Some(u) => rawdoc! { "q": op.filter.clone(), "u": u.clone(), "upsert": false },
                None => rawdoc! { "q": op.filter.clone(), "limit": 1 },
            });
        }
        let field = if kind == "update" {
            "updates"
        } else {
            "deletes"
        };
        let mut cmd = RawDocumentBuf::new();
        cmd.append(kind, collection);
        cmd.append(field, statements);
        cmd.append("ordered", false);
        let mut reply = run_cmd(target, cmd, &mut None).await?;
        let idx: Vec<usize> = list.iter().map(|op| op.i).collect();
        if kind == "update" {
            let not_applied = take_not_applied(&mut reply);
            check_errors(&reply, b, &idx, false)?;
            missed.extend(not_applied.iter().filter_map(|&at| idx.get(at)));
        } else {
            check_errors(&reply, b, &idx, false)?;
            let deleted = reply.get_i32("n").map_or(0, |n| n.max(0) as usize);
            if deleted < list.len() {
                missed.extend(&idx);
            }
        }
    }
    Ok(missed)
}

/// Writes again the documents whose conditional write did not apply because
/// another client changed them (`missed`), until none is missed: each is
/// read again, transformed again and written again, ten rounds at most.
/// `next` is counted again for what changed.
pub(super) async fn settle(
    scope: Scope<'_>,
    retransform: &mut Option<Box<dyn Retransform>>,
    items: &[Item<'_>],
    mut missed: Vec<usize>,
    next: &mut Checkpoint,
    some_kept: bool,
) -> Result<()> {
    let b = scope.batch();
    // Originals this batch has kept already: those of its first write (a
    // replacement or a deletion), then those of each round.
    let mut kept: HashSet<usize> = items
        .iter()
        .filter(|it| matches!(it.outcome, Outcome::Replace(_) | Outcome::Delete))
        .map(|it| it.i)
        .collect();
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
        // Only what changed this round is written again: a document that is
        // the version written, or gone, is done.
        let changed: Vec<usize> = f.changed.keys().copied().collect();
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
        let again: Vec<Item<'_>> = changed
            .iter()
            .filter_map(|i| {
                latest.get(i).map(|(doc, outcome)| Item {
                    i: *i,
                    doc,
                    outcome,
                    outputs: &[],
                })
            })
            .collect();
        quarantine(scope, &again, &mut session).await?;
        // The first original of a document is kept once: only documents
        // whose original this batch has not kept yet get one now (looked up
        // among earlier runs' when the collection held anything at the start).
        let unkept: Vec<Item<'_>> = again
            .iter()
            .filter(|it| !kept.contains(&it.i))
            .map(|it| Item { ..*it })
            .collect();
        pre_images::write(scope, &unkept, some_kept, &mut session).await?;
        kept.extend(
            unkept
                .iter()
                .filter(|it| matches!(it.outcome, Outcome::Replace(_) | Outcome::Delete))
                .map(|it| it.i),
        );
        missed = write_conditionally(scope, &again).await?;
    }
    Ok(())
}
