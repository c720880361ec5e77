//! The change stream a rewrite follows, what its events mean, and the
//! background reader that holds the changes made while the copy runs.

use std::collections::HashSet;

use bson::{doc, Binary, Bson, Document};
use mongodb::change_stream::event::ResumeToken;
use mongodb::change_stream::ChangeStream;
use serde::Deserialize;

use crate::error::{MigrateError, Result};
use crate::ledger::RewriteState;
use crate::target::Target;

/// The parts of a change event a rewrite reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Change {
    pub(crate) operation_type: String,
    pub(crate) ns: Option<Namespace>,
    pub(crate) to: Option<Namespace>,
    pub(crate) document_key: Option<Document>,
    /// What a `collMod` (`modify`) set.
    pub(crate) operation_description: Option<Document>,
    /// Whose history the event is (MongoDB 6.0 and later, with expanded
    /// events): tells the collection before a rename from the one after.
    #[serde(rename = "collectionUUID")]
    pub(crate) collection_uuid: Option<Binary>,
    /// When the change was made: how far behind a copy that applies it is.
    pub(crate) cluster_time: Option<bson::Timestamp>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Namespace {
    pub(crate) coll: Option<String>,
}

impl Change {
    pub(crate) fn coll(&self) -> Option<&str> {
        self.ns.as_ref().and_then(|n| n.coll.as_deref())
    }

    pub(crate) fn to_coll(&self) -> Option<&str> {
        self.to.as_ref().and_then(|n| n.coll.as_deref())
    }

    /// The `_id` of the document a CRUD event is about.
    pub(crate) fn id(&self) -> Option<&Bson> {
        match self.operation_type.as_str() {
            "insert" | "update" | "replace" | "delete" => self.document_key.as_ref()?.get("_id"),
            _ => None,
        }
    }

    /// Whether this is the `modify` event of `marker`.
    pub(crate) fn is_marker(&self, marker: &Marker) -> bool {
        self.operation_type == "modify"
            && match marker {
                Marker::Empty => self
                    .operation_description
                    .as_ref()
                    .is_none_or(|d| d.is_empty()),
                Marker::Tagged(tag) => self
                    .operation_description
                    .as_ref()
                    .is_some_and(|d| Bson::Document(d.clone()).to_string().contains(tag.as_str())),
            }
    }
}

/// A `collMod` whose `modify` event shows on the stream after every change
/// made before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Marker {
    /// An empty `collMod` (it changes nothing): the end of a catch-up round.
    Empty,
    /// A fence: its validator carries this unique tag, so no other `collMod`
    /// can be taken for it.
    Tagged(String),
}

