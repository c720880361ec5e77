//! [`FixtureError`]: a fixture file or an input file that cannot be read as
//! documents.

use std::path::PathBuf;

/// A fixture file (a migration's `tests/*.json`) or an input file of
/// `mongoshift run` that cannot be used. Every message names the file and
/// the case, line or document at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FixtureError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not JSON, or not the JSON a fixture file holds.
    #[error("invalid fixture file {path}: {message}; see docs/testing.md for the format")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line and column when JSON is at fault.
        message: String,
    },
    /// One case of a fixture file does not fit the format.
    #[error("invalid fixture {path}, case {case}: {message}; see docs/testing.md for the format")]
    Case {
        /// The file.
        path: PathBuf,
        /// The case: its place in the file (from 1) and its name.
        case: String,
        /// What is wrong.
        message: String,
    },
    /// An input file of `mongoshift run` holds something that is not a
    /// document.
    #[error("invalid input file {path}, {at}: {message}")]
    Input {
        /// The file.
        path: PathBuf,
        /// Where: `line 3`, `document 2 of the array`, `document 4 (byte 310)`.
        at: String,
        /// What is wrong.
        message: String,
    },
}
