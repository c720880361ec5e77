//! In-order reassembly: workers finish batches in any order; they are written
//! in the order they were read. A result waits until every earlier batch is
//! written, so the first failing batch in `_id` order is the one reported,
//! and all before it are written.

use std::collections::BTreeMap;

use crate::batch::Transformed;
use crate::error::Result;

/// A worker's result for batch number `seq`.
pub(crate) type Finished = (u64, Result<Transformed>);

/// Results waiting for their turn.
#[derive(Default)]
pub(crate) struct InOrder {
    pending: BTreeMap<u64, Result<Transformed>>,
    next: u64,
}

impl InOrder {
    /// Keeps a finished batch until its turn.
    pub(crate) fn insert(&mut self, (seq, result): Finished) {
        self.pending.insert(seq, result);
    }

    /// The next batch in read order, if it is finished.
    pub(crate) fn pop_next(&mut self) -> Option<Result<Transformed>> {
        let r = self.pending.remove(&self.next)?;
        self.next += 1;
        Some(r)
    }

    /// Once the workers are gone: what is left is in order, with a gap only
    /// after an error that stopped the run; that error, if there is one.
    pub(crate) fn into_error(mut self) -> Result<()> {
        match self.pending.pop_first() {
            Some((_, Err(e))) => Err(e),
            _ => Ok(()),
        }
    }
}
