//! Python migrations: `<version>_<name>.py` files.
//!
//! The library does not embed Python. The Python package `mongoshift` (the
//! `python/` folder, a pyo3 extension over this crate) registers a
//! [`PythonRuntime`] on the [`Migrator`](crate::Migrator); the runtime reads a
//! migration file and says what it does in one direction, as [`PythonStep`]s:
//!
//! - an **iterative** step is a [`BatchTransform`] the pipeline runs like a
//!   Wasm module: same batches, transactions, checkpoints, resume, quarantine
//!   and pre-images;
//! - a **bulk** step is a call that gets the database and runs on its own
//!   (server-side updates, Beanie's `free_fall_migration`).
//!
//! An iterative step may declare, like a manifest, the collections it writes
//! besides its own (`outputs`) and the related documents it reads
//! (`lookups`): its transform then takes each document with its lookups
//! document and returns outputs ([`BatchTransform::cross`]), written by the
//! engine in the batch's transaction.
//!
//! Without a runtime, a Python migration fails with a message naming it and
//! saying how to get one; migrations before it apply as usual.

use std::sync::Arc;

use bson::Document;

use crate::manifest::{Lookup, Namespace};
use crate::progress::Direction;
use crate::source::Migration;
use crate::transform::BatchTransform;

/// What a Python migration does in one direction.
#[derive(Clone)]
pub struct PythonPlan {
    /// The steps, in order. Empty: nothing to do in this direction.
    pub steps: Vec<PythonStep>,
    /// Whether the file defines a way back (a `backward`, a Beanie `Backward`
    /// class). Without one, iterative steps keep pre-images for `down`.
    pub reversible: bool,
}

impl std::fmt::Debug for PythonPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PythonPlan")
            .field("steps", &self.steps)
            .field("reversible", &self.reversible)
            .finish()
    }
}

/// One step of a Python migration.
#[derive(Clone)]
pub enum PythonStep {
    /// A function over batches of documents, run by the pipeline.
    Iterative {
        /// For plans and progress.
        description: String,
        /// The collection.
        collection: String,
        /// Which documents.
        filter: Document,
        /// Documents per call.
        batch_size: usize,
        /// Worker threads (each calls the function in turn; 1: no overlap).
        threads: usize,
        /// The collections it may write besides its own (checked like a
        /// manifest's `outputs`).
        outputs: Vec<Namespace>,
        /// The related documents each document is given (checked like a
        /// manifest's `[[lookup]]`s).
        lookups: Vec<Lookup>,
        /// The function.
        transform: Arc<dyn BatchTransform>,
    },
    /// A call given the database; it does its own reads and writes.
    Bulk {
        /// For plans and progress.
        description: String,
        /// The call.
        run: Arc<dyn BulkStep>,
    },
}

impl PythonStep {
    /// What the step does, for people.
    pub fn description(&self) -> &str {
        match self {
            PythonStep::Iterative { description, .. } | PythonStep::Bulk { description, .. } => {
                description
            }
        }
    }
}

impl std::fmt::Debug for PythonStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.description())
    }
}

/// A bulk step: runs to the end, blocking the calling thread.
pub trait BulkStep: Send + Sync {
    /// Runs the step against `database` (of the runtime's connection).
    fn run(&self, database: &str) -> Result<(), String>;
}

/// Reads Python migration files. Registered by the Python package with
/// [`Migrator::python_runtime`](crate::Migrator::python_runtime).
pub trait PythonRuntime: Send + Sync {
    /// Reads `migration` and says what it does in `direction`. The message of
    /// an error is shown after the migration's id (a traceback, say).
    fn load(&self, migration: &Migration, direction: Direction) -> Result<PythonPlan, String>;
}

/// Why a Python migration cannot run when no runtime is registered.
pub const NO_RUNTIME: &str = "Python migrations run through the `mongoshift` Python package: install it in the active virtual environment or for the first `python3` on PATH (`pip install mongoshift`, or `scripts/python-env` in a checkout), or run `python -m mongoshift` instead of `mongoshift`";
