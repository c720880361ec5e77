//! How one run writes, resolved once from what the run is asked (the flags of
//! `up` over the manifest's settings), the deployment and the migration, for
//! Wasm and Python runs alike.

use super::migrator::Migrator;
use super::resume;
use crate::ledger::LedgerEntry;
use crate::options::{OnError, TxMode, UpdateForm};
use crate::progress::Direction;
use crate::source::Migration;

/// The prefix of pre-image collections: `mongoshift_preimages_<migration id>`.
pub const PRE_IMAGE_PREFIX: &str = "mongoshift_preimages_";

/// What a run is asked for: each flag of `up` where given, else the
/// manifest's setting, else nothing (the default applies).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Asked {
    pub(super) transactions: Option<TxMode>,
    pub(super) pre_images: Option<bool>,
    pub(super) form: Option<UpdateForm>,
}

/// How one run writes.
#[derive(Debug, Clone, Copy)]
pub(super) struct RunSettings {
    /// Transactions, as this deployment allows them.
    pub(super) tx: TxMode,
    /// Replacements or `$set`/`$unset`.
    pub(super) form: UpdateForm,
    /// Failing documents are set aside (`--on-error quarantine`).
    pub(super) quarantine: bool,
    /// The originals of changed documents are kept: asked, or by default
    /// when nothing else undoes the run (no backward way).
    pub(super) keep_originals: bool,
}

impl Migrator {
    /// The settings of a run that writes documents (`documents`; a run of
    /// bulk steps only writes none) and has a backward way (`reversible`).
    pub(super) fn settings(&self, asked: Asked, reversible: bool, documents: bool) -> RunSettings {
        RunSettings {
            tx: if documents {
                self.tx_mode(asked.transactions)
            } else {
                TxMode::None
            },
            form: asked.form.unwrap_or_default(),
            quarantine: documents && self.on_error == OnError::Quarantine,
            keep_originals: asked.pre_images.unwrap_or(!reversible),
        }
    }
}

/// Names the pre-image collection of a forward run that keeps originals (a
/// resumed run keeps the one it had); a rollback keeps none.
pub(super) fn choose_pre_images(
    entry: &mut LedgerEntry,
    m: &Migration,
    direction: Direction,
    keep: bool,
) {
    match direction {
        Direction::Up => {
            if keep && entry.pre_images.is_none() && !resume::resumes(entry) {
                entry.pre_images = Some(format!("{PRE_IMAGE_PREFIX}{}", m.id));
            }
        }
        Direction::Down => entry.pre_images = None,
    }
}
