//! The conditional writes of a batch as one `bulkWrite` command (MongoDB
//! 8.0 and later): the server says for each write whether it applied (an
//! update counted modified, a deletion counted deleted).

use bson::{doc, rawdoc, Bson, Document, RawArrayBuf, RawDocumentBuf};

use super::reply::check_errors;
use super::scope::Scope;
use crate::error::{MigrateError, Result, COMMAND_NOT_FOUND};

/// One conditional write of the document at batch index `i`: an update by
/// the pipeline `u`, which changes the document only while it is unchanged,
/// or a delete (`u` is `None`) applying only where `filter` matches.
pub(super) struct Op {
    pub(super) i: usize,
    pub(super) filter: RawDocumentBuf,
    pub(super) u: Option<RawArrayBuf>,
}

/// Runs `ops` as one unordered `bulkWrite`. Returns the batch indexes of the
/// writes that did not apply, or `None` when the server does not know the
/// command.
pub(super) async fn bulk_write(scope: Scope<'_>, ops: &[Op]) -> Result<Option<Vec<usize>>> {
    let (target, b) = (scope.target, scope.batch());
    let mut list = RawArrayBuf::new();
    for op in ops {
        list.push(match &op.u {
            Some(u) => rawdoc! {
                "update": 0, "filter": op.filter.clone(), "updateMods": u.clone(), "multi": false,
            },
            None => rawdoc! { "delete": 0, "filter": op.filter.clone(), "multi": false },
        });
    }
    let ns = format!("{}.{}", target.db().name(), scope.collection);
    let cmd = rawdoc! {
        "bulkWrite": 1,
        "ops": list,
        "nsInfo": [ { "ns": ns } ],
        "ordered": false,
        "errorsOnly": false,
    };
    let reply = match admin(scope, cmd).await {
        Err(e) if e.code() == Some(COMMAND_NOT_FOUND) => return Ok(None),
        other => other?,
    };
    let results = all_results(scope, &reply).await?;
    // Refused writes as the `writeErrors` of other write commands, so each
    // is named by its document.
    let idx: Vec<usize> = ops.iter().map(|op| op.i).collect();
    let mut applied = vec![false; ops.len()];
    let mut errors = Vec::new();
    for r in results {
        let Some(at) = r.get("idx").and_then(as_index).filter(|&at| at < ops.len()) else {
            continue;
        };
        if r.get("ok").and_then(as_i64) != Some(1) {
            let mut e = doc! { "index": at as i32 };
            e.insert("code", r.get_i32("code").unwrap_or_default());
            e.insert("errmsg", r.get_str("errmsg").unwrap_or("write error"));
            errors.push(Bson::Document(e));
        } else {
            let count = if ops[at].u.is_some() {
                "nModified"
            } else {
                "n"
            };
            applied[at] = r.get(count).and_then(as_index).unwrap_or(0) > 0;
        }
    }
    check_errors(&doc! { "writeErrors": errors }, b, &idx, false)?;
    // A write the server did not report on is read again like one missed.
    Ok(Some(
        ops.iter()
            .zip(applied)
            .filter(|(_, a)| !a)
            .map(|(op, _)| op.i)
            .collect(),
    ))
}

/// The per-operation results of a `bulkWrite` reply: its cursor's first
/// batch, then `getMore` until the cursor is exhausted.
async fn all_results(scope: Scope<'_>, reply: &Document) -> Result<Vec<Document>> {
    let cursor = reply.get_document("cursor").map_err(|_| malformed())?;
    let mut results = docs_of(cursor.get_array("firstBatch").map_err(|_| malformed())?);
    let mut id = cursor.get("id").and_then(as_i64).unwrap_or(0);
    let collection = cursor
        .get_str("ns")
        .ok()
        .and_then(|ns| ns.split_once('.'))
        .map_or("$cmd.bulkWrite".to_string(), |(_, c)| c.to_string());
    while id != 0 {
        let more = admin(
            scope,
            rawdoc! { "getMore": id, "collection": collection.as_str() },
        )
        .await?;
        let cursor = more.get_document("cursor").map_err(|_| malformed())?;
        results.extend(docs_of(
            cursor.get_array("nextBatch").map_err(|_| malformed())?,
        ));
        id = cursor.get("id").and_then(as_i64).unwrap_or(0);
    }
    Ok(results)
}

async fn admin(scope: Scope<'_>, cmd: RawDocumentBuf) -> Result<Document> {
    scope
        .target
        .run_raw_in("admin", cmd, None)
        .await
        .map_err(|e| MigrateError::db("cannot write the batch", e))
}

fn docs_of(a: &bson::Array) -> Vec<Document> {
    a.iter().filter_map(|d| d.as_document().cloned()).collect()
}

fn as_i64(v: &Bson) -> Option<i64> {
    match v {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        Bson::Double(n) => Some(*n as i64),
        _ => None,
    }
}

fn as_index(v: &Bson) -> Option<usize> {
    as_i64(v).and_then(|n| usize::try_from(n).ok())
}

fn malformed() -> MigrateError {
    MigrateError::Database {
        context: "cannot write the batch".into(),
        message: "the server's bulkWrite reply has no cursor of results".into(),
        labels: vec![],
        cause: crate::error::DbCause::Other,
    }
}
