//! The ground floor of a document-by-document run: what flows between its
//! stages.
//!
//! - [`Batch`](documents::Batch): documents as read, end to end, in `_id`
//!   order, with the permit that bounds memory; `Transformed`: a batch and
//!   its outcomes.
//! - [`Outcome`]: what a transform decides for one document, and
//!   [`OutcomeError`] for outcomes that break the contract; [`Output`]: what
//!   it writes to other collections besides (contract version 2).
//! - [`BatchLogs`]: what the transform logged during a batch, gathered in a
//!   bounded [`LogBuffer`].
//! - The `_id` helpers, the only ones: show an `_id` in a message (bounded and
//!   escaped), the key an `_id` is deduplicated by, and `_id` ranges in BSON
//!   order across types (where a stopped run goes on, how far a rollback
//!   goes).
//!
//! Nothing here imports any other module of the crate but [`crate::text`].

mod documents;
mod id;
mod id_order;
mod logs;
mod outcome;
mod output;

pub use documents::EMPTY_LOOKUPS;
pub(crate) use documents::{interleave, Batch, Transformed};
pub(crate) use id::{id_key, raw_id_key, show_id, show_id_of};
pub(crate) use id_order::{after, bounded, compare_ids, within};
pub use logs::{
    dropped_note, BatchLogs, LogBuffer, LogLevel, LogLine, LogStream, MAX_LOG_BYTES, MAX_LOG_LINES,
    MAX_LOG_LINE_BYTES,
};
pub use outcome::{Outcome, OutcomeError};
pub use output::{Output, OutputOp};
