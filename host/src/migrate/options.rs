//! How `up` and `down` run: [`UpOptions`], [`DownOptions`], [`DownTarget`].

use crate::options::{Cutover, OnError, Strategy, ThrottleOptions, TxMode, UpdateForm};

/// Where `down` stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownTarget {
    /// Roll back the last `n` applied migrations.
    Steps(usize),
    /// Roll back every applied migration after this one (it stays applied).
    To(String),
}

impl DownTarget {
    /// To the migration `to` when given, else the last `steps` (one by
    /// default): what `down --to`/`--steps` and the Python API's `down()` ask.
    pub fn from_request(to: Option<&str>, steps: Option<usize>) -> DownTarget {
        match to {
            Some(id) => DownTarget::To(id.to_string()),
            None => DownTarget::Steps(steps.unwrap_or(1)),
        }
    }
}

/// How `down` runs, besides where it stops.
#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    /// Migrations whose files changed since they ran, to roll back anyway by
    /// the way back in the files on disk (a backward transform, backward
    /// steps), which may not undo what the earlier files did. Pre-images and
    /// a rewrite's backup need no such consent.
    pub dangerously_allow_changed: Vec<String>,
    /// A rewrite rolled back to its originals: restore them even though the
    /// application wrote to the rewritten collection since the swap, keeping
    /// the application's versions (and tombstones of its deletes) in
    /// `mongoshift_conflicts_<id>`. Without it such a rollback is refused.
    pub set_aside_writes_since_swap: bool,
    /// Leave Beanie's `migrations_log` as it is when a Python file is rolled
    /// back (by default it is kept current, as Beanie writes it).
    pub no_beanie_log: bool,
}

/// How `up` runs.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// Stop after this migration (inclusive).
    pub to: Option<String>,
    /// Overrides the manifests' write strategy.
    pub strategy: Option<Strategy>,
    /// Overrides how in-place runs write changed documents.
    pub in_place_writes: Option<UpdateForm>,
    /// Applied migrations whose changed files are accepted; their new checksum
    /// is recorded. Dangerous: the database keeps what the old file did.
    pub dangerously_allow_changed: Vec<String>,
    /// Migrations that stopped part-way and whose files changed since: go on
    /// from the checkpoint with the changed files (both checksums recorded).
    /// Dangerous: the documents done keep what the earlier files did.
    pub dangerously_resume_changed: Vec<String>,
    /// Override every migration's transaction mode.
    pub transactions: Option<TxMode>,
    /// What to do with documents a transform fails.
    pub on_error: OnError,
    /// Override whether pre-images are kept (default: for migrations without a
    /// backward transform).
    pub pre_images: Option<bool>,
    /// Rate, replication lag and latency limits; each wins over the
    /// manifest's.
    pub throttle: ThrottleOptions,
    /// Pause by itself once this percentage of a migration's expected
    /// documents is done (for rehearsals); `mongoshift resume` goes on.
    pub pause_at: Option<f64>,
    /// When rewrites swap their copy in: postponed until `mongoshift swap`
    /// or a time. Refused for a migration that runs in place.
    pub cutover: Cutover,
    /// Apply a pending migration whose id sorts before one already applied
    /// (it is recorded with `out_of_order: true`); without it such a run is
    /// refused.
    pub allow_out_of_order: bool,
    /// Leave Beanie's `migrations_log` as it is when a Python file is
    /// applied (by default it is kept current, as Beanie writes it).
    pub no_beanie_log: bool,
}
