//! The worker pool: plain threads from a Rayon pool, each owning one worker
//! slot (one Wasm instance, or one worker of another transform) for every
//! batch it takes.

use tokio::sync::mpsc;

use super::in_order::Finished;
use crate::batch::Batch;
use crate::error::{MigrateError, Result};
use crate::transform::WorkerSlot;

/// Starts `threads` workers taking batches from `batches` and sending what
/// they made of each to `results`; each stops at its first failed batch.
/// `slot` makes each worker's slot. The pool must outlive the run.
pub(crate) fn start(
    threads: usize,
    batches: &crossbeam_channel::Receiver<Batch>,
    results: &mpsc::UnboundedSender<Finished>,
    slot: impl Fn() -> WorkerSlot,
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
        pool.spawn(move || {
            while let Ok(batch) = rx.recv() {
                let seq = batch.seq();
                let res = slot.transform_batch(batch);
                let failed = res.is_err();
                if tx.send((seq, res)).is_err() || failed {
                    return;
                }
            }
        });
    }
    Ok(pool)
}
