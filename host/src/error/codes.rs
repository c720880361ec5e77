//! Telling driver errors apart by the server's error code, the driver's
//! error kind and its labels, never by message text.

/// The server's code for a duplicate key.
pub(crate) const DUPLICATE_KEY: i32 = 11000;

/// The server's code for a write a collection's validator refused.
pub(crate) const DOCUMENT_VALIDATION_FAILURE: i32 = 121;

/// The server's code for a command this user's roles do not allow.
pub(crate) const UNAUTHORIZED: i32 = 13;

/// Whether `e` is a duplicate key (code 11000).
pub(crate) fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    match &*e.kind {
        ErrorKind::Command(c) => c.code == DUPLICATE_KEY,
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == DUPLICATE_KEY,
        ErrorKind::InsertMany(m) => m
            .write_errors
            .iter()
            .flatten()
            .any(|w| w.code == DUPLICATE_KEY),
        ErrorKind::BulkWrite(b) => b.write_errors.values().any(|w| w.code == DUPLICATE_KEY),
        _ => false,
    }
}

/// What a database failure is down to, read from the driver's error: the
/// retry policy decides by this and the driver's labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DbCause {
    /// The server answered with this error code.
    Server {
        /// The server's code (`112`: `WriteConflict`, …).
        code: i32,
    },
    /// The connection: an I/O error, no server selectable, a pool cleared.
    Connection,
    /// Anything else (the driver's own checks, a result that stayed unknown).
    #[default]
    Other,
}

impl DbCause {
    /// The cause of a driver error.
    pub(crate) fn of(e: &mongodb::error::Error) -> DbCause {
        use mongodb::error::{ErrorKind, WriteFailure};
        match &*e.kind {
            ErrorKind::Command(c) => DbCause::Server { code: c.code },
            ErrorKind::Write(WriteFailure::WriteError(w)) => DbCause::Server { code: w.code },
            ErrorKind::Write(WriteFailure::WriteConcernError(w)) => {
                DbCause::Server { code: w.code }
            }
            ErrorKind::Io(_)
            | ErrorKind::ServerSelection { .. }
            | ErrorKind::ConnectionPoolCleared { .. } => DbCause::Connection,
            _ => DbCause::Other,
        }
    }
}
