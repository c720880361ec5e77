//! Transforming documents again, on the writer's side.

use bson::RawDocumentBuf;

use crate::batch::{Outcome, Output};
use crate::error::Result;

/// Transforms documents again, when they changed while their batch was in
/// flight (or a rewrite follows their changes).
pub(crate) trait Retransform: Send {
    /// One outcome per document, checked like the first time. `batch` is the
    /// 0-based number of the batch they belong to, for messages.
    fn retransform(&mut self, batch: u64, docs: &[RawDocumentBuf]) -> Result<Vec<Outcome>>;

    /// The same for a cross-collection transform: each document with its
    /// lookups document; returns each one's outcome and outputs.
    fn retransform_cross(
        &mut self,
        batch: u64,
        docs: &[RawDocumentBuf],
        lookups: &[RawDocumentBuf],
    ) -> Result<(Vec<Outcome>, Vec<Vec<Output>>)> {
        let _ = lookups;
        Ok((self.retransform(batch, docs)?, Vec::new()))
    }
}
