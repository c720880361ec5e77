//! `mongoshift._native`: the private extension module of the Python package
//! `mongoshift`. A thin layer over the `mongoshift` crate: the commands
//! (`status`, `plan`, `up`, `down`, `verify`, the whole CLI), progress events
//! to a Python callback, the same commands over a fleet of databases
//! ([`fleet`]), and the runtime that runs Python migrations ([`runtime`]). The GIL is released while the engine works and taken back
//! only to call Python.

use std::sync::Arc;

use mongoshift::metrics::{Metrics, MetricsServer};
use mongoshift::python::PythonRuntime;
use mongoshift::{
    ConnectOptions, DownTarget, Event, Invocation, MigrateError, MigrationSource, Migrator,
    ProgressSink, Target,
};
use mongoshift_cli::{exit, PythonHook};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

mod audit;
mod cross;
mod fleet;
mod packed;
mod requests;
mod runtime;
mod testing;

create_exception!(
    _native,
    MigrationError,
    PyException,
    "A migration command failed."
);
create_exception!(
    _native,
    LockError,
    MigrationError,
    "Another run holds the migration lock, or this run lost it."
);
create_exception!(
    _native,
    ChecksumMismatch,
    MigrationError,
    "An applied migration's file changed, or is missing on disk."
);
create_exception!(
    _native,
    SourceError,
    MigrationError,
    "The migrations directory holds something invalid."
);
create_exception!(
    _native,
    ConnectError,
    MigrationError,
    "The server cannot be reached, or the URI is invalid."
);
create_exception!(
    _native,
    TransformError,
    MigrationError,
    "A transform failed on a batch, or a Python migration failed."
);
create_exception!(
    _native,
    PolicyError,
    MigrationError,
    "The operator's policy refuses a migration, or cannot be used."
);
create_exception!(
    _native,
    SelectionError,
    MigrationError,
    "A database selection chose nothing, or cannot be read."
);

fn to_py(py: Python<'_>, err: MigrateError) -> PyErr {
    let applied: Vec<String> = match &err {
        MigrateError::Run { report, .. } => report.ids().iter().map(|s| s.to_string()).collect(),
        _ => Vec::new(),
    };
    let msg = err.to_string();
    // The classes follow the command line's exit codes; a failed transform
    // is told apart among the rest.
    let e = match exit::code_of(&err) {
        exit::LOCKED => LockError::new_err(msg),
        exit::MISMATCH => ChecksumMismatch::new_err(msg),
        exit::INVALID | exit::BAD_FIXTURE => SourceError::new_err(msg),
        exit::CONNECTION => ConnectError::new_err(msg),
        exit::POLICY => PolicyError::new_err(msg),
        _ => match err.root() {
            MigrateError::Transform { .. }
            | MigrateError::DocumentFailed { .. }
            | MigrateError::Python { .. } => TransformError::new_err(msg),
            _ => MigrationError::new_err(msg),
        },
    };
    let _ = e.value(py).setattr("applied", applied);
    e
}

/// Progress events as JSON text to a Python callable.
struct Callback(Py<PyAny>);

impl Callback {
    /// Calls the callable with `event` as JSON text.
    fn send<E: serde::Serialize>(&self, event: &E) {
        let Ok(json) = serde_json::to_string(event) else {
            return;
        };
        Python::attach(|py| {
            // A failing callback must not stop the run: Python prints it.
            if let Err(e) = self.0.call1(py, (json,)) {
                e.write_unraisable(py, None);
            }
        });
    }
}

impl ProgressSink for Callback {
    fn event(&self, event: &Event) {
        self.send(event);
    }
}

fn runtime() -> PyResult<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| MigrationError::new_err(format!("cannot start the async runtime: {e}")))
}

/// Runs one command with a connected migrator, without the GIL.
macro_rules! command {
    ($py:expr, $uri:expr, $path:expr, $db:expr, $progress:expr, |$m:ident| $body:expr) => {{
        let uri: String = $uri;
        let path: String = $path;
        let db: Option<String> = $db;
        let progress: Option<Py<PyAny>> = $progress;
        let rt = runtime()?;
        let res = $py.detach(move || {
            rt.block_on(async move {
                let source = MigrationSource::new(&path);
                source.load()?;
                let mut opts = ConnectOptions::new(uri.clone());
                if let Some(db) = db {
                    opts = opts.database(db);
                }
                let target = Target::connect(&opts).await?;
                let closing = target.clone();
                let res = async {
                    let rt = runtime::Runtime::new(&uri, target.db().name());
                    let mut $m = Migrator::new(&source, target)?.python_runtime(rt);
                    if let Some(cb) = progress {
                        $m = $m.progress(Arc::new(Callback(cb)));
                    }
                    $body
                }
                .await;
                // Before the runtime stops (see `Target::close`).
                closing.close().await;
                res
            })
        });
        res.map_err(|e| to_py($py, e))
    }};
}

fn json<T: serde::Serialize>(v: &T) -> PyResult<String> {
    serde_json::to_string(v).map_err(|e| MigrationError::new_err(e.to_string()))
}

/// Every migration and where it stands, as JSON.
#[pyfunction]
#[pyo3(signature = (uri, path, db=None))]
fn status(py: Python<'_>, uri: String, path: String, db: Option<String>) -> PyResult<String> {
    let rows = command!(py, uri, path, db, None, |m| m.status().await)?;
    json(&rows)
}

