//! The worker pool: plain threads from a Rayon pool, each owning one worker
//! slot (one Wasm instance, or one worker of another transform) for every
//! batch it takes.

use tokio::sync::mpsc;

use super::in_order::Finished;
use crate::batch::{Batch, Transformed};
use crate::error::{MigrateError, Result};
use crate::pre_image::BatchRecords;
use crate::transform::WorkerSlot;
use crate::writer::{batch_records, WriteOptions};

/// What a worker made of a batch: the transformed batch and, for a run
/// that keeps pre-images, their records built beside the writer.
pub(crate) struct Done {
    pub(crate) t: Transformed,
    pub(crate) records: Option<BatchRecords>,
}

/// Starts `threads` workers taking batches from `batches` and sending what
/// they made of each to `results`; each stops at its first failed batch.
/// `slot` makes each worker's slot; `write` (none in a dry run) says which
/// pre-image records to build. The pool must outlive the run.
pub(crate) fn start(
    threads: usize,
    batches: &crossbeam_channel::Receiver<Batch>,
    results: &mpsc::UnboundedSender<Finished<Done>>,
    slot: impl Fn() -> WorkerSlot,
    write: Option<&WriteOptions>,
) -> Result<rayon::ThreadPool> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("mongoshift-worker-{i}"))
        .build()
        .map_err(|e| MigrateError::Threads {
            message: e.to_string(),
        })?;
    for _ in 0..threads {
        let rx = batches.clone();
        let tx = results.clone();
        let mut slot = slot();
        let write = write.cloned();
        pool.spawn(move || {
            while let Ok(batch) = rx.recv() {
                let seq = batch.seq();
                let res = slot.transform_batch(batch).map(|t| Done {
                    records: write.as_ref().and_then(|w| batch_records(w, &t)),
                    t,
                });
                let failed = res.is_err();
                if tx.send((seq, res)).is_err() || failed {
                    return;
                }
            }
        });
    }
    Ok(pool)
}
