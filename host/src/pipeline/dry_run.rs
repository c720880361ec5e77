//! Dry-run counting: what a batch would do, counted like a checkpoint, each
//! document and its outcome handed to the caller; nothing is written.

use bson::{Bson, RawDocument};

use crate::batch::{Outcome, Output, Transformed};
use crate::ledger::Checkpoint;

/// Receives each document, its outcome and its outputs in a dry run.
pub(crate) type DryRunSink<'a> = dyn FnMut(&RawDocument, &Outcome, &[Output]) + Send + 'a;

/// Counts a transformed batch into `cp` and shows its documents to `sink`.
pub(crate) fn count(cp: &mut Checkpoint, t: &Transformed, sink: &mut DryRunSink<'_>) {
    for (i, o) in t.outcomes.iter().enumerate() {
        let outputs = t.outputs.get(i).map_or(&[][..], Vec::as_slice);
        sink(t.batch.doc(i), o, outputs);
        cp.count(o, 1);
        if !matches!(o, Outcome::Fail(_)) {
            for out in outputs {
                *cp.outputs.entry(out.collection.clone()).or_insert(0) += 1;
            }
        }
    }
    cp.read += t.batch.len() as i64;
    cp.batches += 1;
    cp.last_id = Some(Bson::try_from(t.batch.id(t.batch.len() - 1)).unwrap_or(Bson::Null));
}
