//! The contract of a transform other than a Wasm module (a Python function,
//! say): the pipeline asks it for one worker per thread.

use crate::batch::{BatchLogs, Outcome, Output};
use crate::error::TransformError;
use crate::progress::Direction;

/// A batch transform other than a Wasm module (a Python function, say). The
/// pipeline asks it for one [`TransformWorker`] per worker thread.
pub trait BatchTransform: Send + Sync {
    /// A new worker, used by one thread for every batch it takes.
    fn worker(&self) -> std::result::Result<Box<dyn TransformWorker>, TransformError>;

    /// Whether its workers take each document with its lookups document and
    /// return outputs ([`TransformWorker::transform_cross`]), as a
    /// contract-version-2 module does.
    fn cross(&self) -> bool {
        false
    }
}

/// One worker of a [`BatchTransform`].
pub trait TransformWorker: Send {
    /// Transforms `count` concatenated BSON documents and returns one outcome
    /// per document. After an error the worker is dropped and a new one made.
    fn transform(
        &mut self,
        direction: Direction,
        batch: &[u8],
        count: usize,
    ) -> std::result::Result<Vec<Outcome>, TransformError>;

    /// For a [`BatchTransform::cross`] transform: `batch` holds each of the
    /// `count` documents followed by its lookups document (the layout of
    /// contract version 2); returns each document's outcome and outputs.
    fn transform_cross(
        &mut self,
        direction: Direction,
        batch: &[u8],
        count: usize,
    ) -> std::result::Result<(Vec<Outcome>, Vec<Vec<Output>>), TransformError> {
        Ok((self.transform(direction, batch, count)?, Vec::new()))
    }

    /// What the transform logged during the last call (success or error),
    /// bounded like a Wasm guest's log; the next call starts a new one.
    fn take_logs(&mut self) -> BatchLogs {
        BatchLogs::default()
    }
}
