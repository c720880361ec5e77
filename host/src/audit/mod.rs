//! The audit trail: who ran which command against a deployment, what it
//! changed and how it ended, kept in the deployment itself (collection
//! [`AUDIT_COLLECTION`] of the ledger's database).
//!
//! - [`Invocation`] (`invocation`): who ran it (host, OS user, tool version,
//!   the command line with passwords masked).
//! - [`AuditRecord`] (`record`): one run, written when it starts
//!   ([`AuditStatus::Running`]) and again when it ends; a run that was killed
//!   stops renewing its record and shows as [`AuditStatus::Interrupted`].
//!   [`Change`]: what one migration of the run changed, per collection.
//! - [`AuditRow`] (`row`): a record as JSON, for `mongoshift audit --json`
//!   and the Python package.
//! - [`AuditLog`] (`store`): writing and listing records; [`AuditFilter`]
//!   (`filter`): which to list.
//! - `changes`: a migration's counts, read from its ledger entry.
//!
//! Nothing secret is recorded: connection strings in the command line lose
//! their password ([`crate::redact_uri`]), every password this process has
//! seen is masked in messages, and no environment is read but the user's
//! name. mongoshift never deletes records: retention is the operator's (a
//! TTL index on `started_at`).

mod changes;
mod filter;
mod invocation;
mod record;
mod row;
mod store;

pub(crate) use changes::change_of;
pub use filter::AuditFilter;
pub use invocation::{mask_command_line, Invocation};
pub use record::{AuditError, AuditRecord, AuditStatus, Change};
pub use row::AuditRow;
pub use store::{AuditLog, AUDIT_COLLECTION};
