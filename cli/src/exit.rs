//! Documented exit codes (also in the README and `mongoshift --help`), and
//! the one table from an error to its code. The Python package picks its
//! exception classes by the same table.

use mongoshift::MigrateError;

/// Everything asked for was done.
pub const OK: u8 = 0;
/// A migration failed, or another error.
pub const FAILED: u8 = 1;
/// The arguments are invalid (clap's code for a usage error).
pub const USAGE: u8 = 2;
/// The migrations on disk disagree with the ledger (checksum, missing file),
/// `verify` found a difference, or a migration's signature refused it
/// (unsigned, changed since signed, or signed by a key not trusted).
pub const MISMATCH: u8 = 3;
/// The lock is held by another run (or was lost), or workers of a distributed
/// run hold partitions of the migration.
pub const LOCKED: u8 = 4;
/// The server cannot be reached, refused the credentials, or the URI is invalid.
pub const CONNECTION: u8 = 5;
/// The migrations directory is invalid (bad manifest, duplicate, unknown kind).
pub const INVALID: u8 = 6;
/// `mongoshift test`: a fixture case failed.
pub const TEST_FAILED: u8 = 7;
/// A fixture file (`tests/*.json`) or an input file of `mongoshift run` is
/// invalid.
pub const BAD_FIXTURE: u8 = 8;
/// The operator's policy refuses a migration (before anything runs, or a
/// run that reached a ceiling of documents), or the policy cannot be used
/// (does not parse, unknown kind or operation, inside the migrations
/// directory).
pub const POLICY: u8 = 9;

/// The exit codes, for `--help`.
pub const HELP: &str = "Exit codes: 0 ok; 1 a migration failed or another error; 2 bad arguments; \
3 checksum mismatch, a migration missing on disk, or refused by its signature; 4 the lock is held by another run; \
5 cannot connect, authentication failed or invalid URI; 6 invalid migrations directory; \
7 a test fixture failed; 8 an invalid fixture or input file; \
9 the operator policy refuses a migration, or the policy is invalid.";

/// The exit code of a library error, told by its root cause.
pub fn code_of(err: &MigrateError) -> u8 {
    match err.root() {
        MigrateError::ChecksumMismatch { .. }
        | MigrateError::ChangedPartWay { .. }
        | MigrateError::ChangedWayBack { .. }
        | MigrateError::MissingOnDisk { .. } => MISMATCH,
        MigrateError::LockHeld { .. }
        | MigrateError::LockAlive { .. }
        | MigrateError::LockLost { .. }
        | MigrateError::PartitionsHeld { .. } => LOCKED,
        MigrateError::Unreachable { .. }
        | MigrateError::Auth { .. }
        | MigrateError::InvalidUri { .. }
        | MigrateError::NoDatabase => CONNECTION,
        MigrateError::Source(_) => INVALID,
        MigrateError::MetricsAddr { .. } => USAGE,
        MigrateError::Fixture(_) => BAD_FIXTURE,
        MigrateError::Signing(e) => signing_code(e),
        MigrateError::Policy(_) => POLICY,
        _ => FAILED,
    }
}

/// The exit code of a signing error: a refused migration is a mismatch
/// with what was signed, a bad key a bad argument.
fn signing_code(err: &mongoshift::signing::SigningError) -> u8 {
    if err.is_refusal() {
        MISMATCH
    } else if err.is_bad_key() {
        USAGE
    } else {
        FAILED
    }
}

/// The exit code of any error a command returns.
pub fn code_for(err: &anyhow::Error) -> u8 {
    if let Some(e) = err.downcast_ref::<MigrateError>() {
        return code_of(e);
    }
    if err.downcast_ref::<crate::usage::UsageError>().is_some() {
        return USAGE;
    }
    if let Some(e) = err.downcast_ref::<mongoshift::FleetError>() {
        // A pattern or flag the CLI cannot take is a usage error; what the
        // deployment or the list file holds is found only when running.
        return match e {
            mongoshift::FleetError::List(e) => code_of(e),
            mongoshift::FleetError::BadPattern { .. } | mongoshift::FleetError::Empty => USAGE,
            _ => FAILED,
        };
    }
    if let Some(e) = err.downcast_ref::<mongoshift::signing::SigningError>() {
        return signing_code(e);
    }
    match err.downcast_ref::<crate::build::BuildError>() {
        Some(crate::build::BuildError::Source(_)) => INVALID,
        _ if err.downcast_ref::<mongoshift::SourceError>().is_some() => INVALID,
        _ => FAILED,
    }
}
