//! Beanie's history: the `migrations_log` collection `beanie migrate` keeps.
//! The Python files it records as applied are adopted into the ledger as
//! baselined, once, under the lock; and the log is kept current as
//! mongoshift applies and rolls back Python files, as Beanie writes it (the
//! entries before set not current, one current entry naming the file), so
//! `beanie migrate` afterwards agrees.

use bson::{doc, Bson, DateTime, Document};
use futures_util::TryStreamExt;

use crate::error::{MigrateError, Result};
use crate::ledger::LedgerEntry;
use crate::lock::Lease;
use crate::manifest::Body;
use crate::source::Migration;
use crate::target::Target;

use super::baseline::baselined;
use super::migrator::Migrator;

/// Beanie's log collection.
pub(crate) const BEANIE_LOG: &str = "migrations_log";

/// The name Beanie's log gives as current once every file was rolled back
/// (its list's head node): nothing is applied.
const BEANIE_ROOT: &str = "root";

/// Where adopted entries say their record came from.
pub(crate) const BEANIE_SOURCE: &str = "beanie migrations_log";

/// The file name Beanie knows a Python migration by, or `None` for other
/// kinds.
fn beanie_name(m: &Migration) -> Option<String> {
    if !matches!(m.manifest.body, Body::Python(_)) {
        return None;
    }
    m.path.file_name().map(|n| n.to_string_lossy().into_owned())
}

/// The file Beanie's log names as current, `None` when the database has no
/// log or no current entry. An entry not in Beanie's shape (`name` a string,
/// `is_current` a boolean, `ts` a date) is refused, naming its `_id`.
async fn current(target: &Target) -> Result<Option<String>> {
    let db = target.db();
    let names = db
        .list_collection_names()
        .filter(doc! { "name": BEANIE_LOG })
        .await
        .map_err(|e| MigrateError::db(format!("cannot list {BEANIE_LOG}"), e))?;
    if names.is_empty() {
        return Ok(None);
    }
    let docs: Vec<Document> = db
        .collection::<Document>(BEANIE_LOG)
        .find(doc! {})
        .await
        .map_err(|e| MigrateError::db(format!("cannot read {BEANIE_LOG}"), e))?
        .try_collect()
        .await
        .map_err(|e| MigrateError::db(format!("cannot read {BEANIE_LOG}"), e))?;
    let mut current = Vec::new();
    for d in &docs {
        let id = d.get("_id").map_or("?".to_string(), Bson::to_string);
        let bad = |what: &str| MigrateError::BeanieLog {
            reason: format!(
                "its entry _id {id} is not in Beanie's shape: {what}; nothing was adopted or run"
            ),
        };
        let name = d
            .get_str("name")
            .map_err(|_| bad("`name` is not a string"))?;
        let is_current = d
            .get_bool("is_current")
            .map_err(|_| bad("`is_current` is not a boolean"))?;
        d.get_datetime("ts")
            .map_err(|_| bad("`ts` is not a date"))?;
        if is_current {
            current.push(name.to_string());
        }
    }
    if current.len() > 1 {
        return Err(MigrateError::BeanieLog {
            reason: format!(
                "{} entries are current ({}); Beanie keeps one; nothing was adopted or run",
                current.len(),
                current.join(", ")
            ),
        });
    }
    Ok(current.pop())
}

impl Migrator {
    /// The Python migrations Beanie's log records as applied and the ledger
    /// does not hold: every file up to the current one in Beanie's order
    /// (file names). A current file not on disk is refused, naming it.
    pub(super) async fn beanie_adoptable<'a>(
        &'a self,
        entries: &[LedgerEntry],
    ) -> Result<Vec<&'a Migration>> {
        let Some(name) = current(&self.target).await?.filter(|n| n != BEANIE_ROOT) else {
            return Ok(Vec::new());
        };
        if !self
            .migrations
            .iter()
            .any(|m| beanie_name(m).as_deref() == Some(name.as_str()))
        {
            return Err(MigrateError::BeanieLog {
                reason: format!(
                    "it records {name} as applied, which is not a Python migration in {}; \
                     nothing was adopted or run. Put the file back, or baseline by hand \
                     (`mongoshift baseline --to ID`)",
                    self.dir.display()
                ),
            });
        }
        Ok(self
            .migrations
            .iter()
            .filter(|m| beanie_name(m).is_some_and(|n| n <= name))
            .filter(|m| !entries.iter().any(|e| e.id == m.id))
            .collect())
    }

    /// Adopts what [`Migrator::beanie_adoptable`] finds, in one write.
    /// Returns whether anything was adopted.
    pub(super) async fn adopt_beanie(
        &self,
        lease: &Lease,
        entries: &[LedgerEntry],
    ) -> Result<bool> {
        let todo = self.beanie_adoptable(entries).await?;
        if todo.is_empty() {
            return Ok(false);
        }
        let now = DateTime::now();
        let new: Vec<LedgerEntry> = todo
            .iter()
            .map(|m| baselined(m, BEANIE_SOURCE, now))
            .collect();
        self.ledger.insert_all(&new, lease).await?;
        Ok(true)
    }

    /// After `m` was applied (`applied`) or rolled back: the log names the
    /// file as Beanie would (on rollback, the Python file before it, or no
    /// current entry). Only where the database has Beanie's log.
    pub(super) async fn keep_beanie_log(&self, m: &Migration, applied: bool) -> Result<()> {
        if beanie_name(m).is_none() {
            return Ok(());
        }
        let exists = !self
            .target
            .db()
            .list_collection_names()
            .filter(doc! { "name": BEANIE_LOG })
            .await
            .map_err(|e| MigrateError::db(format!("cannot list {BEANIE_LOG}"), e))?
            .is_empty();
        if !exists {
            return Ok(());
        }
        // On rollback, Beanie makes the file before current, or its list's
        // head (`root`) when there is none.
        let name = if applied {
            beanie_name(m)
        } else {
            let pos = self.migrations.iter().position(|x| x.id == m.id);
            pos.and_then(|p| self.migrations[..p].iter().rev().find_map(beanie_name))
                .or_else(|| Some(BEANIE_ROOT.to_string()))
        };
        let log = self.target.db().collection::<Document>(BEANIE_LOG);
        let err = |e| MigrateError::db(format!("cannot write {BEANIE_LOG}"), e);
        log.update_many(
            doc! { "is_current": true },
            doc! { "$set": { "is_current": false } },
        )
        .await
        .map_err(err)?;
        if let Some(name) = name {
            log.insert_one(doc! { "ts": DateTime::now(), "name": name, "is_current": true })
                .await
                .map_err(err)?;
        }
        Ok(())
    }
}
