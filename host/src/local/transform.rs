//! One migration's transform run on documents in memory, with no database:
//! what `mongoshift test` and `mongoshift run` call. The documents go
//! through the same worker slot as a batch of `up` (the same instance
//! limits, the same checks of every outcome, the manifest's schema), one
//! document per call so each gets its own outcome or error.

use std::sync::Arc;

use bson::{RawArrayBuf, RawDocument, RawDocumentBuf};

use crate::batch::{Outcome, Output};
use crate::error::{MigrateError, Result};
use crate::manifest::{Body, Lookup, Namespace};
use crate::progress::Direction;
use crate::python::{PythonRuntime, PythonStep, NO_RUNTIME};
use crate::source::Migration;
use crate::transform::{check_declared_output, Retransform, Transformer, WorkerSlot};

use super::module::{compile_schema, load_wasm};

/// What one document came to.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Its outcome, checked as `up` checks it (a replacement equal to the
    /// input is a keep; one that breaks the manifest's schema is a fail).
    pub outcome: Outcome,
    /// What it writes to other collections (contract version 2).
    pub outputs: Vec<Output>,
}

/// A migration's transform in one direction, ready to run documents.
pub struct LocalTransform {
    slot: WorkerSlot,
    lookups: Vec<String>,
    outputs: Vec<Namespace>,
}

impl std::fmt::Debug for LocalTransform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalTransform")
            .field("lookups", &self.lookups)
            .finish_non_exhaustive()
    }
}

/// What a migration offers in one direction.
#[derive(Debug)]
pub enum Opened {
    /// A transform to run documents through.
    Transform(LocalTransform),
    /// None: why (a server-side `update` migration, a module without a
    /// backward transform, a Python file with only bulk steps).
    NoTransform(String),
}

impl LocalTransform {
    /// The transform of `m` in `direction`. A Python migration is read
    /// through `python` (the runtime the Python package registers); without
    /// one it is an error saying how to get one.
    pub fn open(
        m: &Migration,
        direction: Direction,
        python: Option<&dyn PythonRuntime>,
    ) -> Result<Opened> {
        let (module, (lookups, outputs), schema) = match &m.manifest.body {
            Body::Update(_) => {
                return Ok(Opened::NoTransform(
                    "an update migration runs on the server and has no transform".into(),
                ))
            }
            Body::Wasm(spec) => {
                let module = load_wasm(m, spec)?;
                if direction == Direction::Down && !module.info().backward {
                    return Ok(Opened::NoTransform(
                        "its module has no backward transform".into(),
                    ));
                }
                let schema = compile_schema(spec);
                let cross = (spec.lookups.clone(), spec.outputs.clone());
                (Transformer::Wasm(module), cross, schema)
            }
            Body::Python(_) => match python_step(m, direction, python)? {
                Ok((transform, cross)) => (transform, cross, None),
                Err(why) => return Ok(Opened::NoTransform(why)),
            },
        };
        let forward = direction == Direction::Up;
        let lookups = lookups
            .iter()
            .filter(|l| l.on.serves(forward))
            .map(|l| l.as_name.clone())
            .collect();
        Ok(Opened::Transform(LocalTransform {
            slot: WorkerSlot::new(module, &m.id, direction, schema),
            lookups,
            outputs,
        }))
    }

    /// The names (`as`) of the lookups the transform is given, in the
    /// manifest's order.
    pub fn lookups(&self) -> &[String] {
        &self.lookups
    }

    /// Runs a batch of documents in one call, as a run's re-transform does
    /// (`verify --data`; the caller refuses transforms that take lookups).
    /// An error names the migration and the document, as `up`'s would.
    pub(crate) fn run_batch(&mut self, docs: &[RawDocumentBuf]) -> Result<Vec<Outcome>> {
        if docs.is_empty() {
            return Ok(Vec::new());
        }
        self.slot.retransform(0, docs)
    }

    /// Runs one document; `lookups` holds, for any of [`Self::lookups`],
    /// the documents it matched (the others match nothing). An error is
    /// the message `up` would stop with (a trap, a Python exception, an
    /// output the contract refuses or the manifest does not declare).
    pub fn run(
        &mut self,
        doc: &RawDocument,
        lookups: &[(String, Vec<RawDocumentBuf>)],
    ) -> std::result::Result<Decision, String> {
        let mut given = RawDocumentBuf::new();
        for name in &self.lookups {
            let mut arr = RawArrayBuf::new();
            for (_, docs) in lookups.iter().filter(|(n, _)| n == name) {
                for d in docs {
                    arr.push(d.clone());
                }
            }
            given.append(name.clone(), arr);
        }
        let docs = [doc.to_raw_document_buf()];
        let decision = match self.slot.retransform_cross(0, &docs, &[given]) {
            Ok((mut outcomes, mut outputs)) => Decision {
                outcome: outcomes.pop().unwrap_or(Outcome::Keep),
                outputs: outputs.pop().unwrap_or_default(),
            },
            Err(MigrateError::Transform { source, .. }) => return Err(source.to_string()),
            Err(other) => return Err(other.to_string()),
        };
        // The writer's checks, which `up` makes before writing: there is no
        // target database here, so names are compared as written.
        if !matches!(decision.outcome, Outcome::Fail(_)) {
            for o in &decision.outputs {
                check_declared_output(o, &self.outputs, "")?;
            }
        }
        Ok(decision)
    }
}

/// What a transform declares it reads and writes besides its document.
type Cross = (Vec<Lookup>, Vec<Namespace>);

/// The iterative step of a Python migration in `direction`, or why there is
/// none.
fn python_step(
    m: &Migration,
    direction: Direction,
    python: Option<&dyn PythonRuntime>,
) -> Result<std::result::Result<(Transformer, Cross), String>> {
    let Some(rt) = python else {
        return Err(MigrateError::Python {
            migration: m.id.clone(),
            message: format!("no Python runtime; {NO_RUNTIME}"),
        });
    };
    let plan = rt
        .load(m, direction)
        .map_err(|message| MigrateError::Python {
            migration: m.id.clone(),
            message: crate::text::message(message),
        })?;
    let step = plan.steps.into_iter().find_map(|s| match s {
        PythonStep::Iterative {
            transform,
            lookups,
            outputs,
            ..
        } => Some((
            Transformer::Custom(Arc::clone(&transform)),
            (lookups, outputs),
        )),
        PythonStep::Bulk { .. } => None,
    });
    Ok(step.ok_or_else(|| match direction {
        Direction::Up => {
            "its file has no iterative step (bulk steps run against the database)".into()
        }
        Direction::Down => "its file has no backward iterative step".into(),
    }))
}
