//! The error a transform other than a Wasm module returns.

/// An error of a [`BatchTransform`](crate::transform::BatchTransform): its
/// message is shown after the migration, the batch and its `_id` range, cut
/// to [`MAX_MESSAGE_BYTES`](crate::text::MAX_MESSAGE_BYTES) with control
/// characters escaped. An [`OutcomeError`](crate::wasm::OutcomeError) with an
/// index names its document.
pub type TransformError = Box<dyn std::error::Error + Send + Sync>;

/// A transform's error followed by the last lines it logged in the batch (a
/// Rust panic's message and place, say).
#[derive(Debug, thiserror::Error)]
#[error("{source}; the transform's last log lines: {logs}")]
pub struct WithLogs {
    /// The error.
    pub source: TransformError,
    /// The lines, as shown: `[level] message` joined with ` | `.
    pub logs: String,
}
