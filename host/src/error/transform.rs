//! The error a transform other than a Wasm module returns.

/// An error of a [`BatchTransform`](crate::transform::BatchTransform): its
/// message is shown after the migration, the batch and its `_id` range, cut
/// to [`MAX_MESSAGE_BYTES`](crate::text::MAX_MESSAGE_BYTES) with control
/// characters escaped. An [`OutcomeError`](crate::wasm::OutcomeError) with an
/// index names its document.
pub type TransformError = Box<dyn std::error::Error + Send + Sync>;
