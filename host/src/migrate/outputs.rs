//! Before a cross-collection run writes: it has transactions (a batch's
//! writes to every collection commit together), every declared output
//! collection exists (creating one inside a batch's transaction is restricted on some
//! servers) and can take plain document writes (not a view, not a
//! time-series collection, writable by this user).

use bson::{doc, Document};

use crate::error::{MigrateError, Result};
use crate::manifest::Namespace;
use crate::options::TxMode;
use crate::target::Target;

/// Checks and creates the outputs of migration `id`, which runs with `tx`.
pub(super) async fn prepare(
    target: &Target,
    id: &str,
    outputs: &[Namespace],
    tx: TxMode,
) -> Result<()> {
    if outputs.is_empty() {
        return Ok(());
    }
    if tx == TxMode::None {
        return Err(MigrateError::CrossWithoutTransactions { id: id.to_string() });
    }
    for ns in outputs {
        let db = target.client().database(ns.db_or(target.db().name()));
        let unwritable = |why: String| MigrateError::OutputUnwritable {
            id: id.to_string(),
            collection: ns.to_string(),
            why,
        };
        let mut found = db
            .list_collections()
            .filter(doc! { "name": &ns.collection })
            .await
            .map_err(|e| unwritable(format!("cannot be listed: {e}")))?;
        let info: Option<Document> = match found.advance().await {
            Ok(true) => found
                .deserialize_current()
                .ok()
                .map(|s| bson::to_document(&s).unwrap_or_default()),
            Ok(false) => None,
            Err(e) => return Err(unwritable(format!("cannot be listed: {e}"))),
        };
        match info.as_ref().and_then(|i| i.get_str("type").ok()) {
            Some("view") => {
                return Err(unwritable(
                    "is a view: a view cannot be written; name the collection it reads".into(),
                ))
            }
            Some("timeseries") => return Err(unwritable(
                "is a time-series collection: its documents cannot be upserted or deleted by _id"
                    .into(),
            )),
            Some(_) => continue,
            None => {}
        }
        match db.create_collection(&ns.collection).await {
            Ok(()) => {}
            Err(e) if matches!(&*e.kind, mongodb::error::ErrorKind::Command(c) if c.code == 48) => {
            }
            Err(e) => return Err(unwritable(format!("cannot be created: {e}"))),
        }
    }
    Ok(())
}

/// Warnings for the lookups a run in `direction` resolves whose field has
/// no index to find its matches by: each batch would scan the collection.
pub(super) async fn unindexed_lookups(
    target: &Target,
    lookups: &[crate::manifest::Lookup],
    direction: crate::progress::Direction,
) -> Vec<String> {
    let forward = direction == crate::progress::Direction::Up;
    let mut out = Vec::new();
    for l in lookups.iter().filter(|l| l.on.serves(forward)) {
        if l.foreign_field == "_id" {
            continue;
        }
        let coll = target
            .client()
            .database(l.from.db_or(target.db().name()))
            .collection::<Document>(&l.from.collection);
        let Ok(mut indexes) = coll.list_indexes().await else {
            continue;
        };
        let mut indexed = false;
        while let Ok(true) = indexes.advance().await {
            if let Ok(ix) = indexes.deserialize_current() {
                indexed |= ix.keys.keys().next().is_some_and(|k| *k == l.foreign_field);
            }
        }
        if !indexed {
            out.push(format!(
                "lookup `{}` finds its matches by {}.{}, which no index starts with: each batch \
                 scans {}; create an index on {{{}: 1}} first",
                l.as_name, l.from, l.foreign_field, l.from, l.foreign_field
            ));
        }
    }
    out
}
