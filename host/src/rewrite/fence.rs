//! Holding writes off a collection for a swap: a validator that refuses
//! every insert and update (deletes are not stopped by validators), tagged
//! so its `modify` event on the stream is a marker nothing else can be
//! taken for.
//!
//! Where the server evaluates `$$NOW` in validators (MongoDB), the fence
//! expires by itself: its validator lets writes through again after a
//! deadline, so a run that dies in the window cannot lock the application
//! out for longer than that. The run refreshes the deadline before its
//! rename and renames only well inside it. secantusd-rs lets every write
//! through a validator that mentions `$$NOW`; a probe finds that out once
//! and the fence is then permanent until `up` or `down` lifts it.

use std::time::{Duration, Instant};

use bson::{doc, Bson, DateTime, Document};

use super::catalog::db_err;
use super::stream::Marker;
use crate::error::{DbCause, MigrateError, Result, DOCUMENT_VALIDATION_FAILURE};
use crate::ledger::LEDGER_COLLECTION;
use crate::target::Target;

/// Text every fence's validator carries, to recognise one.
pub(crate) const FENCE_TAG: &str = "mongoshift fence";

/// How long an expiring fence lasts, from `MONGOSHIFT_FENCE_SECONDS`
/// (default 30).
pub(crate) fn fence_seconds() -> Result<u64> {
    match std::env::var("MONGOSHIFT_FENCE_SECONDS") {
        Err(_) => Ok(30),
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(s) if s >= 2 => Ok(s),
            _ => Err(MigrateError::Refused {
                reason: format!(
                    "MONGOSHIFT_FENCE_SECONDS={v:?} is not a number of seconds of at least 2 (e.g. 30)"
                ),
            }),
        },
    }
}

/// A raised fence.
#[derive(Debug)]
pub(crate) struct Fence {
    collection: String,
    /// `validationLevel: strict` and `validationAction: error`, where the
    /// collection's own settings are not these already.
    strict: Document,
    /// The marker of the latest `collMod` that raised or refreshed it.
    pub(crate) marker: Marker,
    /// For an expiring fence: its length and when it was last refreshed.
    expiring: Option<(Duration, Instant)>,
}

impl Fence {
    /// Fences `collection`, whose own validator settings are `own`.
    pub(crate) async fn raise(target: &Target, collection: &str, own: &Document) -> Result<Fence> {
        let seconds = fence_seconds()?;
        let expiring = expiring_fences(target).await;
        let mut strict = Document::new();
        for (k, v) in [("validationLevel", "strict"), ("validationAction", "error")] {
            if own.get_str(k).is_ok_and(|x| x != v) {
                strict.insert(k, v);
            }
        }
        let mut f = Fence {
            collection: collection.to_string(),
            strict,
            marker: Marker::Empty,
            expiring: expiring.then(|| (Duration::from_secs(seconds), Instant::now())),
        };
        f.refresh(target).await?;
        Ok(f)
    }

    /// Sets the fence again with a new tag (and, expiring, a new deadline);
    /// the stream must then be drained to the new marker.
    pub(crate) async fn refresh(&mut self, target: &Target) -> Result<()> {
        let tag = format!("{FENCE_TAG} {}", bson::oid::ObjectId::new().to_hex());
        let refuse = doc! { "$eq": [ &tag, "writes are held off for a mongoshift rewrite" ] };
        let validator = match &mut self.expiring {
            None => doc! { "$expr": refuse },
            Some((length, since)) => {
                *since = Instant::now();
                let deadline =
                    server_now(target).await?.timestamp_millis() + length.as_millis() as i64;
                doc! { "$expr": { "$or": [
                    { "$gt": [ "$$NOW", DateTime::from_millis(deadline) ] },
                    refuse,
                ] } }
            }
        };
        let mut cmd = doc! { "collMod": &self.collection, "validator": validator };
        cmd.extend(self.strict.clone());
        target.db().run_command(cmd).await.map_err(db_err(format!(
            "cannot hold off writes to {} for the swap (collMod)",
            self.collection
        )))?;
        self.marker = Marker::Tagged(tag);
        Ok(())
    }

    /// Whether a rename now lands well before the fence could lapse.
    pub(crate) fn safe_to_rename(&self) -> bool {
        self.expiring
            .is_none_or(|(length, since)| since.elapsed() < length / 2)
    }

