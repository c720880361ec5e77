//! What a [`MigrateError`] says about itself (its root cause, the server's
//! code and labels, whether the connection is to blame), and wrapping a
//! driver error with what was being done.

use super::codes::DbCause;
use super::migrate::MigrateError;
use crate::report::Report;

impl MigrateError {
    /// The report of what a failed run applied before failing, if this error
    /// comes from a run.
    pub fn report(&self) -> Option<&Report> {
        match self {
            MigrateError::Run { report, .. } => Some(report),
            _ => None,
        }
    }

    /// The innermost cause, looking through [`MigrateError::Run`] and
    /// [`MigrateError::Unrecorded`].
    pub fn root(&self) -> &MigrateError {
        match self {
            MigrateError::Run { source, .. } | MigrateError::Unrecorded { source, .. } => {
                source.root()
            }
            other => other,
        }
    }

    /// Whether the driver marked this error with `label`.
    pub fn has_label(&self, label: &str) -> bool {
        match self.root() {
            MigrateError::Database { labels, .. } => labels.iter().any(|l| l == label),
            _ => false,
        }
    }

    /// The server's error code behind this error, if the server refused
    /// something (looking through [`MigrateError::Run`] and
    /// [`MigrateError::Unrecorded`]).
    pub fn code(&self) -> Option<i32> {
        match self.root() {
            MigrateError::Database {
                cause: DbCause::Server { code },
                ..
            } => Some(*code),
            MigrateError::WriteRejected { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The migration the innermost cause names, if it names one (a
    /// refusal before a run: a checksum mismatch, a file missing, a
    /// migration that cannot be rolled back or controlled).
    pub fn migration(&self) -> Option<&str> {
        match self.root() {
            MigrateError::ChecksumMismatch { id, .. }
            | MigrateError::ChangedPartWay { id, .. }
            | MigrateError::ChangedWayBack { id, .. }
            | MigrateError::MissingOnDisk { id, .. }
            | MigrateError::Dirty { id, .. }
            | MigrateError::PartitionsHeld { id, .. }
            | MigrateError::DistributedUnfinished { id, .. }
            | MigrateError::NotDistributable { id, .. }
            | MigrateError::UnknownMigration { id, .. }
            | MigrateError::Control { id, .. }
            | MigrateError::Irreversible { id, .. } => Some(id),
            _ => None,
        }
    }

    /// Whether this error is the connection's (the server may be fine).
    pub fn is_connection(&self) -> bool {
        matches!(
            self.root(),
            MigrateError::Database {
                cause: DbCause::Connection,
                ..
            }
        )
    }

    /// Wraps a driver error with what was being done.
    pub(crate) fn db(context: impl Into<String>, err: mongodb::error::Error) -> Self {
        use mongodb::error::{ErrorKind, WriteFailure};
        let message = match &*err.kind {
            ErrorKind::Command(c) => format!("{} ({}): {}", c.code_name, c.code, c.message),
            ErrorKind::Write(WriteFailure::WriteError(w)) => format!(
                "{} ({}): {}",
                w.code_name.as_deref().unwrap_or("WriteError"),
                w.code,
                w.message
            ),
            ErrorKind::Io(io) => format!("I/O error: {io}"),
            ErrorKind::ServerSelection { message, .. } => format!(
                "Server selection timeout: {}",
                message.split(", Servers").next().unwrap_or(message)
            ),
            _ => err.to_string(),
        };
        MigrateError::Database {
            context: context.into(),
            message: super::redact_message(&message),
            labels: err.labels().iter().cloned().collect(),
            cause: DbCause::of(&err),
        }
    }
}
