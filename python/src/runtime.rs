//! The [`PythonRuntime`] this package registers: Python migration files are
//! read by `mongoshift._runtime.load`, and their functions are called from the
//! engine's worker threads, holding the GIL only for the call.

use std::sync::Arc;

use mongoshift::batch::{BatchLogs, LogBuffer, LogLevel, Output};
use mongoshift::pipeline::{BatchTransform, TransformError, TransformWorker};
use mongoshift::python::{BulkStep, PythonPlan, PythonRuntime, PythonStep};
use mongoshift::wasm::{Outcome, OutcomeError};
use mongoshift::{Direction, Migration};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyList, PyString};

/// Reads migration files with `mongoshift._runtime.load`.
pub(crate) struct Runtime {
    /// The connection string Python code connects with (bulk steps, Beanie).
    uri: String,
    /// The target database.
    database: String,
}

impl Runtime {
    pub(crate) fn new(uri: &str, database: &str) -> Arc<Runtime> {
        Arc::new(Runtime {
            uri: uri.into(),
            database: database.into(),
        })
    }
}

fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::Up => "up",
        Direction::Down => "down",
    }
}

/// The message of a Python exception with its traceback.
pub(crate) fn traceback(py: Python<'_>, err: &PyErr) -> String {
    let formatted = py.import("traceback").and_then(|tb| {
        tb.call_method1("format_exception", (err.value(py),))?
            .extract::<Vec<String>>()
    });
    match formatted {
        Ok(lines) => lines.concat().trim_end().to_string(),
        Err(_) => err.to_string(),
    }
}

impl PythonRuntime for Runtime {
    fn load(&self, m: &Migration, direction: Direction) -> Result<PythonPlan, String> {
        Python::attach(|py| {
            let res: PyResult<PythonPlan> = (|| {
                let plan = py.import("mongoshift._runtime")?.call_method1(
                    "load",
                    (
                        m.path.to_string_lossy().to_string(),
                        &m.id,
                        direction_name(direction),
                        &self.uri,
                        &self.database,
                    ),
                )?;
                let plan = plan.cast::<PyDict>()?;
                let reversible: bool = item(plan, "reversible")?.extract()?;
                let mut steps = Vec::new();
                for s in item(plan, "steps")?.cast::<PyList>()?.iter() {
                    let s = s.cast::<PyDict>()?;
                    let kind: String = item(s, "kind")?.extract()?;
                    let description: String = item(s, "description")?.extract()?;
                    if kind == "bulk" {
                        steps.push(PythonStep::Bulk {
                            description,
                            run: Arc::new(Bulk {
                                call: item(s, "run")?.unbind(),
                            }),
                        });
                        continue;
                    }
                    let filter_bytes = item(s, "filter")?;
                    let filter =
                        bson::Document::from_reader(filter_bytes.cast::<PyBytes>()?.as_bytes())
                            .map_err(|e| {
                                pyo3::exceptions::PyValueError::new_err(format!("bad filter: {e}"))
                            })?;
                    let collection: String = item(s, "collection")?.extract()?;
                    let path = m.path.display().to_string();
                    let (outputs, lookups) = crate::cross::declared(s, &collection, &path)?;
                    let cross = !outputs.is_empty() || !lookups.is_empty();
                    steps.push(PythonStep::Iterative {
                        description,
                        collection,
                        filter,
                        batch_size: item(s, "batch_size")?.extract()?,
                        threads: item(s, "threads")?.extract()?,
                        outputs,
                        lookups,
                        transform: Arc::new(Transform {
                            factory: item(s, "worker")?.unbind(),
                            cross,
                        }),
                    });
                }
                Ok(PythonPlan { steps, reversible })
            })();
            res.map_err(|e| failure(py, &e))
        })
    }
}

/// Why a file cannot be loaded: a bad declaration by its message alone (it
/// names the file and the field), anything else with its traceback.
fn failure(py: Python<'_>, err: &PyErr) -> String {
    let declaration = py
        .import("mongoshift._runtime")
        .and_then(|m| m.getattr("DeclarationError"))
        .is_ok_and(|cls| err.value(py).is_instance(&cls).unwrap_or(false));
    if declaration {
        err.value(py).to_string()
    } else {
        traceback(py, err)
    }
}

pub(crate) fn item<'py>(d: &Bound<'py, PyDict>, key: &str) -> PyResult<Bound<'py, PyAny>> {
    d.get_item(key)?
        .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(key.to_string()))
}

/// An iterative step: `factory()` gives each worker thread its own callable.
struct Transform {
    factory: Py<PyAny>,
    /// Its class declares outputs or lookups: its workers take each
    /// document with its lookups document and return outputs.
    cross: bool,
}

impl BatchTransform for Transform {
    fn worker(&self) -> Result<Box<dyn TransformWorker>, TransformError> {
        Python::attach(|py| match self.factory.call0(py) {
            Ok(f) => Ok(Box::new(Worker { call: f }) as Box<dyn TransformWorker>),
            Err(e) => Err(traceback(py, &e).into()),
        })
    }

