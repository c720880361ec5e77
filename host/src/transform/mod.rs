//! Transforms: what decides each document's outcome, and the checks every
//! outcome passes before anything is written.
//!
//! - [`BatchTransform`] / [`TransformWorker`]: the contract of a transform
//!   that is not a Wasm module (the Python package implements it).
//! - `Transformer`: a Wasm module or such a transform.
//! - `WorkerSlot`: the one place a worker is made, called and judged: the
//!   pipeline's pool and the writer's re-transforms both use it.
//! - `check_outcomes`: one checker for every source of outcomes and every
//!   path that writes them.

mod checks;
mod contract;
mod retransform;
mod slot;
mod transformer;

pub use crate::error::TransformError;
pub(crate) use checks::check_declared_output;
pub use contract::{BatchTransform, TransformWorker};
pub(crate) use retransform::Retransform;
pub(crate) use slot::WorkerSlot;
pub(crate) use transformer::Transformer;
