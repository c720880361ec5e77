//! `mongoshift.audit()`: the audit trail of a database, as `mongoshift
//! audit --json` prints it.

use mongoshift::{AuditFilter, AuditLog, AuditRow, ConnectOptions, Target};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::{json, runtime, to_py};

/// The records the arguments choose, newest first, as a JSON array.
/// `since`: an RFC 3339 time.
#[pyfunction]
#[pyo3(signature = (uri, db=None, limit=None, migration=None, since=None))]
pub(crate) fn audit(
    py: Python<'_>,
    uri: String,
    db: Option<String>,
    limit: Option<u64>,
    migration: Option<String>,
    since: Option<String>,
) -> PyResult<String> {
    let since = match since {
        Some(s) => Some(bson::DateTime::parse_rfc3339_str(&s).map_err(|_| {
            PyValueError::new_err(format!(
                "since={s:?} is not an RFC 3339 time with its offset (e.g. 2026-01-15T00:00:00Z)"
            ))
        })?),
        None => None,
    };
    let filter = AuditFilter {
        limit,
        migration,
        since,
    };
    let rt = runtime()?;
    let rows = py.detach(move || {
        rt.block_on(async move {
            let mut opts = ConnectOptions::new(uri);
            if let Some(db) = db {
                opts = opts.database(db);
            }
            let target = Target::connect(&opts).await?;
            let res = AuditLog::new(&target).list(&filter).await;
            target.close().await;
            let now = bson::DateTime::now();
            res.map(|records| {
                records
                    .iter()
                    .map(|r| AuditRow::of(r, now))
                    .collect::<Vec<_>>()
            })
        })
    });
    json(&rows.map_err(|e| to_py(py, e))?)
}
