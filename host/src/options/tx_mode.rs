//! [`TxMode`]: how a migration's writes are grouped into transactions.

use serde::{Deserialize, Serialize};

/// How a migration's writes are grouped into transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TxMode {
    /// One transaction per batch, with the checkpoint: exactly-once resume.
    #[default]
    Batch,
    /// One transaction for the whole migration (small collections only: the
    /// server's transaction limits apply to all of it).
    Migration,
    /// No transactions (standalone servers): resume is at-least-once.
    None,
}

impl TxMode {
    /// The name used in manifests, flags and plans.
    pub fn as_str(&self) -> &'static str {
        match self {
            TxMode::Batch => "batch",
            TxMode::Migration => "migration",
            TxMode::None => "none",
        }
    }

    /// What a run in this mode guarantees.
    pub fn guarantee(&self) -> &'static str {
        match self {
            TxMode::Batch => "exactly-once: each batch commits with its checkpoint in one transaction; a crash resumes after the last committed batch",
            TxMode::Migration => "all or nothing: the whole migration is one transaction (it must fit the server's transaction limits)",
            TxMode::None => "at-least-once: no transactions; a crash resumes after the last checkpoint and may redo one batch",
        }
    }
}

impl_names!(TxMode, ["batch", "migration", "none"]);
