//! The commands over a fleet of databases (`databases=`, `exclude=`,
//! `all_databases=`, `databases_from=`): one [`Fleet`] over the selected
//! databases, each with its own migrator, ledger, lock and Python runtime,
//! as `mongoshift --databases ...` runs them. A failure stays with its
//! database, in the results; only choosing the databases raises.

use std::path::PathBuf;
use std::sync::Arc;

use mongoshift::fleet::{
    DatabaseOutcome, DatabaseResult, Fleet, FleetEvent, FleetOptions, FleetSink, Selection,
};
use mongoshift::{
    ConnectOptions, DownTarget, FleetError, MigrationSource, Migrator, Report, Target,
};
use pyo3::prelude::*;
use serde::{Deserialize, Serialize};

use crate::requests::{self, DownRequest, UpRequest};
use crate::{json, runtime, to_py, Callback, SelectionError};

/// Which databases, and how a run goes through them: the package's
/// selection keywords as one JSON object.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SelectionRequest {
    #[serde(default)]
    databases: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    all_databases: bool,
    databases_from: Option<PathBuf>,
    concurrency: Option<usize>,
    #[serde(default)]
    fail_fast: bool,
    canary: Option<usize>,
}

impl SelectionRequest {
    fn selection(&self) -> Selection {
        Selection {
            patterns: self.databases.clone(),
            exclude: self.exclude.clone(),
            all: self.all_databases,
            from_file: self.databases_from.clone(),
        }
    }

    fn options(&self) -> FleetOptions {
        FleetOptions {
            concurrency: self.concurrency.map(|n| n.max(1)),
            fail_fast: self.fail_fast,
            canary: self.canary,
        }
    }
}

/// Fleet events, as JSON text, to the same Python callable as a
/// single-database run's.
impl FleetSink for Callback {
    fn fleet_event(&self, event: &FleetEvent) {
        self.send(event);
    }
}

/// What `up` or `down` did in one database, as the package returns it:
/// the report (for a failed database, what was applied before the
/// failure), the ids in it, and the error's message.
#[derive(Serialize)]
struct Run<'a> {
    database: &'a str,
    state: &'static str,
    migrations: Vec<&'a str>,
    report: Option<&'a Report>,
    error: Option<String>,
}

fn runs(outcomes: &[DatabaseOutcome<Report>]) -> Vec<Run<'_>> {
    outcomes
        .iter()
        .map(|o| {
            let report = match &o.result {
                DatabaseResult::Done(r) => Some(r),
                DatabaseResult::Failed(e) => e.report(),
                DatabaseResult::Skipped => None,
            };
            Run {
                database: &o.database,
                state: o.state(),
                migrations: report.map(Report::ids).unwrap_or_default(),
                report,
                error: o.error().map(|e| e.to_string()),
            }
        })
        .collect()
}

/// Choosing the databases failed: the listing's own error keeps its class,
/// the rest is a [`SelectionError`].
fn selection_error(py: Python<'_>, err: FleetError) -> PyErr {
    match err {
        FleetError::List(e) => to_py(py, e),
        other => SelectionError::new_err(other.to_string()),
    }
}

/// Runs one command over the selected databases, without the GIL.
macro_rules! fleet_command {
    ($py:expr, $uri:expr, $path:expr, $selection:expr, $progress:expr, |$f:ident| $body:expr) => {
        fleet_command!($py, $uri, $path, $selection, $progress, None, |$f| $body)
    };
    ($py:expr, $uri:expr, $path:expr, $selection:expr, $progress:expr, $policy:expr, |$f:ident| $body:expr) => {{
        let policy: Option<std::path::PathBuf> = $policy;
        let uri: String = $uri;
        let path: String = $path;
        let request: SelectionRequest = requests::parse("fleet", Some(&$selection))?;
        let progress: Option<Py<PyAny>> = $progress;
        let rt = runtime()?;
        let res = $py.detach(move || {
            rt.block_on(async move {
                let source = MigrationSource::new(&path);
                source.load().map_err(mongoshift::MigrateError::from)?;
                // The databases come from the selection; this one only
                // connects (as the command line does).
                let connect = ConnectOptions::new(uri.clone()).database("admin");
                let target = Target::connect(&connect).await?;
                let closing = target.clone();
                let res = async {
                    let base = requests::with_policy(
                        Migrator::new(&source, target.clone())?,
                        policy.as_deref(),
                        &path,
                    )?;
                    let databases = request.selection().resolve(target.client()).await?;
                    let mut $f = Fleet::new(base, databases)
                        .options(request.options())
                        .prepare(|m: Migrator| {
                            let rt = runtime::Runtime::new(&uri, m.target().db().name());
                            m.python_runtime(rt)
                        });
                    if let Some(cb) = progress {
                        $f = $f.progress(Arc::new(Callback(cb)));
                    }
                    Ok::<_, FleetError>($body)
                }
                .await;
                // Before the runtime stops (see `Target::close`).
                closing.close().await;
                res
            })
        });
        res.map_err(|e| selection_error($py, e))
    }};
}

