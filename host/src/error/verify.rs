//! [`VerifyError`]: `verify --data` cannot check a migration.

use std::path::PathBuf;

/// `verify --data` cannot check a migration: it names the migration and
/// what cannot be checked, and says what would make a check possible.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// No migration by that id on disk or in the ledger.
    #[error("cannot verify the data of {id}: no migration {id} in {path} or in the ledger; `mongoshift status` lists the migrations")]
    Unknown {
        /// The id given.
        id: String,
        /// The migrations directory.
        path: PathBuf,
    },
    /// The migration is not applied, so there is nothing to compare.
    #[error("cannot verify the data of {id}: it is {state}, not applied; only an applied migration's documents can be checked")]
    NotApplied {
        /// The migration.
        id: String,
        /// Its state in the ledger (`pending` when it has no entry).
        state: String,
    },
    /// Nothing the migration kept can tell what its documents should be.
    #[error("cannot verify the data of {id}: {reason}")]
    NothingToCheck {
        /// The migration.
        id: String,
        /// What it lacks, what cannot be checked, and what would allow a
        /// check next time.
        reason: String,
    },
}
