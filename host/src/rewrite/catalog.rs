//! What a rewrite reads about collections and the DDL it runs on them:
//! options, UUIDs, indexes, creation, renames.

use bson::{doc, Binary, Bson, Document};
use futures_util::TryStreamExt;

use super::state::RewriteState;
use crate::error::{MigrateError, Result};
use crate::target::{Target, Topology};

pub(crate) fn db_err(context: String) -> impl FnOnce(mongodb::error::Error) -> MigrateError {
    move |e| MigrateError::db(context, e)
}

/// The `listCollections` entry of `collection`, if it exists.
pub(crate) async fn info(target: &Target, collection: &str) -> Result<Option<Document>> {
    let reply = target
        .db()
        .run_command(doc! { "listCollections": 1, "filter": { "name": collection } })
        .await
        .map_err(db_err(format!("cannot read the options of {collection}")))?;
    Ok(reply
        .get_document("cursor")
        .ok()
        .and_then(|c| c.get_array("firstBatch").ok())
        .and_then(|b| b.first())
        .and_then(|d| d.as_document())
        .cloned())
}

pub(crate) async fn exists(target: &Target, collection: &str) -> Result<bool> {
    Ok(info(target, collection).await?.is_some())
}

/// The UUID of the collection that has the name `collection` now.
pub(crate) async fn uuid(target: &Target, collection: &str) -> Result<Option<Binary>> {
    Ok(info(target, collection).await?.and_then(|i| {
        match i.get_document("info").ok()?.get("uuid")? {
            Bson::Binary(b) => Some(b.clone()),
            _ => None,
        }
    }))
}

/// Whether the name `collection` stands for the collection `which` now.
/// Without a recorded UUID (entries of earlier versions): whether it exists.
pub(crate) async fn is(target: &Target, collection: &str, which: Option<&Binary>) -> Result<bool> {
    let now = uuid(target, collection).await?;
    Ok(match which {
        Some(w) => now.as_ref() == Some(w),
        None => now.is_some(),
    })
}

/// The options `collection` was created with (validator, collation…).
pub(crate) async fn options(target: &Target, collection: &str) -> Result<Document> {
    Ok(info(target, collection)
        .await?
        .and_then(|i| i.get_document("options").ok().cloned())
        .unwrap_or_default())
}

const VALIDATION: [&str; 3] = ["validator", "validationLevel", "validationAction"];

