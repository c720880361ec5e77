//! The reader: one cursor by `_id` over the migration's documents, raw BSON,
//! cut into batches at the current batch size. Each batch takes a permit
//! before it is sent, so memory stays bounded.

use std::sync::Arc;

use bson::{doc, Document, RawDocumentBuf};
use futures_util::TryStreamExt;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::batch_size::BatchSize;
use crate::batch::Batch;
use crate::error::{MigrateError, Result};
use crate::lookup::Lookups;
use crate::target::Target;

/// What the reader reads and where it sends it.
pub(crate) struct Reader {
    pub(crate) collection: mongodb::Collection<RawDocumentBuf>,
    /// The migration's filter, with the resume point folded in.
    pub(crate) filter: Document,
    /// Stop after this many documents.
    pub(crate) limit: Option<u64>,
    pub(crate) size: BatchSize,
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) batches: crossbeam_channel::Sender<Batch>,
    /// The migration's lookups, resolved for each batch before it is sent.
    pub(crate) lookups: Option<(Target, Lookups)>,
}

impl Reader {
    /// Reads in the background; the task ends with the number of batches
    /// sent, early when the permits are closed or the workers are gone.
    pub(crate) fn spawn(self) -> JoinHandle<Result<u64>> {
        tokio::spawn(self.read())
    }

    async fn read(self) -> Result<u64> {
        let read_err = |e| MigrateError::db("cannot read the documents", e);
        let mut find = self
            .collection
            .find(self.filter.clone())
            .sort(doc! { "_id": 1 })
            .batch_size(self.size.get().min(10_000) as u32);
        if let Some(l) = self.limit {
            find = find.limit(l as i64);
        }
        let mut cursor = find.await.map_err(read_err)?;
        let mut seq = 0u64;
        // The batch being filled: its bytes and each document's span.
        let mut bytes: Vec<u8> = Vec::new();
        let mut docs: Vec<(usize, usize)> = Vec::new();
        loop {
            let next = cursor.try_next().await.map_err(read_err)?;
            let done = next.is_none();
            if let Some(d) = next {
                if docs.is_empty() {
                    let size = self.size.get();
                    bytes = Vec::with_capacity(size * 300);
                    docs = Vec::with_capacity(size);
                }
                let start = bytes.len();
                bytes.extend_from_slice(d.as_bytes());
                docs.push((start, bytes.len()));
            }
            let full = docs.len() >= self.size.get();
            if (full || done) && !docs.is_empty() {
                let Ok(permit) = self.permits.clone().acquire_owned().await else {
                    return Ok(seq);
                };
                let mut batch = Batch::new(
                    seq,
                    std::mem::take(&mut bytes),
                    std::mem::take(&mut docs),
                    permit,
                );
                if let Some((target, lookups)) = &self.lookups {
                    let docs: Vec<&bson::RawDocument> =
                        (0..batch.len()).map(|i| batch.doc(i)).collect();
                    let found = lookups.resolve(target, &docs, None).await?;
                    batch.set_lookups(found);
                }
                if self.batches.send(batch).is_err() {
                    return Ok(seq);
                }
                seq += 1;
            }
            if done {
                return Ok(seq);
            }
        }
    }
}

/// The reader's filter: the migration's, after `last_id` when resuming.
pub(crate) fn resume_filter(filter: &Document, last_id: Option<bson::Bson>) -> Document {
    match last_id {
        Some(last) => crate::batch::after(filter, &last),
        None => filter.clone(),
    }
}
