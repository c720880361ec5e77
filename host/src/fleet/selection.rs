//! [`Selection`]: which databases of the deployment a fleet run covers.

use std::path::{Path, PathBuf};

use mongodb::Client;

use super::name;
use crate::error::{FleetError, MigrateError};
use crate::glob;

/// Which databases a fleet covers: those matching `patterns` (or every one
/// with `all`) plus those listed in `from_file`, minus those matching
/// `exclude`. The server's own databases (`admin`, `local`, `config`) are
/// never in a fleet.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Glob patterns (`*`, `?`, `[...]`) over the deployment's databases;
    /// each must match at least one.
    pub patterns: Vec<String>,
    /// Glob patterns of databases left out.
    pub exclude: Vec<String>,
    /// Every database of the deployment.
    pub all: bool,
    /// A file naming databases, one a line (`#` comments and blank lines
    /// ignored). They are taken as given, existing or not: a new tenant's
    /// database is created by its first run.
    pub from_file: Option<PathBuf>,
}

impl Selection {
    /// Whether anything chooses databases (else a run is a single-database one).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty() && !self.all && self.from_file.is_none()
    }

    /// The selected database names, sorted: the stable order of a fleet run.
    pub async fn resolve(&self, client: &Client) -> Result<Vec<String>, FleetError> {
        if self.is_empty() {
            return Err(FleetError::Empty);
        }
        for p in self.patterns.iter().chain(&self.exclude) {
            glob::check(p).map_err(|reason| FleetError::BadPattern {
                pattern: p.clone(),
                reason,
            })?;
        }
        let mut chosen = match &self.from_file {
            Some(path) => read_list(path)?,
            None => Vec::new(),
        };
        if self.all || !self.patterns.is_empty() {
            let mut existing = list(client).await?;
            existing.retain(|d| !name::SYSTEM_DATABASES.contains(&d.as_str()));
            if self.all {
                chosen.extend(existing.iter().cloned());
            }
            for p in &self.patterns {
                let before = chosen.len();
                chosen.extend(existing.iter().filter(|d| glob::matches(p, d)).cloned());
                if chosen.len() == before {
                    return Err(FleetError::NoMatch { pattern: p.clone() });
                }
            }
        }
        chosen.retain(|d| !self.exclude.iter().any(|p| glob::matches(p, d)));
        chosen.sort();
        chosen.dedup();
        Ok(chosen)
    }
}

/// The deployment's database names (`listDatabases`, names only).
async fn list(client: &Client) -> Result<Vec<String>, MigrateError> {
    client
        .list_database_names()
        .await
        .map_err(|e| MigrateError::db("cannot list the databases of the deployment", e))
}

/// The names in a `--databases-from` file, each checked.
fn read_list(path: &Path) -> Result<Vec<String>, FleetError> {
    let text = std::fs::read_to_string(path).map_err(|source| FleetError::File {
        path: path.to_path_buf(),
        source,
    })?;
    let mut names = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let entry = line.trim();
        if entry.is_empty() || entry.starts_with('#') {
            continue;
        }
        name::check(entry).map_err(|reason| FleetError::BadName {
            path: path.to_path_buf(),
            line: i + 1,
            name: entry.to_string(),
            reason,
        })?;
        names.push(entry.to_string());
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::read_list;
    use crate::error::FleetError;

    #[test]
    fn a_list_skips_comments_and_names_the_bad_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tenants.txt");
        std::fs::write(&path, "# tenants\n\ntenant_a\n  tenant_b  \n").expect("write");
        assert_eq!(read_list(&path).expect("list"), ["tenant_a", "tenant_b"]);
        std::fs::write(&path, "tenant_a\n# x\nbad.name\n").expect("write");
        match read_list(&path) {
            Err(FleetError::BadName { line, name, .. }) => {
                assert_eq!((line, name.as_str()), (3, "bad.name"));
            }
            other => panic!("expected a bad name, got {other:?}"),
        }
    }
}
