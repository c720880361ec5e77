//! Committing transformed batches.
//!
//! With transactions (the default where the deployment has them), each batch's
//! writes, the pre-images of the documents it changes, the documents it
//! quarantines and the migration's checkpoint commit in one transaction: after a
//! crash at any point the next run resumes right after the last committed batch,
//! with no document transformed twice and none skipped. Without transactions the
//! checkpoint follows the writes, so a resume may redo the last batch
//! (at-least-once).
//!
//! - `commit`: [`BatchWriter`](commit::BatchWriter): one commit per batch,
//!   attempts again after a transient failure (`retry`: by error code and
//!   label), halves a batch refused as too large (`too_large`), and sets
//!   aside a document whose outputs alone are too large under quarantine.
//! - `apply`: the writes of one commit, in a `scope`; `reread`: documents
//!   changed in flight, transformed again.
//! - `in_place` (in a transaction), `conditional` (without one), `shadow`
//!   (copy-and-swap): where the results go; `diff`: `$set`/`$unset`;
//!   `unchanged`: writes that apply only to a document still as it was
//!   read, and say which did not.
//! - Side collections: `quarantine` and `pre_images`.

mod apply;
mod commit;
mod conditional;
mod diff;
mod in_place;
mod options;
mod outputs;
mod pre_images;
mod quarantine;
mod reply;
mod reread;
mod retry;
mod scope;
mod shadow;
mod too_large;
mod unchanged;

pub use crate::options::{Strategy, TxMode, UpdateForm};
pub(crate) use commit::{BatchWriter, WriterContext};
pub use options::{Cross, Destination, WriteOptions};
pub(crate) use pre_images::batch_records;
pub use quarantine::QUARANTINE_COLLECTION;
pub(crate) use unchanged::unchanged_filter;