/// The validator settings of `collection` now.
pub(crate) async fn validation(target: &Target, collection: &str) -> Result<Document> {
    let options = options(target, collection).await?;
    Ok(VALIDATION
        .iter()
        .filter_map(|k| options.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect())
}

/// Creates `name` with `options` unless a collection has that name;
/// `validator`: whether the validator settings are among them. Returns its
/// UUID.
pub(crate) async fn create_like(
    target: &Target,
    name: &str,
    options: &Document,
    validator: bool,
) -> Result<Option<Binary>> {
    if !exists(target, name).await? {
        let mut cmd = doc! { "create": name };
        for (k, v) in options {
            if validator || !VALIDATION.contains(&k.as_str()) {
                cmd.insert(k, v.clone());
            }
        }
        target
            .db()
            .run_command(cmd)
            .await
            .map_err(db_err(format!("cannot create {name}")))?;
    }
    uuid(target, name).await
}

/// The secondary indexes of `collection`, as `createIndexes` takes them.
pub(crate) async fn index_specs(target: &Target, collection: &str) -> Result<Vec<Document>> {
    let context = || format!("cannot list the indexes of {collection}");
    let mut cursor = target
        .db()
        .collection::<Document>(collection)
        .list_indexes()
        .await
        .map_err(db_err(context()))?;
    let mut specs = Vec::new();
    while let Some(ix) = cursor.try_next().await.map_err(db_err(context()))? {
        let mut spec = bson::to_document(&ix).map_err(|e| MigrateError::Database {
            context: "cannot encode an index".into(),
            message: e.to_string(),
            labels: vec![],
        })?;
        if spec.get_str("name") == Ok("_id_") {
            continue;
        }
        spec.remove("ns");
        spec.remove("v");
        specs.push(spec);
    }
    Ok(specs)
}

/// Builds `specs` on `collection` (indexes it already has are left alone).
pub(crate) async fn build_indexes(
    target: &Target,
    collection: &str,
    specs: &[Document],
    of: &str,
) -> Result<()> {
    if specs.is_empty() {
        return Ok(());
    }
    target
        .db()
        .run_command(doc! { "createIndexes": collection, "indexes": specs.to_vec() })
        .await
        .map_err(db_err(format!(
            "cannot build the indexes of {of} on {collection}"
        )))?;
    Ok(())
}

pub(crate) async fn rename(target: &Target, from: &str, to: &str, drop_target: bool) -> Result<()> {
    let db = target.db().name().to_string();
    target
        .client()
        .database("admin")
        .run_command(doc! {
            "renameCollection": format!("{db}.{from}"),
            "to": format!("{db}.{to}"),
            "dropTarget": drop_target,
        })
        .await
        .map_err(db_err(format!("cannot rename {from} to {to}")))?;
    Ok(())
}

pub(crate) async fn drop(target: &Target, collection: &str) -> Result<()> {
    target
        .db()
        .collection::<Document>(collection)
        .drop()
        .await
        .map_err(db_err(format!("cannot drop {collection}")))
}

/// Why a rewrite of `collection` (with `filter`) cannot be done here, if it
/// cannot.
pub async fn refusal(
    target: &Target,
    collection: &str,
    filter: &Document,
) -> Result<Option<String>> {
    if !filter.is_empty() {
        return Ok(Some(
            "the migration has a filter; a rewrite replaces the whole collection".into(),
        ));
    }
    match target.topology() {
        Topology::Standalone => {
            return Ok(Some(
                "a standalone server has no change streams to follow writes made during the copy"
                    .into(),
            ))
        }
        Topology::Sharded => {
            return Ok(Some(
                "renameCollection cannot swap collections through mongos (sharded cluster)".into(),
            ))
        }
        Topology::ReplicaSet => {}
    }
    if target.wire_version() < 17 {
        return Ok(Some(
            "the server is older than MongoDB 6.0: its change streams do not report collMod \
             (showExpandedEvents), which the swap uses to know it has seen every write"
                .into(),
        ));
    }
    let Some(info) = info(target, collection).await? else {
        return Ok(Some(format!("collection {collection} does not exist")));
    };
    if info.get_str("type").is_ok_and(|t| t != "collection") {
        return Ok(Some(format!(
            "{collection} is a {}, not a collection",
            info.get_str("type").unwrap_or("?")
        )));
    }
    let options = info.get_document("options").cloned().unwrap_or_default();
    if options.get_bool("capped").unwrap_or(false) {
        return Ok(Some(format!(
            "{collection} is capped: a copy cannot keep its insertion order and size cap"
        )));
    }
    if options.contains_key("timeseries") {
        return Ok(Some(format!(
            "{collection} is a time-series collection: its buckets cannot be copied document by document"
        )));
    }
    if options.contains_key("clusteredIndex") {
        return Ok(Some(format!("{collection} is clustered")));
    }
    Ok(None)
}

/// A rewrite resumed before its window needs its source still there.
pub(crate) async fn check_source(target: &Target, state: &RewriteState) -> Result<()> {
    use super::state::Phase;
    if matches!(state.phase, Phase::Copy | Phase::CatchUp)
        && !is(target, &state.collection, state.source_uuid.as_ref()).await?
    {
        return Err(MigrateError::Refused {
            reason: format!(
                "{} no longer exists (renamed or dropped since this rewrite started): \
                 `mongoshift down` drops the partial copy {}",
                state.collection, state.shadow
            ),
        });
    }
    Ok(())
}

/// A backup no ledger entry owns: it may hold the only copy of documents
/// (an earlier rewrite whose ledger entry is gone), so it is never dropped.
pub(crate) fn unowned_backup(state: &RewriteState) -> MigrateError {
    let b = &state.backup;
    MigrateError::Refused {
        reason: format!(
            "{b} already exists and no ledger entry owns it: it may hold the only copy of the \
             documents of an earlier rewrite of {c}, so it is left as it is. Look at it \
             (`db.{b}.find()`), move it aside \
             (`db.adminCommand({{renameCollection: \"<db>.{b}\", to: \"<db>.{b}_saved\"}})`), \
             then run `mongoshift up` again",
            c = state.collection
        ),
    }
}
