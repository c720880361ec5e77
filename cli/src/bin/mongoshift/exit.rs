//! Documented exit codes (also in the README and `mongoshift --help`).

use std::process::ExitCode;

use mongoshift::MigrateError;

/// Everything asked for was done.
pub(crate) const OK: u8 = 0;
/// A migration failed, or another error.
pub(crate) const FAILED: u8 = 1;
// 2 is clap's code for a usage error.
/// The migrations on disk disagree with the ledger (checksum, missing file), or
/// `verify` found a difference.
pub(crate) const MISMATCH: u8 = 3;
/// The lock is held by another run (or was lost).
pub(crate) const LOCKED: u8 = 4;
/// The server cannot be reached, refused the credentials, or the URI is invalid.
pub(crate) const CONNECTION: u8 = 5;
/// The migrations directory is invalid (bad manifest, duplicate, unknown kind).
pub(crate) const INVALID: u8 = 6;

pub(crate) const HELP: &str =
    "Exit codes: 0 ok; 1 a migration failed or another error; 2 bad arguments; \
3 checksum mismatch or a migration missing on disk; 4 the lock is held by another run; \
5 cannot connect, authentication failed or invalid URI; 6 invalid migrations directory.";

pub(crate) fn code_for(err: &anyhow::Error) -> ExitCode {
    let code = match err.downcast_ref::<MigrateError>().map(MigrateError::root) {
        Some(
            MigrateError::ChecksumMismatch { .. }
            | MigrateError::ChangedPartWay { .. }
            | MigrateError::ChangedWayBack { .. }
            | MigrateError::MissingOnDisk { .. },
        ) => MISMATCH,
        Some(
            MigrateError::LockHeld { .. }
            | MigrateError::LockAlive { .. }
            | MigrateError::LockLost { .. },
        ) => LOCKED,
        Some(
            MigrateError::Unreachable { .. }
            | MigrateError::Auth { .. }
            | MigrateError::InvalidUri { .. }
            | MigrateError::NoDatabase,
        ) => CONNECTION,
        Some(MigrateError::Source(_)) => INVALID,
        _ if err.downcast_ref::<mongoshift::SourceError>().is_some() => INVALID,
        _ if matches!(
            err.downcast_ref::<mongoshift_cli::build::BuildError>(),
            Some(mongoshift_cli::build::BuildError::Source(_))
        ) =>
        {
            INVALID
        }
        _ => FAILED,
    };
    ExitCode::from(code)
}

pub(crate) fn ok() -> ExitCode {
    ExitCode::from(OK)
}
