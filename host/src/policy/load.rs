//! Where a policy comes from: a file of its own, or the `[policy]` table of
//! the operator's `mongoshift.toml`; never from inside the migrations
//! directory it judges.

use std::path::{Path, PathBuf};

use super::parse::{parse, parse_table};
use super::rules::Policy;
use crate::error::PolicyError;

/// Where to read a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// A policy file (`--policy`, `MONGOSHIFT_POLICY`).
    File(PathBuf),
    /// The `[policy]` table of this configuration file, if it has one.
    Table(PathBuf),
}

impl PolicySource {
    /// Reads the policy for the migrations in `migrations`; `None` when a
    /// configuration file has no `[policy]` table. Refused when the file
    /// lies inside `migrations`.
    pub fn load(&self, migrations: &Path) -> Result<Option<Policy>, PolicyError> {
        let path = match self {
            PolicySource::File(p) | PolicySource::Table(p) => p,
        };
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
            path: path.clone(),
            source,
        })?;
        let policy = match self {
            PolicySource::File(p) => Some(parse(p, &text)?),
            PolicySource::Table(p) => parse_table(p, &text)?,
        };
        if policy.is_some() && inside(path, migrations) {
            return Err(PolicyError::InsideMigrations {
                policy: path.clone(),
                dir: migrations.to_path_buf(),
            });
        }
        Ok(policy)
    }
}

/// Whether `file` lies under `dir`, links resolved.
fn inside(file: &Path, dir: &Path) -> bool {
    match (std::fs::canonicalize(file), std::fs::canonicalize(dir)) {
        (Ok(f), Ok(d)) => f.starts_with(d),
        _ => false,
    }
}
