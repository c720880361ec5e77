//! What a transform decides for each document, the one vocabulary shared by
//! every transform (a Wasm module, a Python function) and every writer, and
//! the error of outcomes that break the contract.

/// What the transform decided for one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Leave it.
    Keep,
    /// Replace it with these BSON bytes.
    Replace(Vec<u8>),
    /// Delete it.
    Delete,
    /// It cannot be transformed: the transform's message, cut to
    /// [`MAX_MESSAGE_BYTES`](crate::text::MAX_MESSAGE_BYTES) with its control
    /// characters escaped.
    Fail(String),
}

/// Outcomes that break the contract. `index` is the place in the batch of the
/// document whose outcome is wrong, when there is one: the pipeline shows that
/// document's `_id`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct OutcomeError {
    /// The document's place in its batch (0-based), when one outcome is at fault.
    pub index: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl OutcomeError {
    pub(crate) fn at(index: usize, message: String) -> OutcomeError {
        OutcomeError {
            index: Some(index),
            message,
        }
    }
}
