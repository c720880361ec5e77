//! What running one migration in one direction takes.

use std::sync::Arc;

use crate::ledger::LedgerEntry;
use crate::lock::Lease;
use crate::manifest::{Body, UpdateStep, WasmSpec};
use crate::progress::Direction;
use crate::python::PythonPlan;
use crate::source::Migration;

/// What a migration does in one direction.
#[derive(Debug, Clone)]
pub(super) enum Work {
    Steps(Vec<UpdateStep>),
    Wasm(Box<WasmSpec>),
    /// A Python file's steps; `None` until the runtime has read the file.
    Python(Option<Arc<PythonPlan>>),
    /// Put back the pre-images kept by the forward run.
    Restore {
        collection: String,
        backup: String,
    },
    /// Undo a rewrite: drop an unfinished one, or go back from a finished
    /// one by the backward transform (in place) or to the originals it kept.
    SwapBack {
        state: Box<crate::ledger::RewriteState>,
        /// The migration's spec when its module has a backward transform.
        backward: Option<Box<WasmSpec>>,
    },
}

impl Work {
    pub(super) fn forward(m: &Migration) -> Work {
        match &m.manifest.body {
            Body::Update(b) => Work::Steps(b.forward.clone()),
            Body::Wasm(spec) => Work::Wasm(spec.clone()),
            Body::Python(_) => Work::Python(None),
        }
    }

    /// What a forward run that cannot be a rewrite is (it has no swap to
    /// postpone), or `None` for a Wasm module, whose strategy decides.
    pub(super) fn in_place_kind(&self) -> Option<&'static str> {
        match self {
            Work::Steps(_) => Some("an update migration runs on the server, in place"),
            Work::Python(_) => Some("a Python migration runs in place"),
            Work::Wasm(_) | Work::Restore { .. } | Work::SwapBack { .. } => None,
        }
    }

    pub(super) fn steps(&self) -> usize {
        match self {
            Work::Steps(s) => s.len(),
            Work::Python(Some(p)) => p.steps.len(),
            Work::Wasm(_) | Work::Restore { .. } | Work::SwapBack { .. } | Work::Python(None) => 1,
        }
    }
}

/// One migration run in one direction: what every step of it needs.
#[derive(Clone, Copy)]
pub(super) struct One<'a> {
    /// The run's lease (its fencing token goes with every ledger write).
    pub(super) lease: &'a Lease,
    pub(super) m: &'a Migration,
    pub(super) direction: Direction,
    pub(super) work: &'a Work,
    /// The migration's ledger entry before this run, if any.
    pub(super) previous: Option<&'a LedgerEntry>,
}
