//! What runs on the documents: a Wasm module or another transform.

use std::sync::Arc;

use super::contract::BatchTransform;
use crate::wasm::TransformModule;

/// What runs on the documents: a Wasm module or another [`BatchTransform`].
#[derive(Clone)]
pub(crate) enum Transformer {
    /// A loaded Wasm module: one instance per worker.
    Wasm(TransformModule),
    /// Another transform (a Python function): one of its workers per worker.
    Custom(Arc<dyn BatchTransform>),
}
