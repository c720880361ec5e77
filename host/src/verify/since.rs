//! The documents the application wrote since a migration was applied, read
//! from the change stream: a difference on one of them is the application's
//! doing, not the migration's.
//!
//! The rule: a document is "changed since" when the collection's change
//! stream, read from the position a rewrite recorded just before its swap up
//! to now, holds a write to its `_id`. An in-place run records no stream
//! position, and a time is not enough (a server may accept a start time it
//! cannot honour and answer nothing); when the stream cannot reach back
//! (the oplog rolled over, a server that cannot resume from that position,
//! too many writes to hold), nothing is told apart: every difference counts,
//! with a note that some may be application writes.

use std::time::{Duration, Instant};

use bson::{Bson, Document};
use mongodb::change_stream::event::{ChangeStreamEvent, ResumeToken};

use super::compare::Touched;
use super::report::Since;
use crate::batch::id_key;
use crate::target::Target;

/// Where to read the stream from: a recorded stream position (a rewrite's
/// swap).
#[derive(Debug, Clone)]
pub(crate) struct From(pub(crate) Bson);

/// How long reading the stream may take before giving up.
const MAX_READ: Duration = Duration::from_secs(30);
/// How long the stream must answer nothing to be caught up.
const QUIET: Duration = Duration::from_millis(500);
/// How many written `_id`s are held at most.
const MAX_IDS: usize = 1_000_000;

/// The `_id` keys written to `collection` since `from`, and how they were
/// told; no keys, with [`Since::Unknown`], when the stream cannot say.
pub(crate) async fn touched(target: &Target, collection: &str, from: &From) -> (Touched, Since) {
    match read(target, collection, from).await {
        Ok(ids) => (
            ids,
            Since::ChangeStream {
                from: "the swap".into(),
            },
        ),
        Err(reason) => (Touched::new(), Since::Unknown { reason }),
    }
}

async fn read(
    target: &Target,
    collection: &str,
    from: &From,
) -> std::result::Result<Touched, String> {
    let wait = Duration::from_millis(50);
    let cannot = |e: mongodb::error::Error| {
        let why = e.kind.to_string();
        format!(
            "the change stream cannot reach back to the migration ({})",
            crate::text::bounded(why.as_bytes(), 200)
        )
    };
    // A rewrite's position was taken on its collection's stream, which only
    // that stream resumes from (past the rename of the swap: `startAfter`).
    let token: ResumeToken = bson::from_bson(from.0.clone())
        .map_err(|e| format!("the recorded stream position is unreadable ({e})"))?;
    let coll = target.db().collection::<Document>(collection);
    let stream = coll.watch().max_await_time(wait).start_after(token).await;
    let mut stream = stream
        .map_err(cannot)?
        .with_type::<ChangeStreamEvent<Document>>();
    let started = Instant::now();
    let mut ids = Touched::new();
    let mut quiet = Instant::now();
    // Quiet for a while: the stream has caught up with now (a server may
    // answer empty while it is still scanning toward the start).
    while quiet.elapsed() < QUIET {
        if started.elapsed() > MAX_READ || ids.len() > MAX_IDS {
            return Err(format!(
                "reading the writes since the migration took too long ({} documents written)",
                ids.len()
            ));
        }
        match stream.next_if_any().await.map_err(cannot)? {
            None => {}
            Some(ev) => {
                quiet = Instant::now();
                let ours = ev
                    .ns
                    .as_ref()
                    .and_then(|ns| ns.coll.as_deref())
                    .is_some_and(|c| c == collection);
                if let (true, Some(id)) =
                    (ours, ev.document_key.as_ref().and_then(|k| k.get("_id")))
                {
                    ids.insert(id_key(id));
                }
            }
        }
    }
    Ok(ids)
}
