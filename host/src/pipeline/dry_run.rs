//! Dry-run counting: what a batch would do, counted like a checkpoint, each
//! document and its outcome handed to the caller; nothing is written.

use bson::{Bson, RawDocument};

use crate::batch::{Outcome, Transformed};
use crate::ledger::Checkpoint;

/// Receives each document and its outcome in a dry run.
pub(crate) type DryRunSink<'a> = dyn FnMut(&RawDocument, &Outcome) + Send + 'a;

/// Counts a transformed batch into `cp` and shows its documents to `sink`.
pub(crate) fn count(cp: &mut Checkpoint, t: &Transformed, sink: &mut DryRunSink<'_>) {
    for (i, o) in t.outcomes.iter().enumerate() {
        sink(t.batch.doc(i), o);
        cp.count(o, 1);
    }
    cp.read += t.batch.len() as i64;
    cp.batches += 1;
    cp.last_id = Some(Bson::try_from(t.batch.id(t.batch.len() - 1)).unwrap_or(Bson::Null));
}
