//! What a migration declares it touches: the collections it reads, writes
//! and deletes in, and the operations it uses. Only what a manifest states
//! can be known before a run; a transform's delete outcomes are counted
//! while it runs (see [`RunLimits`](super::RunLimits)).

use super::rules::Operation;
use crate::manifest::{Body, UpdateStep};
use crate::options::Strategy;
use crate::source::Migration;

/// A collection in a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Ns {
    pub(super) db: String,
    pub(super) collection: String,
}

impl std::fmt::Display for Ns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.db, self.collection)
    }
}

/// What a migration touches, as far as its files say.
#[derive(Debug, Default)]
pub(super) struct Access {
    pub(super) read: Vec<Ns>,
    pub(super) write: Vec<Ns>,
    pub(super) delete: Vec<Ns>,
    /// Collections written besides its own (manifest `outputs`).
    pub(super) outputs: Vec<Ns>,
    pub(super) operations: Vec<Operation>,
}

/// What `m` touches when it runs in database `db` with `strategy` (the one
/// chosen for a Wasm migration); `None` for a Python migration, whose code
/// decides at run time.
pub(super) fn access(m: &Migration, db: &str, strategy: Option<Strategy>) -> Option<Access> {
    let ns = |d: Option<&str>, c: &str| Ns {
        db: d.unwrap_or(db).to_string(),
        collection: c.to_string(),
    };
    let mut a = Access::default();
    match &m.manifest.body {
        Body::Python(_) => return None,
        Body::Wasm(spec) => {
            a.write.push(ns(None, &spec.collection));
            for o in &spec.outputs {
                a.outputs.push(ns(o.db.as_deref(), &o.collection));
            }
            a.write.extend(a.outputs.iter().cloned());
            for l in &spec.lookups {
                a.read.push(ns(l.from.db.as_deref(), &l.from.collection));
            }
            if strategy == Some(Strategy::Rewrite) {
                a.operations.push(Operation::Swap);
            }
        }
        Body::Update(b) => {
            for step in &b.forward {
                let here = ns(None, step.collection());
                let (op, list) = match step {
                    UpdateStep::UpdateMany { .. } => (Operation::UpdateMany, &mut a.write),
                    UpdateStep::DeleteMany { .. } => (Operation::DeleteMany, &mut a.delete),
                    UpdateStep::RenameField { .. } => (Operation::RenameField, &mut a.write),
                    UpdateStep::CreateIndex { .. } => (Operation::CreateIndex, &mut a.write),
                    UpdateStep::DropIndex { .. } => (Operation::DropIndex, &mut a.write),
                };
                list.push(here);
                if !a.operations.contains(&op) {
                    a.operations.push(op);
                }
            }
        }
    }
    Some(a)
}
