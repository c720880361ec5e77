//! The context of one commit: what every write of it needs.

use crate::batch::{Batch, Outcome, Transformed};
use crate::options::TxMode;
use crate::pre_image::BatchRecords;
use crate::target::Target;

use super::options::WriteOptions;

/// What every write of one commit needs: where, for which migration, how,
/// and the batch it writes (instead of the same six parameters on every
/// function).
#[derive(Clone, Copy)]
pub(super) struct Scope<'a> {
    pub(super) target: &'a Target,
    pub(super) collection: &'a str,
    pub(super) migration: &'a str,
    pub(super) opts: &'a WriteOptions,
    pub(super) t: &'a Transformed,
    /// A document of the batch to fail with this outcome instead of its
    /// own, none of its outputs written (one too large for a transaction).
    pub(super) set_aside: Option<(usize, &'a Outcome)>,
    /// The pre-image records of the whole batch as read, when a worker
    /// built them.
    pub(super) records: Option<&'a BatchRecords>,
}

impl<'a> Scope<'a> {
    pub(super) fn batch(&self) -> &'a Batch {
        &self.t.batch
    }

    /// Without transactions: writes are conditional and a resume may redo
    /// the batch.
    pub(super) fn at_least_once(&self) -> bool {
        self.opts.tx == TxMode::None
    }
}
