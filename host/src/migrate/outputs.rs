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
