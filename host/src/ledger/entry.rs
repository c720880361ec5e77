//! [`LedgerEntry`]: what the ledger records about one migration.

use bson::DateTime;
use serde::{Deserialize, Serialize};

use super::checkpoint::Checkpoint;
use super::rewrite::RewriteState;

/// Where a migration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum State {
    /// A run is applying it, or died while applying it.
    Running,
    /// Applied.
    Applied,
    /// Applied, with some documents set aside in the quarantine collection.
    AppliedWithErrors,
    /// The last attempt failed; `error` says why.
    Failed,
    /// Applied, then rolled back.
    RolledBack,
    /// Recorded as applied without being run (`mongoshift baseline`, or
    /// adopted from another tool's record): the database already has it.
    Baselined,
}

impl State {
    /// The name used in the ledger and in output.
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Running => "running",
            State::Applied => "applied",
            State::AppliedWithErrors => "applied_with_errors",
            State::Failed => "failed",
            State::RolledBack => "rolled_back",
            State::Baselined => "baselined",
        }
    }

    /// Whether the database has what the migration does: applied (with or
    /// without documents set aside) or baselined.
    pub fn is_applied(&self) -> bool {
        matches!(
            self,
            State::Applied | State::AppliedWithErrors | State::Baselined
        )
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One ledger document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The migration id.
    #[serde(rename = "_id")]
    pub id: String,
    /// Its description.
    #[serde(default)]
    pub description: String,
    /// Its kind.
    pub kind: String,
    /// The checksum of its files when last run.
    pub checksum: String,
    /// The id of the key that signed those files, when `up` checked
    /// signatures (see [`crate::signing`]).
    #[serde(default)]
    pub signer: Option<String>,
    /// Where it stands.
    pub state: State,
    /// When the last run of it started.
    pub started_at: Option<DateTime>,
    /// When the last run of it ended.
    pub finished_at: Option<DateTime>,
    /// When it was last applied.
    pub applied_at: Option<DateTime>,
    /// Documents matched by the last run.
    #[serde(default)]
    pub matched: i64,
    /// Documents modified by the last run.
    #[serde(default)]
    pub modified: i64,
    /// Wall time of the last run in milliseconds.
    #[serde(default)]
    pub duration_ms: i64,
    /// Why the last run failed.
    pub error: Option<String>,
    /// The fencing token of the last writer.
    #[serde(default)]
    pub fence: i64,
    /// Host and pid of the last writer.
    #[serde(default)]
    pub run_by: String,
    /// mongoshift version of the last writer.
    #[serde(default)]
    pub tool_version: String,
    /// Which way the last run went (`up` or `down`).
    #[serde(default)]
    pub direction: Option<crate::progress::Direction>,
    /// Progress of a document-by-document run, committed with each batch.
    #[serde(default)]
    pub checkpoint: Option<Checkpoint>,
    /// The collection holding pre-images of changed documents, when kept.
    #[serde(default)]
    pub pre_images: Option<String>,
    /// Documents set aside in the quarantine collection.
    #[serde(default)]
    pub quarantined: i64,
    /// The server session (`lsid`) the last run wrote its batches in, so a
    /// later run can end that session's open transaction if the run died.
    #[serde(default)]
    pub session: Option<bson::Document>,
    /// Where a copy-and-swap run stands, and the names of its shadow and
    /// backup collections (kept after it is applied, for `down`).
    #[serde(default)]
    pub rewrite: Option<RewriteState>,
    /// The collection a document-by-document run changed (its pre-images go
    /// back there, whatever its files say now).
    #[serde(default)]
    pub collection: Option<String>,
    /// A rollback by a backward transform of a forward run that stopped
    /// part-way goes no further than this `_id`, the last one that run
    /// committed (`MinKey`: it committed nothing).
    #[serde(default)]
    pub undo_through: Option<bson::Bson>,
    /// Changed files a run was told to go on with, oldest first.
    #[serde(default)]
    pub accepted_changes: Vec<AcceptedChange>,
    /// Where a running migration's throttle stands (`running`, or
    /// `throttled: <reason>`), as its run last wrote it.
    #[serde(default)]
    pub throttle: Option<String>,
    /// Set by `mongoshift pause` (or `up --pause-at`): the run waits
    /// before its next commit until `mongoshift resume` clears it.
    #[serde(default)]
    pub paused: bool,
    /// Who last paused or resumed it (host and pid, or `--pause-at`).
    #[serde(default)]
    pub paused_by: Option<String>,
    /// When it was last paused or resumed.
    #[serde(default)]
    pub paused_at: Option<DateTime>,
    /// Set by `mongoshift swap` (host and pid) on a rewrite waiting for its
    /// cut-over: its run drains the stream and swaps.
    #[serde(default)]
    pub swap_requested_by: Option<String>,
    /// When the swap was asked for.
    #[serde(default)]
    pub swap_requested_at: Option<DateTime>,
    /// Where a baselined entry's record came from (`mongoshift baseline`,
    /// or another tool's log it was adopted from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baselined_from: Option<String>,
    /// Applied after a migration whose id sorts after its own
    /// (`up --allow-out-of-order`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub out_of_order: bool,
}

