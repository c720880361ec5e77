//! Before a cross-collection run writes: it has transactions (a batch's
//! writes to every collection commit together), every declared output
//! collection exists (creating one inside a batch's transaction is restricted on some
//! servers) and can take plain document writes (not a view, not a
//! time-series collection, writable by this user: probed in a transaction
//! that is aborted, since roles can only be read back on some servers).

use bson::{doc, rawdoc, Document};

use crate::error::{DbCause, MigrateError, Result, UNAUTHORIZED};
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
        let unwritable = |why: String| MigrateError::OutputUnwritable {
            id: id.to_string(),
            collection: ns.to_string(),
            why,
        };
        let db = ns.db_or(target.db().name());
        create(target, db, &ns.collection)
            .await
            .map_err(unwritable)?;
        if let Err(e) = probe(target, db, &ns.collection).await {
            if DbCause::of(&e) == (DbCause::Server { code: UNAUTHORIZED }) {
                return Err(unwritable(format!(
                    "cannot be written by this user (the server answered Unauthorized (13) to \
                     a probe write, in a transaction that was aborted); grant it the readWrite \
                     role on database `{db}` (or insert, update and remove on the collection), \
                     or connect as a user who has it"
                )));
            }
        }
    }
    Ok(())
}

/// Creates `db.collection` unless it exists; refuses a view or a
/// time-series collection. The error says why.
async fn create(target: &Target, db: &str, collection: &str) -> std::result::Result<(), String> {
    let db = target.client().database(db);
    let mut found = db
        .list_collections()
        .filter(doc! { "name": collection })
        .await
        .map_err(|e| format!("cannot be listed: {e}"))?;
    let info: Option<Document> = match found.advance().await {
        Ok(true) => found
            .deserialize_current()
            .ok()
            .map(|s| bson::to_document(&s).unwrap_or_default()),
        Ok(false) => None,
        Err(e) => return Err(format!("cannot be listed: {e}")),
    };
    match info.as_ref().and_then(|i| i.get_str("type").ok()) {
        Some("view") => {
            return Err("is a view: a view cannot be written; name the collection it reads".into())
        }
        Some("timeseries") => {
            return Err(
                "is a time-series collection: its documents cannot be upserted or deleted by _id"
                    .into(),
            )
        }
        Some(_) => return Ok(()),
        None => {}
    }
    match db.create_collection(collection).await {
        Ok(()) => Ok(()),
        Err(e) if matches!(&*e.kind, mongodb::error::ErrorKind::Command(c) if c.code == 48) => {
            Ok(())
        }
        Err(e) if DbCause::of(&e) == (DbCause::Server { code: UNAUTHORIZED }) => Err(format!(
            "cannot be created by this user (the server answered Unauthorized (13)); create \
             it first, or grant the user the readWrite role on database `{}`",
            db.name()
        )),
        Err(e) => Err(format!("cannot be created: {e}")),
    }
}

/// Whether this user may write `db.collection`, asked before anything is
/// written: a probe document inserted, updated and deleted inside a
/// transaction that is then aborted, so nothing stays. Only the first
/// refusal is returned; the caller counts a refusal by authorization (a
/// validator turning the probe away says nothing about the user).
async fn probe(target: &Target, db: &str, collection: &str) -> mongodb::error::Result<()> {
    let mut session = target.client().start_session().await?;
    session.start_transaction().await?;
    let id = bson::oid::ObjectId::new();
    let commands = [
        rawdoc! { "insert": collection, "documents": [ { "_id": id } ] },
        rawdoc! { "update": collection, "updates": [ { "q": { "_id": id }, "u": { "$set": { "probe": true } } } ] },
        rawdoc! { "delete": collection, "deletes": [ { "q": { "_id": id }, "limit": 1 } ] },
    ];
    let mut res = Ok(());
    for cmd in commands {
        if let Err(e) = target.run_raw_in(db, cmd, Some(&mut session)).await {
            res = Err(e);
            break;
        }
    }
    let _ = session.abort_transaction().await;
    res
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
