//! [`FleetError`]: choosing the databases of a fleet went wrong.

use std::path::PathBuf;

use super::migrate::MigrateError;

/// Choosing the databases of a fleet went wrong. A failure inside one
/// database of a fleet run is not one of these: it is that database's
/// outcome, and the run goes on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// A pattern matched no database of the deployment.
    #[error("no database matches `{pattern}`; run `mongoshift status --all-databases` to see the databases there are, or fix the pattern (a database that does not exist yet goes in a --databases-from file)")]
    NoMatch {
        /// The pattern.
        pattern: String,
    },
    /// A pattern is not a valid glob.
    #[error("invalid database pattern `{pattern}`: {reason}")]
    BadPattern {
        /// The pattern.
        pattern: String,
        /// What is wrong.
        reason: String,
    },
    /// A line of a `--databases-from` file is not a valid database name.
    #[error("invalid database name `{name}` on line {line} of {path}: {reason}; fix or remove that line")]
    BadName {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The name as written.
        name: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// The `--databases-from` file cannot be read.
    #[error("cannot read the database list {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Nothing chose any database.
    #[error(
        "no databases selected: pass --databases PATTERN, --all-databases or --databases-from FILE"
    )]
    Empty,
    /// The databases could not be listed.
    #[error(transparent)]
    List(#[from] MigrateError),
}
