//! `baseline`: recording migrations as applied without running them, for a
//! database migrated by hand or by another tool.

use bson::DateTime;

use crate::error::{MigrateError, Result};
use crate::ledger::{LedgerEntry, State};
use crate::lock::Lease;
use crate::source::Migration;

use super::migrator::Migrator;

/// Where `mongoshift baseline` entries say their record came from.
pub(crate) const BASELINE_SOURCE: &str = "mongoshift baseline";

impl Migrator {
    /// Records every migration on disk up to `to` (inclusive) as
    /// [`State::Baselined`], without running any, under the lock and in one
    /// write. Refused, with nothing recorded, when `to` is not on disk or
    /// the ledger already holds any of them. Returns the ids recorded.
    pub async fn baseline(&self, to: &str) -> Result<Vec<String>> {
        self.audited("baseline", vec![to.to_string()], |m| async move {
            m.baseline_unaudited(to).await
        })
        .await
    }

    /// [`Migrator::baseline`] without its audit record.
    async fn baseline_unaudited(&self, to: &str) -> Result<Vec<String>> {
        let lease = Lease::acquire(&self.target, &self.lock, &self.progress).await?;
        let res = self.baseline_locked(&lease, to).await;
        let released = lease.release().await;
        let ids = res?;
        released?;
        Ok(ids)
    }

    async fn baseline_locked(&self, lease: &Lease, to: &str) -> Result<Vec<String>> {
        let chosen = up_to(&self.migrations, to).ok_or_else(|| MigrateError::UnknownMigration {
            id: to.to_string(),
            path: self.dir.clone(),
        })?;
        let entries = self.ledger.entries().await?;
        let held: Vec<String> = chosen
            .iter()
            .filter(|m| entries.iter().any(|e| e.id == m.id))
            .map(|m| m.id.clone())
            .collect();
        if !held.is_empty() {
            return Err(MigrateError::AlreadyRecorded { ids: held });
        }
        let now = DateTime::now();
        let new: Vec<LedgerEntry> = chosen
            .iter()
            .map(|m| baselined(m, BASELINE_SOURCE, now))
            .collect();
        self.ledger.insert_all(&new, lease).await?;
        Ok(new.into_iter().map(|e| e.id).collect())
    }
}

/// The migrations on disk up to `to` (inclusive), or `None` when `to` is
/// not on disk.
fn up_to<'a>(migrations: &'a [Migration], to: &str) -> Option<&'a [Migration]> {
    let end = migrations.iter().position(|m| m.id == to)?;
    Some(&migrations[..=end])
}

/// The entry of `m` recorded as baselined at `at`, from `source`.
pub(crate) fn baselined(m: &Migration, source: &str, at: DateTime) -> LedgerEntry {
    let mut e = LedgerEntry::new(
        &m.id,
        &m.manifest.description,
        m.manifest.kind.as_str(),
        &m.checksum,
    );
    e.state = State::Baselined;
    e.started_at = Some(at);
    e.finished_at = Some(at);
    e.applied_at = Some(at);
    e.baselined_from = Some(source.to_string());
    e
}
