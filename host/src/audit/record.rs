//! [`AuditRecord`]: one run of a command, as the audit trail keeps it.

use std::collections::BTreeMap;

use bson::oid::ObjectId;
use bson::DateTime;
use serde::{Deserialize, Serialize};

use crate::error::MigrateError;
use crate::progress::Direction;

use super::invocation::Invocation;

/// How a run ended, or that it has not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditStatus {
    /// Started, not ended, and still renewing its record.
    Running,
    /// Did everything it was asked to.
    Ok,
    /// A migration started and failed (what ran before it stays applied).
    Failed,
    /// Stopped before any migration started: nothing changed (a checksum
    /// mismatch, the lock held by another run, an invalid request).
    Refused,
    /// Shown, never stored: a `running` record its run stopped renewing
    /// for longer than its lease (the process was killed or lost the server).
    Interrupted,
}

impl AuditStatus {
    /// The status as written and shown: `running`, `ok`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            AuditStatus::Running => "running",
            AuditStatus::Ok => "ok",
            AuditStatus::Failed => "failed",
            AuditStatus::Refused => "refused",
            AuditStatus::Interrupted => "interrupted",
        }
    }
}

/// Why a run failed or was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditError {
    /// The kind of error, stable across versions (see
    /// [`MigrateError::kind_name`]): `checksum_mismatch`, `transform`, ...
    pub code: String,
    /// The server's error code, when the server refused something.
    pub server_code: Option<i32>,
    /// The message, passwords masked and cut to a bound.
    pub message: String,
}

/// The most bytes of an error message recorded.
const MAX_ERROR_BYTES: usize = 2048;

impl AuditError {
    /// What the audit trail keeps of `err`.
    pub fn of(err: &MigrateError) -> AuditError {
        let message = crate::error::redact_message(&err.to_string());
        AuditError {
            code: err.kind_name().to_string(),
            server_code: err.code(),
            message: crate::text::bounded(message.as_bytes(), MAX_ERROR_BYTES),
        }
    }
}

/// What one migration of a run changed (its ledger counts; for a run that
/// stopped part-way, what its committed batches counted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The migration.
    pub migration: String,
    /// Up or down.
    pub direction: Direction,
    /// The collection it changed (server-side steps on several: their
    /// names joined with `,`).
    pub collection: String,
    /// Documents matched.
    pub matched: i64,
    /// Documents modified or deleted.
    pub modified: i64,
    /// Of those, deleted.
    pub deleted: i64,
    /// Documents set aside in quarantine.
    pub quarantined: i64,
    /// Writes to other collections, by collection.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, i64>,
}

/// One run of `up`, `down`, `swap`, `pause` or `resume`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The record's id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// `up`, `down`, `up --distributed`, `swap`, `pause`, `resume`.
    pub command: String,
    /// The database the command ran on.
    pub database: String,
    /// Who ran it.
    #[serde(flatten)]
    pub by: Invocation,
    /// When it started.
    pub started_at: DateTime,
    /// When the run last renewed its record (it does every third of its
    /// lease while it runs).
    pub alive_at: DateTime,
    /// How long the run's lease lasts without renewal, in milliseconds.
    pub lease_ttl_ms: i64,
    /// When it ended.
    pub finished_at: Option<DateTime>,
    /// `running` until it ends.
    pub status: AuditStatus,
    /// The migrations it ran (or was asked to run).
    pub migrations: Vec<String>,
    /// What each migration changed.
    pub changes: Vec<Change>,
    /// Why it failed or was refused.
    pub error: Option<AuditError>,
    /// The hash of the operator policy the run obeyed (none without a policy).
    pub policy_hash: Option<String>,
    /// Who signed the migrations it ran (none when unsigned).
    pub signer: Option<String>,
}

impl AuditRecord {
    /// A record of `command` starting now.
    pub fn started(command: &str, database: &str, by: Invocation, lease_ttl_ms: i64) -> Self {
        let now = DateTime::now();
        AuditRecord {
            id: ObjectId::new(),
            command: command.to_string(),
            database: database.to_string(),
            by,
            started_at: now,
            alive_at: now,
            lease_ttl_ms,
            finished_at: None,
            status: AuditStatus::Running,
            migrations: Vec::new(),
            changes: Vec::new(),
            error: None,
            policy_hash: None,
            signer: None,
        }
    }

    /// The status to show at `now`: a `running` record not renewed for
    /// longer than its lease is `interrupted`.
    pub fn status_at(&self, now: DateTime) -> AuditStatus {
        let silent = now.timestamp_millis() - self.alive_at.timestamp_millis();
        match self.status {
            AuditStatus::Running if silent > self.lease_ttl_ms => AuditStatus::Interrupted,
            s => s,
        }
    }

    /// Documents changed per collection, over the run's migrations: the
    /// documents each modified or deleted in its collection, and its writes
    /// to other collections.
    pub fn counts(&self) -> BTreeMap<String, i64> {
        let mut out = BTreeMap::new();
        for c in &self.changes {
            *out.entry(c.collection.clone()).or_insert(0) += c.modified;
            for (coll, n) in &c.outputs {
                *out.entry(coll.clone()).or_insert(0) += n;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_left_running_past_its_lease_is_interrupted() {
        let by = Invocation::this_process(["mongoshift", "up"]);
        let r = AuditRecord::started("up", "app", by, 30_000);
        let at = |ms| DateTime::from_millis(r.alive_at.timestamp_millis() + ms);
        assert_eq!(r.status_at(at(29_000)), AuditStatus::Running);
        assert_eq!(r.status_at(at(31_000)), AuditStatus::Interrupted);
        let done = AuditRecord {
            status: AuditStatus::Ok,
            ..r
        };
        assert_eq!(done.status_at(at(99_000)), AuditStatus::Ok);
    }

    #[test]
    fn counts_add_up_per_collection() {
        let by = Invocation::this_process(["mongoshift", "up"]);
        let mut r = AuditRecord::started("up", "app", by, 30_000);
        let change = |m: &str, coll: &str, n| Change {
            migration: m.into(),
            direction: Direction::Up,
            collection: coll.into(),
            matched: n,
            modified: n,
            deleted: 0,
            quarantined: 0,
            outputs: BTreeMap::new(),
        };
        r.changes = vec![change("1_a", "users", 3), change("2_b", "users", 2)];
        r.changes[1].outputs.insert("addresses".into(), 4);
        let counts: Vec<_> = r.counts().into_iter().collect();
        assert_eq!(
            counts,
            vec![("addresses".to_string(), 4), ("users".to_string(), 5)]
        );
    }
}
