//! [`QuarantineEntry`] and [`QuarantineSummary`]: the quarantine collection
//! as it is read back.

use bson::{doc, Bson, DateTime, Document};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};

use crate::error::{MigrateError, Result};
use crate::target::Target;
use crate::writer::QUARANTINE_COLLECTION;

/// One document a run set aside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarantineEntry {
    /// The migration that set it aside.
    pub migration: String,
    /// Its collection.
    pub collection: String,
    /// Why the transform failed it.
    pub error: String,
    /// The document as the transform was given it.
    pub original: Document,
    /// When it was set aside.
    pub at: DateTime,
    /// Anything else the entry holds (what the guest logged for it).
    #[serde(flatten)]
    pub more: Document,
}

impl QuarantineEntry {
    /// The `_id` of the document set aside.
    pub fn id(&self) -> Bson {
        self.original.get("_id").cloned().unwrap_or(Bson::Null)
    }
}

/// How many documents one migration set aside, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarantineSummary {
    /// The migration.
    #[serde(rename = "_id")]
    pub migration: String,
    /// Documents set aside (and not replayed since).
    pub count: i64,
    /// The first set aside.
    pub first: DateTime,
    /// The last set aside.
    pub last: DateTime,
}

fn err(what: &str) -> impl Fn(mongodb::error::Error) -> MigrateError + '_ {
    move |e| MigrateError::db(format!("cannot read {QUARANTINE_COLLECTION} ({what})"), e)
}

/// The entries of `migration` (every migration's when `None`), oldest
/// first; at most `limit` when given.
pub async fn entries(
    target: &Target,
    migration: Option<&str>,
    limit: Option<i64>,
) -> Result<Vec<QuarantineEntry>> {
    let filter = migration.map_or_else(Document::new, |m| doc! { "migration": m });
    let coll = target.db().collection::<Document>(QUARANTINE_COLLECTION);
    let mut find = coll.find(filter).sort(doc! { "migration": 1, "at": 1 });
    if let Some(n) = limit {
        find = find.limit(n);
    }
    let raw: Vec<Document> = find
        .await
        .map_err(err("its entries"))?
        .try_collect()
        .await
        .map_err(err("its entries"))?;
    raw.into_iter()
        .map(|mut d| {
            d.remove("_id");
            bson::from_document(d).map_err(|e| MigrateError::Encoding {
                context: format!("an entry of {QUARANTINE_COLLECTION} is not one mongoshift wrote"),
                message: e.to_string(),
            })
        })
        .collect()
}

/// How many entries each migration has, by migration.
pub async fn summaries(target: &Target) -> Result<Vec<QuarantineSummary>> {
    let coll = target.db().collection::<Document>(QUARANTINE_COLLECTION);
    let pipeline = [
        doc! { "$group": {
            "_id": "$migration",
            "count": { "$sum": 1_i64 },
            "first": { "$min": "$at" },
            "last": { "$max": "$at" },
        } },
        doc! { "$sort": { "_id": 1 } },
    ];
    let raw: Vec<Document> = coll
        .aggregate(pipeline)
        .await
        .map_err(err("its counts"))?
        .try_collect()
        .await
        .map_err(err("its counts"))?;
    raw.into_iter()
        .map(|d| {
            bson::from_document(d).map_err(|e| MigrateError::Encoding {
                context: format!("cannot count {QUARANTINE_COLLECTION}"),
                message: e.to_string(),
            })
        })
        .collect()
}

/// How many entries `migration` has.
pub(crate) async fn count(target: &Target, migration: &str) -> Result<u64> {
    target
        .db()
        .collection::<Document>(QUARANTINE_COLLECTION)
        .count_documents(doc! { "migration": migration })
        .await
        .map_err(err("its entries"))
}

/// Clears the entries of `migration` for these `_id`s (documents gone, or
/// no longer the migration's, since they were set aside).
pub(crate) async fn forget(target: &Target, migration: &str, ids: &[Bson]) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let keys: Vec<Bson> = ids
        .iter()
        .map(|id| Bson::Document(doc! { "migration": migration, "id": id.clone() }))
        .collect();
    let res = target
        .db()
        .collection::<Document>(QUARANTINE_COLLECTION)
        .delete_many(doc! { "_id": { "$in": keys } })
        .await
        .map_err(|e| {
            MigrateError::db(
                format!("cannot clear entries of {QUARANTINE_COLLECTION}"),
                e,
            )
        })?;
    Ok(res.deleted_count)
}
