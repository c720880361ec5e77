//! What a run set aside: the entries of
//! [`QUARANTINE_COLLECTION`](crate::writer::QUARANTINE_COLLECTION), read for
//! `mongoshift quarantine list|show|export`. Replaying them through fixed
//! files is the migrator's (`Migrator::replay_quarantine`): it writes with
//! a batch's guarantees.
//!
//! - [`QuarantineEntry`]: one document set aside, its error and original.
//! - [`QuarantineSummary`]: how many each migration set aside, and when.

mod entry;

pub(crate) use entry::{count, forget};
pub use entry::{entries, summaries, QuarantineEntry, QuarantineSummary};
