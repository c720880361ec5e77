//! [`AuditLog`]: the audit collection, written by runs and listed by
//! `mongoshift audit`.

use bson::{doc, DateTime, Document};
use futures_util::TryStreamExt;
use mongodb::Collection;

use crate::error::{MigrateError, Result};
use crate::target::Target;

use super::filter::AuditFilter;
use super::record::AuditRecord;

/// The collection of audit records, in the ledger's database.
pub const AUDIT_COLLECTION: &str = "mongoshift_audit";

/// Writes and lists audit records. Records are never deleted by mongoshift.
#[derive(Debug, Clone)]
pub struct AuditLog {
    coll: Collection<AuditRecord>,
}

impl AuditLog {
    /// The audit trail of `target`'s database.
    pub fn new(target: &Target) -> AuditLog {
        AuditLog {
            coll: target.db().collection(AUDIT_COLLECTION),
        }
    }

    /// Writes `record` (a run starting, or one that ended): inserts it, or
    /// replaces the one with its id.
    pub async fn write(&self, record: &AuditRecord) -> Result<()> {
        self.coll
            .replace_one(doc! { "_id": record.id }, record)
            .upsert(true)
            .await
            .map_err(|e| MigrateError::db(format!("cannot write {AUDIT_COLLECTION}"), e))?;
        Ok(())
    }

    /// Sets fields of record `id` (a running run's `alive_at`, the
    /// migrations it was asked to run), leaving the rest.
    pub(crate) async fn set(&self, id: bson::oid::ObjectId, fields: Document) -> Result<()> {
        self.coll
            .update_one(doc! { "_id": id }, doc! { "$set": fields })
            .await
            .map_err(|e| MigrateError::db(format!("cannot write {AUDIT_COLLECTION}"), e))?;
        Ok(())
    }

    /// Renews record `id`: its run is still going.
    pub(crate) async fn alive(&self, id: bson::oid::ObjectId) -> Result<()> {
        self.set(id, doc! { "alive_at": DateTime::now() }).await
    }

    /// The records `filter` chooses, newest first.
    pub async fn list(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        let mut find = self
            .coll
            .find(filter.query())
            .sort(doc! { "started_at": -1, "_id": -1 });
        if let Some(n) = filter.limit {
            find = find.limit(i64::try_from(n).unwrap_or(i64::MAX));
        }
        let read = |e| MigrateError::db(format!("cannot read {AUDIT_COLLECTION}"), e);
        find.await.map_err(read)?.try_collect().await.map_err(read)
    }
}
