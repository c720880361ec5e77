//! `status` and `verify`: what the ledger says of each migration on disk.

use std::collections::HashMap;

use serde::Serialize;

use crate::error::Result;
use crate::ledger::{LedgerEntry, State, SwapWait};

use super::migrator::Migrator;
use super::pending::order_key;

/// A migration's place in `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// On disk, never applied.
    Pending,
    /// As in the ledger.
    Recorded(State),
    /// In the ledger, not on disk.
    MissingOnDisk(State),
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Pending => f.write_str("pending"),
            Status::Recorded(s) => write!(f, "{s}"),
            Status::MissingOnDisk(s) => write!(f, "{s} (missing on disk)"),
        }
    }
}

/// One row of `status`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusRow {
    /// The migration.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// Where it stands.
    pub status: Status,
    /// Its description.
    pub description: String,
    /// When it was applied, RFC 3339.
    pub applied_at: Option<String>,
    /// Documents matched by its last run.
    pub matched: Option<i64>,
    /// Documents modified by its last run.
    pub modified: Option<i64>,
    /// Wall time of its last run in milliseconds.
    pub duration_ms: Option<i64>,
    /// Whether the file on disk matches the checksum in the ledger (`None`
    /// when not recorded or not on disk).
    pub checksum_ok: Option<bool>,
    /// The id of the key that signed the files its last run ran, when that
    /// run checked signatures.
    pub signer: Option<String>,
    /// The last error.
    pub error: Option<String>,
    /// Documents its last run wrote to other collections, by collection.
    pub outputs: std::collections::BTreeMap<String, i64>,
    /// A running migration's throttle: `running`, or `throttled: <reason>`.
    pub throttle: Option<String>,
    /// Who paused a running migration, while it is paused.
    pub paused_by: Option<String>,
    /// A running rewrite waiting for its cut-over: since when and how far
    /// behind its copy is, as its run last recorded.
    pub waiting_for_swap: Option<SwapWait>,
    /// When a waiting rewrite swaps by itself (RFC 3339).
    pub swap_at: Option<String>,
    /// Who asked a waiting rewrite to swap.
    pub swap_requested_by: Option<String>,
    /// How long writes to the collection were refused when an applied
    /// rewrite swapped (fence to rename), in milliseconds.
    pub swap_window_ms: Option<i64>,
    /// Where a baselined migration's record came from (`mongoshift
    /// baseline`, or the other tool's log it was adopted from).
    pub baselined_from: Option<String>,
}

/// One row of `verify`.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyRow {
    /// The migration.
    pub id: String,
    /// Its ledger state.
    pub state: State,
    /// The checksum in the ledger.
    pub recorded: String,
    /// The checksum on disk, `None` when missing.
    pub on_disk: Option<String>,
}

impl VerifyRow {
    /// Whether disk and ledger agree.
    pub fn ok(&self) -> bool {
        self.on_disk.as_deref() == Some(self.recorded.as_str())
    }
}

impl Migrator {
    /// Every migration on disk or in the ledger, in order.
    pub async fn status(&self) -> Result<Vec<StatusRow>> {
        let entries = self.ledger.entries().await?;
        let by_id: HashMap<&str, &LedgerEntry> =
            entries.iter().map(|e| (e.id.as_str(), e)).collect();
        let mut rows: Vec<StatusRow> = self
            .migrations
            .iter()
            .map(|m| match by_id.get(m.id.as_str()) {
                Some(e) => row(e, Status::Recorded(e.state), Some(e.checksum == m.checksum)),
                None => StatusRow {
                    id: m.id.clone(),
                    kind: m.manifest.kind.to_string(),
                    status: Status::Pending,
                    description: m.manifest.description.clone(),
                    applied_at: None,
                    matched: None,
                    modified: None,
                    duration_ms: None,
                    checksum_ok: None,
                    signer: None,
                    error: None,
                    outputs: Default::default(),
                    throttle: None,
                    paused_by: None,
                    waiting_for_swap: None,
                    swap_at: None,
                    swap_requested_by: None,
                    swap_window_ms: None,
                    baselined_from: None,
                },
            })
            .collect();
        for e in &entries {
            if !self.migrations.iter().any(|m| m.id == e.id) {
                rows.push(row(e, Status::MissingOnDisk(e.state), None));
            }
        }
        rows.sort_by_key(|r| order_key(&r.id));
        Ok(rows)
    }

    /// Checks the checksums of recorded migrations against disk.
    pub async fn verify(&self) -> Result<Vec<VerifyRow>> {
        let entries = self.ledger.entries().await?;
        Ok(entries
            .into_iter()
            .filter(|e| e.state != State::RolledBack)
            .map(|e| VerifyRow {
                on_disk: self
                    .migrations
                    .iter()
                    .find(|m| m.id == e.id)
                    .map(|m| m.checksum.clone()),
                id: e.id,
                state: e.state,
                recorded: e.checksum,
            })
            .collect())
    }
}

pub(super) fn row(e: &LedgerEntry, status: Status, checksum_ok: Option<bool>) -> StatusRow {
    let recorded = e.state != State::Running;
    let rw = e.rewrite.as_ref();
    StatusRow {
        id: e.id.clone(),
        kind: e.kind.clone(),
        status,
        description: e.description.clone(),
        applied_at: e.applied_at.and_then(|t| t.try_to_rfc3339_string().ok()),
        matched: recorded.then_some(e.matched),
        modified: recorded.then_some(e.modified),
        duration_ms: recorded.then_some(e.duration_ms),
        checksum_ok,
        signer: e.signer.clone(),
        error: e.error.clone(),
        outputs: e
            .checkpoint
            .as_ref()
            .map(|c| c.outputs.clone())
            .unwrap_or_default(),
        throttle: e.throttle.clone().filter(|_| !recorded),
        paused_by: e
            .paused
            .then(|| e.paused_by.clone().unwrap_or_default())
            .filter(|_| !recorded),
        waiting_for_swap: rw.and_then(|r| r.waiting.clone()).filter(|_| !recorded),
        swap_at: rw
            .filter(|r| r.postponed && !recorded)
            .and_then(|r| r.swap_at)
            .and_then(|t| t.try_to_rfc3339_string().ok()),
        swap_requested_by: e.swap_requested_by.clone().filter(|_| !recorded),
        swap_window_ms: rw.and_then(|r| r.swap_window_ms),
        baselined_from: e.baselined_from.clone(),
    }
}
