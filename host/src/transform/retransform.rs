//! Transforming documents again, on the writer's side.

use bson::RawDocumentBuf;

use crate::batch::Outcome;
use crate::error::Result;

/// Transforms documents again, when they changed while their batch was in
/// flight (or a rewrite follows their changes).
pub(crate) trait Retransform: Send {
    /// One outcome per document, checked like the first time. `batch` is the
    /// 0-based number of the batch they belong to, for messages.
    fn retransform(&mut self, batch: u64, docs: &[RawDocumentBuf]) -> Result<Vec<Outcome>>;
}
