//! [`SourceError`]: loading migrations from disk went wrong.

use std::path::PathBuf;

/// Loading migrations from disk went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The migrations directory does not exist or cannot be read.
    #[error("cannot read migrations directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file of a migration cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A manifest is not valid TOML or does not fit the manifest format.
    /// The message names the line, the column and the field.
    #[error("invalid manifest {path}: {message}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong, with line and field.
        message: String,
    },
    /// An entry's name is not a valid migration id.
    #[error("invalid migration name {path}: {reason}")]
    InvalidId {
        /// The entry.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Two entries claim the same id or version.
    #[error("duplicate migration {id}: defined by both {first} and {second}; give one of them a new timestamp prefix")]
    DuplicateId {
        /// The id or version both claim.
        id: String,
        /// The first entry.
        first: PathBuf,
        /// The second entry.
        second: PathBuf,
    },
    /// A `wasm` migration's module file does not exist.
    #[error(
        "the module {path} of migration {id} does not exist; build it with `mongoshift build`"
    )]
    ModuleMissing {
        /// The migration.
        id: String,
        /// The module file.
        path: PathBuf,
    },
    /// The manifest names a kind this version does not know.
    #[error("unknown migration kind `{kind}` in {path} (line {line}); known kinds: {known}")]
    UnknownKind {
        /// The manifest file.
        path: PathBuf,
        /// The kind it names.
        kind: String,
        /// The line of the `kind` field.
        line: usize,
        /// The kinds this version knows.
        known: String,
    },
}
