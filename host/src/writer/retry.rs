//! Which failures of a commit are worth another attempt, and which mean the
//! batch is too large or too slow for one commit: told by the server's error
//! code and the driver's labels and kind, never by message text.

use crate::error::MigrateError;

/// `WriteConflict`, `NotWritablePrimary`, `PrimarySteppedDown`,
/// `InterruptedAtShutdown`, `ShutdownInProgress`: the same commit may pass
/// on the next attempt.
const TRANSIENT_CODES: &[i32] = &[112, 10107, 189, 11600, 91];

/// `TransactionTooLarge`, `TransactionTooLargeForCache` (388),
/// `BSONObjectTooLarge`, `ExceededTimeLimit`, `MaxTimeMSExpired`,
/// `TransactionExceededLifetimeLimitSeconds`: a smaller batch may pass.
const TOO_LARGE_CODES: &[i32] = &[257, 388, 10334, 262, 50, 290];

/// Labels the driver puts on errors a retry may cure.
const TRANSIENT_LABELS: &[&str] = &[
    mongodb::error::TRANSIENT_TRANSACTION_ERROR,
    "RetryableWriteError",
    "RetryableError",
];

/// Whether another attempt at the same commit may succeed: a label that says
/// so, a broken connection, or a code of a passing condition.
pub(super) fn is_transient(e: &MigrateError) -> bool {
    TRANSIENT_LABELS.iter().any(|l| e.has_label(l))
        || e.is_connection()
        || e.code().is_some_and(|c| TRANSIENT_CODES.contains(&c))
}

/// Why a commit is attempted again, in one word for progress and metrics:
/// `write_conflict`, `primary_changed` (a step-down or shutdown),
/// `connection`, or `transient` (the driver's label alone).
pub(super) fn retry_cause(e: &MigrateError) -> &'static str {
    match e.code() {
        Some(112) => "write_conflict",
        Some(10107 | 189 | 11600 | 91) => "primary_changed",
        _ if e.is_connection() => "connection",
        _ => "transient",
    }
}

/// Whether the server refused the commit for its size or its time.
pub(super) fn is_too_large(e: &MigrateError) -> bool {
    e.code().is_some_and(|c| TOO_LARGE_CODES.contains(&c))
}
