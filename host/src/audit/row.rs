//! [`AuditRow`]: an audit record as JSON, for shipping elsewhere.

use std::collections::BTreeMap;

use bson::DateTime;
use serde::Serialize;

use super::invocation::Invocation;
use super::record::{AuditError, AuditRecord, AuditStatus, Change};

/// A record as `mongoshift audit --json` prints it (one object a line) and
/// the Python package returns it: times in RFC 3339, the status as shown
/// now (`interrupted` for a run that stopped renewing its record), the
/// counts per collection added up.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    /// The record's id (hex).
    pub id: String,
    /// The command.
    pub command: String,
    /// The database.
    pub database: String,
    /// Who ran it.
    #[serde(flatten)]
    pub by: Invocation,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it ended (RFC 3339).
    pub finished_at: Option<String>,
    /// `running`, `ok`, `failed`, `refused` or `interrupted`.
    pub status: AuditStatus,
    /// The migrations.
    pub migrations: Vec<String>,
    /// Documents changed per collection.
    pub counts: BTreeMap<String, i64>,
    /// What each migration changed.
    pub changes: Vec<Change>,
    /// Why it failed or was refused.
    pub error: Option<AuditError>,
    /// The policy's hash.
    pub policy_hash: Option<String>,
    /// The signer.
    pub signer: Option<String>,
}

impl AuditRow {
    /// `record` as shown at `now`.
    pub fn of(record: &AuditRecord, now: DateTime) -> AuditRow {
        AuditRow {
            id: record.id.to_hex(),
            command: record.command.clone(),
            database: record.database.clone(),
            by: record.by.clone(),
            started_at: rfc3339(record.started_at),
            finished_at: record.finished_at.map(rfc3339),
            status: record.status_at(now),
            migrations: record.migrations.clone(),
            counts: record.counts(),
            changes: record.changes.clone(),
            error: record.error.clone(),
            policy_hash: record.policy_hash.clone(),
            signer: record.signer.clone(),
        }
    }
}

/// A time in RFC 3339, to the millisecond, in UTC.
fn rfc3339(at: DateTime) -> String {
    at.to_chrono()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