/// A run that went on with changed files, because it was told to:
/// `up --dangerously-resume-changed` (the documents up to `last_id` keep what
/// the earlier files did) or `down --dangerously-allow-changed` (the backward
/// way of the files on disk undid what the earlier files did).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcceptedChange {
    /// The run's direction.
    pub direction: crate::progress::Direction,
    /// The checksum of the files that ran before.
    pub from: String,
    /// The checksum of the files that ran then.
    pub to: String,
    /// The last `_id` the earlier files had done, when known.
    pub last_id: Option<bson::Bson>,
    /// Documents the earlier files had done.
    pub done: i64,
    /// When.
    pub at: DateTime,
}

impl LedgerEntry {
    /// What a write of this entry keeps of the entry as `stored`: the same
    /// run's pause flag, throttle state and swap request, which other
    /// processes set with `$set` while it runs. A run that ended is neither
    /// paused nor throttled, and waits for no swap.
    pub(crate) fn keep_controls(&mut self, stored: Option<&LedgerEntry>) {
        match stored {
            Some(s) if self.state == State::Running && s.started_at == self.started_at => {
                self.paused = s.paused;
                self.paused_by = s.paused_by.clone();
                self.paused_at = s.paused_at;
                self.throttle = s.throttle.clone();
                self.swap_requested_by = s.swap_requested_by.clone();
                self.swap_requested_at = s.swap_requested_at;
            }
            _ if self.state != State::Running => {
                self.paused = false;
                self.throttle = None;
                self.swap_requested_by = None;
                self.swap_requested_at = None;
            }
            _ => {}
        }
    }

    /// A fresh entry for a migration about to run.
    pub fn new(id: &str, description: &str, kind: &str, checksum: &str) -> LedgerEntry {
        LedgerEntry {
            id: id.into(),
            description: description.into(),
            kind: kind.into(),
            checksum: checksum.into(),
            signer: None,
            state: State::Running,
            started_at: None,
            finished_at: None,
            applied_at: None,
            matched: 0,
            modified: 0,
            duration_ms: 0,
            error: None,
            fence: 0,
            run_by: String::new(),
            tool_version: String::new(),
            direction: None,
            checkpoint: None,
            pre_images: None,
            quarantined: 0,
            session: None,
            rewrite: None,
            collection: None,
            undo_through: None,
            accepted_changes: Vec::new(),
            throttle: None,
            paused: false,
            paused_by: None,
            paused_at: None,
            swap_requested_by: None,
            swap_requested_at: None,
            baselined_from: None,
            out_of_order: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_keeps_the_same_runs_pause_and_clears_it_once_the_run_ended() {
        let mut stored = LedgerEntry::new("1_a", "", "wasm", "sum");
        stored.started_at = Some(DateTime::from_millis(1_000));
        stored.paused = true;
        stored.paused_by = Some("ops".into());
        stored.throttle = Some("running".into());
        let mut same = stored.clone();
        same.paused = false;
        same.throttle = None;
        same.keep_controls(Some(&stored));
        assert!(same.paused, "another process paused this run");
        assert_eq!(same.throttle.as_deref(), Some("running"));
        let mut next = LedgerEntry::new("1_a", "", "wasm", "sum");
        next.started_at = Some(DateTime::from_millis(2_000));
        next.keep_controls(Some(&stored));
        assert!(!next.paused, "a new run starts unpaused");
        let mut ended = stored.clone();
        ended.state = State::Applied;
        ended.keep_controls(Some(&stored));
        assert!(!ended.paused);
        assert_eq!(ended.throttle, None);
    }
}