/// Where a stream starts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Start<'a> {
    /// Now.
    Now,
    /// Right after the event with this resume token.
    After(&'a Bson),
    /// Right after this `invalidate` event (a stream cannot resume *after*
    /// an invalidation, only start after it).
    AfterInvalidate(&'a Bson),
}

/// Opens a stream on `collection` alone (the server skips other
/// collections' events, such as the copy's inserts, without building them),
/// with `modify` events. `None`: the history from `start` is gone
/// (ChangeStreamHistoryLost).
pub(crate) async fn watch(
    target: &Target,
    collection: &str,
    start: Start<'_>,
) -> Result<Option<ChangeStream<Change>>> {
    // Short waits: an empty answer means "nothing more for now".
    let coll = target.db().collection::<Document>(collection);
    let mut watch = coll
        .watch()
        .show_expanded_events(true)
        .max_await_time(std::time::Duration::from_millis(20));
    let token = |t: &Bson| -> Result<ResumeToken> {
        bson::from_bson(t.clone()).map_err(|e| MigrateError::Encoding {
            context: "cannot read the change stream position from the ledger".into(),
            message: e.to_string(),
        })
    };
    watch = match start {
        Start::Now => watch,
        Start::After(t) => watch.resume_after(token(t)?),
        Start::AfterInvalidate(t) => watch.start_after(token(t)?),
    };
    match watch.await {
        Ok(s) => Ok(Some(s.with_type())),
        Err(e) if matches!(&*e.kind, mongodb::error::ErrorKind::Command(c) if c.code == 286) => {
            Ok(None)
        }
        Err(e) => Err(MigrateError::db(
            format!("cannot follow changes to {collection} (change stream)"),
            e,
        )),
    }
}

/// The stream a rewrite follows from its recorded position (from now when
/// there is none).
pub(crate) async fn open_stream(
    target: &Target,
    state: &RewriteState,
) -> Result<ChangeStream<Change>> {
    let start = state.token.as_ref().map_or(Start::Now, Start::After);
    if let Some(stream) = watch(target, &state.collection, start).await? {
        return Ok(stream);
    }
    let reach = super::oplog::reach(target, std::time::Duration::from_secs(5))
        .await
        .map_or_else(
            || "how far the oplog reaches could not be read".to_string(),
            |r| r.describe(),
        );
    Err(MigrateError::Refused {
        reason: format!(
            "the change stream can no longer resume from where the copy of {} started \
             (ChangeStreamHistoryLost; {reach}): the oplog did not keep every write made \
             since. Nothing was swapped: `mongoshift up` starts the copy over (a larger oplog \
             lets it finish), `mongoshift down` drops the partial copy",
            state.collection
        ),
    })
}

pub(crate) fn token_of(stream: &ChangeStream<Change>) -> Option<Bson> {
    stream.resume_token().and_then(|t| bson::to_bson(&t).ok())
}

/// What an event means to a rewrite of `state.collection` before its swap.
pub(crate) enum Seen {
    /// A `collMod` of the source (a marker, or the fence).
    Modify(Change),
    /// The document with this `_id` was inserted, updated, replaced or deleted.
    Changed(Bson),
    /// The source was renamed, dropped, or its database dropped.
    Gone(MigrateError),
    /// Nothing to do (another collection, an index build…).
    Other,
}

pub(crate) fn classify(ev: &Change, state: &RewriteState) -> Seen {
    let ours = ev.coll() == Some(state.collection.as_str());
    match ev.operation_type.as_str() {
        "modify" if ours => Seen::Modify(ev.clone()),
        "insert" | "update" | "replace" | "delete" if ours => {
            ev.id().map_or(Seen::Other, |id| Seen::Changed(id.clone()))
        }
        "rename" if ours => Seen::Gone(MigrateError::Refused {
            reason: format!("{} was renamed during the rewrite", state.collection),
        }),
        "drop" if ours => Seen::Gone(MigrateError::Refused {
            reason: format!("{} was dropped during the rewrite", state.collection),
        }),
        // Something renamed over the source drops it.
        "rename" if ev.to_coll() == Some(state.collection.as_str()) => {
            Seen::Gone(MigrateError::Refused {
                reason: format!(
                    "{} was replaced by a rename during the rewrite",
                    state.collection
                ),
            })
        }
        "dropDatabase" | "invalidate" => Seen::Gone(MigrateError::Refused {
            reason: format!(
                "{} was dropped during the rewrite ({})",
                state.collection, ev.operation_type
            ),
        }),
        _ => Seen::Other,
    }
}

/// The most changed `_id`s a [`Drain`] holds; past it, the rest wait in the
/// stream (memory stays bounded whatever the application writes).
/// `MONGOSHIFT_REWRITE_BACKLOG` sets another limit.
pub(crate) fn backlog_max() -> Result<usize> {
    match std::env::var("MONGOSHIFT_REWRITE_BACKLOG") {
        Err(_) => Ok(100_000),
        Ok(v) => v.trim().parse().map_err(|_| MigrateError::Refused {
            reason: format!(
                "MONGOSHIFT_REWRITE_BACKLOG={v:?} is not a number of documents (e.g. 100000)"
            ),
        }),
    }
}

/// Changes read from the stream while the copy ran, not yet applied to the
/// copies.
pub(crate) struct Backlog {
    /// The `_id`s changed, each once, in the order first seen.
    pub(crate) ids: Vec<Bson>,
    /// The stream position just after the last event read.
    pub(crate) token: Option<Bson>,
    /// The source was renamed or dropped during the copy.
    pub(crate) gone: Option<MigrateError>,
    /// Reading the stream failed: the backlog is dropped and the catch-up
    /// reads again from the position in the ledger.
    pub(crate) broken: bool,
}

/// Reads the change stream in the background while the copy runs, so the
/// catch-up does not start by reading (on the server: scanning) the whole
/// copy's history. Nothing is applied and nothing recorded until the
/// catch-up: the ledger keeps the position from before the copy, so a run
/// that dies loses only the backlog.
pub(crate) struct Drain {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: Option<tokio::task::JoinHandle<(ChangeStream<Change>, Backlog)>>,
}

impl Drain {
    /// Starts reading `stream`, holding at most `max` changed `_id`s.
    pub(crate) fn start(
        mut stream: ChangeStream<Change>,
        state: &RewriteState,
        max: usize,
    ) -> Drain {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let state = state.clone();
        let task = tokio::spawn(async move {
            let mut backlog = Backlog {
                ids: Vec::new(),
                token: token_of(&stream),
                gone: None,
                broken: false,
            };
            let mut seen = HashSet::new();
            while !stopped.load(Ordering::Relaxed) {
                if backlog.ids.len() >= max || backlog.gone.is_some() || backlog.broken {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
                match stream.next_if_any().await {
                    Err(_) => backlog.broken = true,
                    Ok(ev) => {
                        if let Some(ev) = ev {
                            match classify(&ev, &state) {
                                Seen::Changed(id) => {
                                    if seen.insert(crate::batch::id_key(&id)) {
                                        backlog.ids.push(id);
                                    }
                                }
                                Seen::Gone(e) => backlog.gone = Some(e),
                                Seen::Modify(_) | Seen::Other => {}
                            }
                        }
                        backlog.token = token_of(&stream);
                    }
                }
            }
            (stream, backlog)
        });
        Drain {
            stop,
            task: Some(task),
        }
    }

    /// Stops reading; returns the stream where it stands and what it read.
    pub(crate) async fn stop(mut self) -> Option<(ChangeStream<Change>, Backlog)> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.task.take()?.await.ok()
    }
}

impl Drop for Drain {
    fn drop(&mut self) {
        // The copy failed: stop reading.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;

    fn event(op: &str, coll: &str, extra: Document) -> Change {
        let mut d = doc! { "operationType": op, "ns": { "db": "app", "coll": coll } };
        d.extend(extra);
        bson::from_document(d).expect("a change event")
    }

    fn state() -> RewriteState {
        RewriteState::new("1_m", "users", true)
    }

    #[test]
    fn writes_to_the_source_name_their_document() {
        for op in ["insert", "update", "replace", "delete"] {
            let ev = event(op, "users", doc! { "documentKey": { "_id": 5 } });
            assert!(
                matches!(classify(&ev, &state()), Seen::Changed(Bson::Int32(5))),
                "{op}"
            );
        }
        // Another collection's writes, and events without a key, are nothing.
        let other = event("insert", "orders", doc! { "documentKey": { "_id": 5 } });
        assert!(matches!(classify(&other, &state()), Seen::Other));
        let keyless = event("insert", "users", doc! {});
        assert!(matches!(classify(&keyless, &state()), Seen::Other));
    }

    #[test]
    fn a_collmod_of_the_source_is_a_marker() {
        let ev = event("modify", "users", doc! { "operationDescription": {} });
        assert!(matches!(classify(&ev, &state()), Seen::Modify(_)));
        let elsewhere = event("modify", "orders", doc! {});
        assert!(matches!(classify(&elsewhere, &state()), Seen::Other));
    }

    #[test]
    fn losing_the_source_stops_the_rewrite() {
        for (op, extra) in [
            (
                "rename",
                doc! { "to": { "db": "app", "coll": "old_users" } },
            ),
            ("drop", doc! {}),
            ("dropDatabase", doc! {}),
            ("invalidate", doc! {}),
        ] {
            let ev = event(op, "users", extra);
            assert!(matches!(classify(&ev, &state()), Seen::Gone(_)), "{op}");
        }
        // Something renamed over the source drops it too.
        let over = event(
            "rename",
            "tmp",
            doc! { "to": { "db": "app", "coll": "users" } },
        );
        assert!(matches!(classify(&over, &state()), Seen::Gone(_)));
        let unrelated = event("rename", "a", doc! { "to": { "db": "app", "coll": "b" } });
        assert!(matches!(classify(&unrelated, &state()), Seen::Other));
    }
}
