//! `verify --data`: an applied migration's documents checked against their
//! source of truth, without writing anything and without the lock (a check
//! never holds a run back).
//!
//! - [`Check`] (`report`): which source of truth there is. A rewrite's
//!   backup, transformed again range by range (`against`); the pre-images
//!   of an in-place run, transformed again (`against`); or, for a module
//!   with a backward transform, a round trip of every live document
//!   (`round_trip`).
//! - `compare`: one SHA-256 per `_id` range on each side (raw BSON bytes in
//!   `_id` order), document by document only where they differ.
//! - `since`: the documents the application wrote after the migration, from
//!   the change stream: reported apart, not as errors (the rule is there).
//! - [`DataReport`]: counts, and the first differences with the fields that
//!   differ. [`VerifyOptions`]: how many to list, how many to read at once.
//! - `Subject`: what a check works on, made by
//!   [`Migrator::verify_data`](crate::Migrator::verify_data).

mod against;
mod compare;
mod options;
mod report;
mod round_trip;
mod since;
mod subject;

pub use options::VerifyOptions;
pub use report::{Check, DataReport, DiffKind, Difference, Since};
pub(crate) use since::touched;
pub use subject::Subject;