    fn cross(&self) -> bool {
        self.cross
    }
}

/// One worker's callable: `call(direction, batch_bytes, count)` returns one
/// item per document: `None` keep, `bytes` replace, `False` delete, `str` fail;
/// or, when every document is replaced or deleted, the batch's packed
/// outcomes (`bytes`, see [`crate::packed`]).
/// A cross-collection step's worker takes each document followed by its
/// lookups document and returns `(items, outputs)` (see [`crate::cross::outputs`]).
struct Worker {
    call: Py<PyAny>,
}

impl Worker {
    fn call<'py>(
        &self,
        py: Python<'py>,
        direction: Direction,
        batch: &[u8],
        count: usize,
    ) -> Result<Bound<'py, PyAny>, TransformError> {
        self.call
            .bind(py)
            .call1((direction_name(direction), PyBytes::new(py, batch), count))
            .map_err(|e| -> TransformError { traceback(py, &e).into() })
    }
}

impl TransformWorker for Worker {
    fn transform(
        &mut self,
        direction: Direction,
        batch: &[u8],
        count: usize,
    ) -> Result<Vec<Outcome>, TransformError> {
        Python::attach(|py| outcomes(&self.call(py, direction, batch, count)?))
    }

    fn transform_cross(
        &mut self,
        direction: Direction,
        batch: &[u8],
        count: usize,
    ) -> Result<(Vec<Outcome>, Vec<Vec<Output>>), TransformError> {
        Python::attach(|py| {
            let out = self.call(py, direction, batch, count)?;
            let (items, outputs): (Bound<'_, PyAny>, Bound<'_, PyAny>) = out
                .extract()
                .map_err(|e: PyErr| -> TransformError { e.to_string().into() })?;
            Ok((outcomes(&items)?, crate::cross::outputs(&outputs, count)?))
        })
    }

    /// The `logging` records of the last call (`mongoshift._logs`), when
    /// the worker gathers them.
    fn take_logs(&mut self) -> BatchLogs {
        Python::attach(|py| {
            let taken = self
                .call
                .bind(py)
                .call_method0("take_logs")
                .and_then(|t| t.extract::<(Vec<(Option<usize>, i32, String)>, u64)>());
            let Ok((lines, dropped)) = taken else {
                return BatchLogs::default();
            };
            let mut log = LogBuffer::default();
            for (index, level, message) in lines {
                if let Some(i) = index {
                    log.set_document(i);
                }
                log.push(LogLevel::from_number(level), message.as_bytes());
            }
            let mut logs = log.take();
            logs.dropped += dropped;
            logs
        })
    }
}

/// A worker's list of items, or its packed outcomes ([`crate::packed`]), as
/// outcomes. The engine checks the count, and every replacement (a copy of
/// its input is a keep).
fn outcomes(out: &Bound<'_, PyAny>) -> Result<Vec<Outcome>, TransformError> {
    if let Ok(packed) = out.cast::<PyBytes>() {
        // Taken apart without the GIL: another worker's function runs meanwhile.
        let bytes = packed.as_bytes();
        return out.py().detach(|| crate::packed::unpack(bytes));
    }
    let out = out
        .cast::<PyList>()
        .map_err(|e| -> TransformError { e.to_string().into() })?;
    out.iter()
        .enumerate()
        .map(|(i, o)| outcome(i, &o))
        .collect()
}

/// One item of a worker's list; anything but the four kinds is refused, so
/// a slip in the runtime can never read as a deletion.
fn outcome(i: usize, o: &Bound<'_, PyAny>) -> Result<Outcome, TransformError> {
    if o.is_none() {
        Ok(Outcome::Keep)
    } else if let Ok(b) = o.cast::<PyBytes>() {
        Ok(Outcome::Replace(b.as_bytes().to_vec()))
    } else if let Ok(s) = o.cast::<PyString>() {
        Ok(Outcome::Fail(s.to_string_lossy().into_owned()))
    } else if o.cast::<PyBool>().is_ok_and(|b| !b.is_true()) {
        Ok(Outcome::Delete)
    } else {
        let kind = o
            .get_type()
            .name()
            .map_or_else(|_| "an object".to_string(), |n| n.to_string());
        Err(Box::new(OutcomeError {
            index: Some(i),
            message: format!(
                "the Python worker returned {kind} for it; an outcome is None (keep), bytes (replace), False (delete) or str (fail)"
            ),
        }))
    }
}

/// A bulk step: `call(database)`.
struct Bulk {
    call: Py<PyAny>,
}

impl BulkStep for Bulk {
    fn run(&self, database: &str) -> Result<(), String> {
        Python::attach(|py| {
            self.call
                .call1(py, (database,))
                .map(drop)
                .map_err(|e| traceback(py, &e))
        })
    }
}
