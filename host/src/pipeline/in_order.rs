//! In-order reassembly: workers finish batches in any order; they are written
//! in the order they were read. A result waits until every earlier batch is
//! written, so the first failing batch in `_id` order is the one reported,
//! and all before it are written.

use std::collections::BTreeMap;

use crate::error::Result;

/// A worker's result `T` for batch number `seq`.
pub(crate) type Finished<T> = (u64, Result<T>);

/// Results waiting for their turn.
pub(crate) struct InOrder<T> {
    pending: BTreeMap<u64, Result<T>>,
    next: u64,
}

impl<T> Default for InOrder<T> {
    fn default() -> Self {
        InOrder {
            pending: BTreeMap::new(),
            next: 0,
        }
    }
}

impl<T> InOrder<T> {
    /// Keeps a finished batch until its turn.
    pub(crate) fn insert(&mut self, (seq, result): Finished<T>) {
        self.pending.insert(seq, result);
    }

    /// The next batch in read order, if it is finished.
    pub(crate) fn pop_next(&mut self) -> Option<Result<T>> {
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