/// Every database's status and every migration's, as JSON (the command
/// line's `status --json`).
#[pyfunction]
#[pyo3(signature = (uri, path, selection))]
pub(crate) fn fleet_status(
    py: Python<'_>,
    uri: String,
    path: String,
    selection: String,
) -> PyResult<String> {
    let status = fleet_command!(py, uri, path, selection, None, |f| f.status().await)?;
    json(&status)
}

/// Every database's checksums against disk, as JSON.
#[pyfunction]
#[pyo3(signature = (uri, path, selection))]
pub(crate) fn fleet_verify(
    py: Python<'_>,
    uri: String,
    path: String,
    selection: String,
) -> PyResult<String> {
    let outcomes = fleet_command!(py, uri, path, selection, None, |f| f.verify().await)?;
    json(&outcomes)
}

/// Every database's plan of `up` (or, with `down_steps`, `down`), with the
/// concurrency a run would use, as JSON (the command line's `plan --json`).
#[pyfunction]
#[pyo3(signature = (uri, path, selection, options=None, down_steps=None))]
pub(crate) fn fleet_plan(
    py: Python<'_>,
    uri: String,
    path: String,
    selection: String,
    options: Option<String>,
    down_steps: Option<usize>,
) -> PyResult<String> {
    let request: UpRequest = requests::parse("plan", options.as_deref())?;
    let policy = request.policy.clone();
    let plan = fleet_command!(py, uri, path, selection, None, policy, |f| {
        let databases = match down_steps {
            Some(n) => f.plan_down(&DownTarget::Steps(n)).await,
            None => f.plan_up(&request.options()).await,
        };
        serde_json::json!({ "concurrency": f.concurrency(), "databases": databases })
    })?;
    json(&plan)
}

/// Applies pending migrations in every database; returns each database's
/// run as JSON. `options`: those of `up` (see `requests`).
#[pyfunction]
#[pyo3(signature = (uri, path, selection, options=None, on_progress=None))]
pub(crate) fn fleet_up(
    py: Python<'_>,
    uri: String,
    path: String,
    selection: String,
    options: Option<String>,
    on_progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let request: UpRequest = requests::parse("up", options.as_deref())?;
    if request.dry_run {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "mongoshift.up(): dry_run=True runs on one database: pass db= instead of a database selection",
        ));
    }
    let opts = request.options();
    let policy = request.policy.clone();
    let outcomes = fleet_command!(py, uri, path, selection, on_progress, policy, |f| f
        .up(&opts)
        .await)?;
    json(&runs(&outcomes))
}

/// Rolls back in every database; returns each database's run as JSON.
/// `options`: those of `down` (see `requests`).
#[pyfunction]
#[pyo3(signature = (uri, path, selection, options=None, on_progress=None))]
pub(crate) fn fleet_down(
    py: Python<'_>,
    uri: String,
    path: String,
    selection: String,
    options: Option<String>,
    on_progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let request: DownRequest = requests::parse("down", options.as_deref())?;
    let (target, opts) = (request.target(), request.options());
    let outcomes = fleet_command!(py, uri, path, selection, on_progress, |f| f
        .down(&target, &opts)
        .await)?;
    json(&runs(&outcomes))
}