    /// Whether the fence expires by itself.
    pub(crate) fn expires(&self) -> bool {
        self.expiring.is_some()
    }
}

/// Puts back the validator settings `v` (as the collection had them before
/// the rewrite; a fence only set the level and action they did not have).
pub(crate) async fn lift(target: &Target, collection: &str, v: &Document) -> Result<()> {
    let mut cmd = doc! {
        "collMod": collection,
        "validator": v.get("validator").cloned().unwrap_or(Bson::Document(Document::new())),
    };
    for k in ["validationLevel", "validationAction"] {
        if let Some(x) = v.get(k) {
            cmd.insert(k, x.clone());
        }
    }
    target.db().run_command(cmd).await.map_err(db_err(format!(
        "cannot restore the validator of {collection}"
    )))?;
    Ok(())
}

/// Whether `validation` (a collection's validator settings) is a fence that
/// refuses writes now.
pub(crate) fn refuses_writes(validation: &Document) -> bool {
    let text = Bson::Document(validation.clone()).to_string();
    if !text.contains(FENCE_TAG) {
        return false;
    }
    // An expiring fence: whether its deadline is still ahead.
    let deadline = validation
        .get_document("validator")
        .ok()
        .and_then(|v| v.get_document("$expr").ok())
        .and_then(|e| e.get_array("$or").ok())
        .and_then(|or| {
            or.first()?
                .as_document()?
                .get_array("$gt")
                .ok()?
                .get(1)?
                .as_datetime()
                .copied()
        });
    deadline.is_none_or(|d| d > DateTime::now())
}

/// Marks the current end of `collection`'s history: an empty `collMod`
/// (it changes nothing) shows on the stream as a `modify` event after every
/// change made before it.
pub(crate) async fn mark(target: &Target, collection: &str) -> Result<Marker> {
    target
        .db()
        .run_command(doc! { "collMod": collection })
        .await
        .map_err(db_err(format!(
            "cannot mark the change stream of {collection} (collMod)"
        )))?;
    Ok(Marker::Empty)
}

/// Waits for DDL a killed earlier run may have left running on the server:
/// a rename of a large collection copies it on some servers (secantusd-rs)
/// and goes on after its client is gone. An empty `collMod` of the ledger
/// (which changes nothing) queues behind it there; the checks of what
/// exists then see where that rename ended.
pub(crate) async fn settle(target: &Target) {
    let _ = target
        .db()
        .run_command(doc! { "collMod": LEDGER_COLLECTION })
        .await;
}

async fn server_now(target: &Target) -> Result<DateTime> {
    let hello = target
        .db()
        .run_command(doc! { "hello": 1 })
        .await
        .map_err(db_err("cannot read the server's time (hello)".into()))?;
    Ok(hello
        .get_datetime("localTime")
        .copied()
        .unwrap_or_else(|_| DateTime::now()))
}

/// Whether the server refuses a write by a validator that depends on
/// `$$NOW`: a scratch collection whose validator only passes far in the
/// future, and one insert. Asked once per process and server.
async fn expiring_fences(target: &Target) -> bool {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static KNOWN: Mutex<Option<HashMap<String, bool>>> = Mutex::new(None);
    let key = target.hosts().to_string();
    if let Some(k) = KNOWN
        .lock()
        .ok()
        .and_then(|m| m.as_ref().and_then(|m| m.get(&key).copied()))
    {
        return k;
    }
    let probe = "mongoshift_fence_probe";
    let db = target.db();
    let _ = db.collection::<Document>(probe).drop().await;
    let far = DateTime::from_millis(DateTime::now().timestamp_millis() + 100 * 365 * 86_400_000);
    let created = db
        .run_command(
            doc! { "create": probe, "validator": { "$expr": { "$gt": [ "$$NOW", far ] } } },
        )
        .await
        .is_ok();
    let refused = created
        && db
            .collection::<Document>(probe)
            .insert_one(doc! { "probe": 1 })
            .await
            .is_err_and(|e| {
                DbCause::of(&e)
                    == DbCause::Server {
                        code: DOCUMENT_VALIDATION_FAILURE,
                    }
            });
    let _ = db.collection::<Document>(probe).drop().await;
    if let Ok(mut m) = KNOWN.lock() {
        m.get_or_insert_with(HashMap::new).insert(key, refused);
    }
    refused
}
