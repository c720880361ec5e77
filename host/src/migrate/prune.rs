//! `prune`: dropping what finished rewrites and pre-images keep.

use super::migrator::Migrator;

use bson::DateTime;

use crate::error::{MigrateError, Result};
use crate::ledger::State;
use crate::lock::Lease;

impl Migrator {
    /// Drops pre-images of applied migrations (all, or `only`), of migrations
    /// applied at least `older_than` ago. Returns `(migration, collection)` pairs.
    pub async fn prune(
        &self,
        only: Option<&str>,
        older_than: std::time::Duration,
    ) -> Result<Vec<(String, String)>> {
        let lease = Lease::acquire(&self.target, &self.lock, &self.progress).await?;
        let res = async {
            let cutoff = DateTime::now().timestamp_millis() - older_than.as_millis() as i64;
            let mut pruned = Vec::new();
            for mut e in self.ledger.entries().await? {
                // Pre-images, or the original a rewrite kept.
                let rewritten = e
                    .rewrite
                    .as_ref()
                    .filter(|r| r.phase == crate::ledger::Phase::Done && r.keep)
                    .map(|r| r.backup.clone());
                let Some(backup) = e.pre_images.clone().or(rewritten) else {
                    continue;
                };
                let applied = matches!(e.state, State::Applied | State::AppliedWithErrors);
                let old_enough = e.applied_at.is_some_and(|t| t.timestamp_millis() <= cutoff);
                if !applied || !old_enough || only.is_some_and(|id| id != e.id) {
                    continue;
                }
                self.target
                    .db()
                    .collection::<bson::Document>(&backup)
                    .drop()
                    .await
                    .map_err(|err| MigrateError::db(format!("cannot drop {backup}"), err))?;
                if e.pre_images.take().is_none() {
                    e.rewrite = None;
                }
                self.ledger.write(&e, &lease).await?;
                pruned.push((e.id.clone(), backup));
            }
            Ok::<_, MigrateError>(pruned)
        }
        .await;
        let released = lease.release().await;
        let pruned = res?;
        released?;
        Ok(pruned)
    }
}
