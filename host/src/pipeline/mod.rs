//! The batch pipeline of document-by-document migrations.
//!
//! ```text
//! reader (cursor by _id, raw BSON) ──► bounded queue ──► workers (one worker
//! slot each, one call per batch) ──► in-order reassembly ──► sink (the
//! writer, or a dry run's counter)
//! ```
//!
//! - `reader`: the cursor, cut into batches at the adaptive `batch_size`.
//! - `workers`: the Rayon pool; each thread owns one
//!   [`WorkerSlot`](crate::transform::WorkerSlot).
//! - `in_order`: results wait until every earlier batch is written.
//! - `sink`: the [`writer`](crate::writer) or `dry_run` counting.
//! - `run`: the job and the loop tying them together.
//!
//! Memory is bounded: a batch holds a permit from the moment it is read until
//! it is written, and there are `max_in_flight` permits.

mod batch_size;
mod dry_run;
mod in_order;
mod options;
mod reader;
mod run;
mod sink;
mod workers;

pub(crate) use crate::transform::Transformer;
pub use crate::transform::{BatchTransform, TransformError, TransformWorker};
pub use options::PipelineOptions;
pub(crate) use run::{run, Job};