/// Checksums of applied migrations against disk, as JSON.
#[pyfunction]
#[pyo3(signature = (uri, path, db=None))]
fn verify(py: Python<'_>, uri: String, path: String, db: Option<String>) -> PyResult<String> {
    let rows = command!(py, uri, path, db, None, |m| m.verify().await)?;
    json(&rows)
}

/// What `up` (or, with `down_steps`, `down`) would do, as JSON. `options`:
/// those of `up`, as a JSON object (see `requests`).
#[pyfunction]
#[pyo3(signature = (uri, path, db=None, options=None, down_steps=None))]
fn plan(
    py: Python<'_>,
    uri: String,
    path: String,
    db: Option<String>,
    options: Option<String>,
    down_steps: Option<usize>,
) -> PyResult<String> {
    let request: requests::UpRequest = requests::parse("plan", options.as_deref())?;
    let dir = path.clone();
    let plan = command!(py, uri, path, db, None, |m| {
        let m = requests::with_policy(m, request.policy.as_deref(), &dir)?;
        match down_steps {
            Some(n) => m.plan_down(&DownTarget::Steps(n)).await,
            None => m.plan_up(&request.options()).await,
        }
    })?;
    json(&plan)
}

/// Applies pending migrations (with `dry_run`, reports what would change);
/// returns the report as JSON. `options`: a JSON object (see `requests`).
#[pyfunction]
#[pyo3(signature = (uri, path, db=None, options=None, on_progress=None))]
fn up(
    py: Python<'_>,
    uri: String,
    path: String,
    db: Option<String>,
    options: Option<String>,
    on_progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let request: requests::UpRequest = requests::parse("up", options.as_deref())?;
    let opts = request.options();
    // Listening comes first: an address in use stops the run before it
    // takes the lock.
    let metrics = match &request.metrics_addr {
        Some(addr) => {
            let metrics = Arc::new(Metrics::new(""));
            let server = MetricsServer::start(addr, metrics.clone()).map_err(|e| to_py(py, e))?;
            Some((metrics, server))
        }
        None => None,
    };
    let sink = metrics
        .as_ref()
        .map(|(m, _)| m.clone() as mongoshift::Progress);
    let (dir, policy) = (path.clone(), request.policy.clone());
    if request.dry_run {
        let sample = request.sample;
        let report = command!(py, uri, path, db, on_progress, |m| {
            let m = requests::with_policy(m, policy.as_deref(), &dir)?;
            m.dry_run(&opts, sample).await
        })?;
        return json(&report);
    }
    let report = command!(py, uri, path, db, on_progress, |m| {
        let m = m.invoked_as(Invocation::api("mongoshift.up()"));
        let m = requests::with_policy(m, policy.as_deref(), &dir)?;
        match sink {
            Some(sink) => m.also_progress(sink).up(&opts).await,
            None => m.up(&opts).await,
        }
    })?;
    drop(metrics);
    json(&report)
}

/// Rolls back the last `steps` migrations (one by default), or every one
/// after `to`; returns the report as JSON. `options`: a JSON object (see
/// `requests`).
#[pyfunction]
#[pyo3(signature = (uri, path, db=None, options=None, on_progress=None))]
fn down(
    py: Python<'_>,
    uri: String,
    path: String,
    db: Option<String>,
    options: Option<String>,
    on_progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let request: requests::DownRequest = requests::parse("down", options.as_deref())?;
    let (target, opts) = (request.target(), request.options());
    let report = command!(py, uri, path, db, on_progress, |m| m
        .invoked_as(Invocation::api("mongoshift.down()"))
        .down_with(&target, &opts)
        .await)?;
    json(&report)
}

/// The `mongoshift` command line (`python -m mongoshift`); returns the exit code.
#[pyfunction]
fn main(py: Python<'_>, argv: Vec<String>) -> PyResult<u8> {
    // Python migrations run in this process, with this package's runtime.
    let hook = PythonHook::InProcess(Box::new(|uri: &str, database: &str| {
        runtime::Runtime::new(uri, database) as Arc<dyn PythonRuntime>
    }));
    Ok(py.detach(move || mongoshift_cli::main_from(argv, &hook)))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_function(wrap_pyfunction!(status, m)?)?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(plan, m)?)?;
    m.add_function(wrap_pyfunction!(up, m)?)?;
    m.add_function(wrap_pyfunction!(down, m)?)?;
    m.add_function(wrap_pyfunction!(main, m)?)?;
    m.add_function(wrap_pyfunction!(audit::audit, m)?)?;
    m.add_function(wrap_pyfunction!(testing::run_fixtures, m)?)?;
    m.add_function(wrap_pyfunction!(fleet::fleet_status, m)?)?;
    m.add_function(wrap_pyfunction!(fleet::fleet_verify, m)?)?;
    m.add_function(wrap_pyfunction!(fleet::fleet_plan, m)?)?;
    m.add_function(wrap_pyfunction!(fleet::fleet_up, m)?)?;
    m.add_function(wrap_pyfunction!(fleet::fleet_down, m)?)?;
    m.add("MigrationError", py.get_type::<MigrationError>())?;
    m.add("LockError", py.get_type::<LockError>())?;
    m.add("ChecksumMismatch", py.get_type::<ChecksumMismatch>())?;
    m.add("SourceError", py.get_type::<SourceError>())?;
    m.add("ConnectError", py.get_type::<ConnectError>())?;
    m.add("TransformError", py.get_type::<TransformError>())?;
    m.add("SelectionError", py.get_type::<SelectionError>())?;
    m.add("PolicyError", py.get_type::<PolicyError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
