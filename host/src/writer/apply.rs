//! The writes of one commit: re-read what changed, count, checkpoint,
//! quarantine, then the writes to where the results go.

use bson::Bson;
use mongodb::ClientSession;

use super::conditional::{settle, write_conditionally};
use super::in_place::write_in_place;
use super::options::Destination;
use super::outputs::{check_outputs, write_outputs};
use super::pre_images;
use super::quarantine::{clear_replayed, quarantine};
use super::reread::{reread, Fresh};
use super::scope::Scope;
use super::shadow::insert_all;
use crate::batch::Outcome;
use crate::error::Result;
use crate::ledger::{save_checkpoint, Checkpoint, CheckpointAt};
use crate::transform::Retransform;

/// The writes of documents `lo..hi` of a batch, then the checkpoint. Returns
/// the checkpoint written.
pub(super) async fn apply(
    scope: Scope<'_>,
    retransform: &mut Option<Box<dyn Retransform>>,
    cp: &Checkpoint,
    (lo, hi): (usize, usize),
    pre_images_kept: bool,
    session: Option<&mut ClientSession>,
) -> Result<Checkpoint> {
    let mut session = session;
    let (opts, b) = (scope.opts, scope.batch());
    let at_least_once = scope.at_least_once();
    // In place, inside a transaction: first read the batch again, so documents
    // an application changed since the reader saw them are transformed again
    // from what they are now. The read fixes the transaction's snapshot: a
    // write committed after it conflicts with ours and the batch is retried.
    let fresh = match &opts.destination {
        Destination::InPlace { reread: true, .. } if !at_least_once => {
            let wanted: Vec<usize> = (lo..hi).collect();
            let as_read = |i: usize| vec![Some(b.doc(i).as_bytes())];
            let fresh = reread(scope, retransform, &wanted, &as_read, &mut session).await?;
            crate::failpoint::hit(crate::failpoint::BATCH_AFTER_REREAD);
            fresh
        }
        _ => Fresh::default(),
    };
    let mut items = fresh.items(scope.t, lo..hi);
    if let Some((i, failed)) = scope.set_aside {
        for it in items.iter_mut().filter(|it| it.i == i) {
            it.outcome = failed;
            it.outputs = &[];
        }
    }
    let mut next = cp.clone();
    for it in &items {
        next.count(it.outcome, 1);
    }
    next.read += (hi - lo) as i64;
    next.batches += 1;
    next.last_id = Some(Bson::try_from(b.id(hi - 1)).unwrap_or(Bson::Null));
    next.changed += fresh.changed.len() as i64;
    next.gone += fresh.gone.len() as i64;
    // Outputs are checked before anything is written (a bad one fails the
    // batch), then counted with the checkpoint that commits with them.
    let outputs = check_outputs(scope, &items)?;
    for (collection, n) in &outputs {
        *next.outputs.entry(collection.clone()).or_insert(0) += n;
    }

    // In a transaction the checkpoint goes first: a document the server
    // cannot take inside a transaction is then refused by its own write,
    // instead of leaving a later statement waiting until the transaction
    // expires (secantusd-rs does that).
    let target = scope.target;
    let at = CheckpointAt {
        migration: scope.migration,
        slot: &opts.checkpoint,
        fence: opts.fence,
    };
    if !at_least_once {
        save_checkpoint(target, at, &next, b.seq() + 1, session.as_deref_mut()).await?;
    }
    quarantine(scope, &items, &mut session).await?;
    match &opts.destination {
        Destination::Shadow { shadow, backup } => {
            let copies = items.iter().filter_map(|it| {
                let doc = match it.outcome {
                    // A document set aside stays as it is, as in place.
                    Outcome::Keep | Outcome::Fail(_) => it.doc,
                    Outcome::Replace(r) => {
                        bson::RawDocument::from_bytes(r).expect("checked by the worker")
                    }
                    Outcome::Delete => return None,
                };
                Some((it.i, doc))
            });
            let copies: Vec<(usize, &bson::RawDocument)> = copies.collect();
            insert_all(scope, shadow, &copies, &mut session).await?;
            if let Some(backup) = backup {
                let originals: Vec<(usize, &bson::RawDocument)> =
                    items.iter().map(|it| (it.i, it.doc)).collect();
                insert_all(scope, backup, &originals, &mut session).await?;
            }
        }
        Destination::InPlace { form, .. } => {
            let kept = pre_images_kept;
            pre_images::write(scope, &items, kept, &mut session).await?;
            if at_least_once {
                let missed = write_conditionally(scope, &items).await?;
                settle(scope, retransform, &items, missed, &mut next, kept).await?;
            } else {
                write_in_place(scope, *form, &items, &mut session).await?;
                if !outputs.is_empty() {
                    write_outputs(scope, &items, &mut session).await?;
                }
            }
        }
    }
    if opts.checkpoint == crate::ledger::CheckpointSlot::Replay {
        clear_replayed(scope, &items, &mut session).await?;
    }
    if at_least_once {
        crate::failpoint::hit(crate::failpoint::BATCH_BEFORE_CHECKPOINT);
        save_checkpoint(target, at, &next, b.seq() + 1, session).await?;
    }
    Ok(next)
}
