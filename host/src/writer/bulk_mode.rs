//! Whether a run's conditional writes go out as `bulkWrite` (per-operation
//! results, MongoDB 8.0 and later) or as one unordered `update` and `delete`
//! per batch: decided once per run and remembered.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{MigrateError, Result};

/// The environment variable that turns `bulkWrite` off.
pub(crate) const BULK_WRITE_ENV: &str = "MONGOSHIFT_BULK_WRITE";

/// How a run writes its batches without a transaction.
#[derive(Debug, Default)]
pub(crate) struct BulkMode {
    /// `bulkWrite` is not used: turned off, or the server does not know it.
    off: AtomicBool,
}

impl BulkMode {
    /// From `MONGOSHIFT_BULK_WRITE`: unset, empty or `auto` uses `bulkWrite`
    /// where the server has it; `off` never does.
    pub(crate) fn from_env() -> Result<BulkMode> {
        let off = match std::env::var(BULK_WRITE_ENV) {
            Err(std::env::VarError::NotPresent) => false,
            Ok(v) if v.is_empty() || v == "auto" => false,
            Ok(v) if v == "off" => true,
            Ok(v) => return Err(bad(v)),
            Err(std::env::VarError::NotUnicode(v)) => {
                return Err(bad(v.to_string_lossy().into_owned()))
            }
        };
        Ok(BulkMode {
            off: AtomicBool::new(off),
        })
    }

    /// Whether to try `bulkWrite`.
    pub(super) fn bulk_write(&self) -> bool {
        !self.off.load(Ordering::Relaxed)
    }

    /// The server does not know `bulkWrite`: the rest of the run does
    /// without it.
    pub(super) fn unknown_to_server(&self) {
        self.off.store(true, Ordering::Relaxed);
    }
}

fn bad(value: String) -> MigrateError {
    MigrateError::Setting {
        variable: BULK_WRITE_ENV.into(),
        value,
        expected: "use `off` to write each batch without a transaction as one unordered \
                   update and delete, or `auto` (or leave it unset) to use bulkWrite where \
                   the server has it"
            .into(),
    }
}
