//! `mongoshift.testing`'s native half: a migrations directory's fixtures run
//! with no database, Python migrations through this package's runtime.

use std::path::PathBuf;
use std::sync::Arc;

use mongoshift::fixture::{run_fixtures as run, Summary};
use mongoshift::python::PythonRuntime;
use mongoshift::{MigrateError, MigrationSource};
use pyo3::prelude::*;

use crate::{json, runtime, to_py};

/// Runs the fixtures of every migration in `path` (or only `id`); returns
/// `{"migrations": [...], "summary": {"passed": n, "failed": m}}` as JSON.
/// A bad fixture or a transform that cannot load raises.
#[pyfunction]
#[pyo3(signature = (path, id=None))]
pub(crate) fn run_fixtures(py: Python<'_>, path: String, id: Option<String>) -> PyResult<String> {
    let dir = PathBuf::from(&path);
    let results = py.detach(move || {
        let all = MigrationSource::new(&dir).load_unbuilt()?;
        let chosen: Vec<_> = match &id {
            None => all,
            Some(id) => all.into_iter().filter(|m| &m.id == id).collect(),
        };
        if let (Some(id), true) = (&id, chosen.is_empty()) {
            return Err(MigrateError::UnknownMigration {
                id: id.clone(),
                path: dir,
            });
        }
        // Fixtures need no connection; the URI only reaches Python code
        // that reads it.
        let rt =
            runtime::Runtime::new("mongodb://localhost:27017", "test") as Arc<dyn PythonRuntime>;
        run(&chosen, Some(rt.as_ref()))
    });
    let results = results.map_err(|e| to_py(py, e))?;
    json(&serde_json::json!({
        "migrations": results,
        "summary": Summary::of(&results),
    }))
}
