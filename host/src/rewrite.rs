//! Copy and swap (`strategy = "rewrite"`).
//!
//! 1. A change stream on the source collection is opened *before* the copy
//!    starts and its resume token kept in the ledger. It is scoped to the
//!    collection so the server skips the copy's own inserts cheaply, and shows
//!    `collMod` as `modify` events (`showExpandedEvents`), which are the
//!    markers below.
//! 2. Every document is transformed into a shadow collection created with the
//!    source's options (validator, collation), in unordered inserts, each
//!    batch committing with its checkpoint (the usual pipeline). The source's
//!    indexes are then built on the shadow.
//! 3. Catch-up: the stream is read in the background during the copy (a
//!    [`Drain`] holds the changed `_id`s); after it, those documents are read
//!    again from the source, transformed again and written to the shadow (or
//!    deleted from it), then the stream is followed in rounds up to a marker (an empty `collMod`, which changes
//!    nothing) until a round is short. The resume token moves with each group.
//! 4. Swap window: the source is fenced (a validator that rejects every
//!    insert and update, so writes fail fast with `DocumentValidationFailure`
//!    and applications retry); the fence's own `modify` event (its validator
//!    carries a unique tag) is awaited on the stream, so everything written
//!    before it is in the shadow; then the source is renamed to the backup and
//!    the shadow to the source. A collection an insert re-created between the
//!    two renames is carried over and dropped. Deletes (which a validator does
//!    not stop) that landed in the window are applied right after the swap.
//!    The backup gets its own options back.
//!
//! `down` renames the backup back over the collection. Each phase is recorded
//! in the ledger, so a run that dies anywhere resumes where it was.

use std::collections::HashSet;

use bson::{doc, rawdoc, Bson, Document, RawArrayBuf, RawDocumentBuf};
use futures_util::TryStreamExt;
use mongodb::change_stream::event::ResumeToken;
use mongodb::change_stream::ChangeStream;
use serde::{Deserialize, Serialize};

use crate::error::{MigrateError, Result};
use crate::ledger::{Checkpoint, LEDGER_COLLECTION};
use crate::target::{Target, Topology};
use crate::wasm::Outcome;
use crate::writer::{Retransform, QUARANTINE_COLLECTION};

/// The parts of a change event a rewrite reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Change {
    operation_type: String,
    ns: Option<Namespace>,
    to: Option<Namespace>,
    document_key: Option<Document>,
    /// What a `collMod` (`modify`) set.
    operation_description: Option<Document>,
}

#[derive(Debug, Deserialize)]
struct Namespace {
    coll: Option<String>,
}

/// The state of a rewrite, kept in the migration's ledger entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RewriteState {
    /// The collection rewritten.
    pub collection: String,
    /// The shadow collection the copy goes into.
    pub shadow: String,
    /// The name the original gets at the swap.
    pub backup: String,
    /// `copy`, `catch-up`, `swap` or `done`.
    pub phase: String,
    /// Where the change stream stands.
    pub token: Option<Bson>,
    /// The source's validator settings before the fence, to put back.
    #[serde(default)]
    pub validation: Option<Document>,
}

/// The names a rewrite of migration `id` uses.
pub fn names(id: &str, collection: &str) -> RewriteState {
    RewriteState {
        collection: collection.into(),
        shadow: format!("mongoshift_shadow_{id}"),
        backup: format!("mongoshift_backup_{id}"),
        phase: "copy".into(),
        token: None,
        validation: None,
    }
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
    let Some(info) = collection_info(target, collection).await? else {
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

/// A rewrite resumed before its swap needs its source still there.
pub(crate) async fn check_source(target: &Target, state: &RewriteState) -> Result<()> {
    if matches!(state.phase.as_str(), "copy" | "catch-up")
        && !exists(target, &state.collection).await?
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

async fn collection_info(target: &Target, collection: &str) -> Result<Option<Document>> {
    let reply = target
        .db()
        .run_command(doc! { "listCollections": 1, "filter": { "name": collection } })
        .await
        .map_err(|e| MigrateError::db(format!("cannot read the options of {collection}"), e))?;
    Ok(reply
        .get_document("cursor")
        .ok()
        .and_then(|c| c.get_array("firstBatch").ok())
        .and_then(|b| b.first())
        .and_then(|d| d.as_document())
        .cloned())
}

async fn exists(target: &Target, collection: &str) -> Result<bool> {
    Ok(collection_info(target, collection).await?.is_some())
}

fn db_err(context: String) -> impl FnOnce(mongodb::error::Error) -> MigrateError {
    move |e| MigrateError::db(context, e)
}

/// Opens the change stream a rewrite follows: the source collection alone
/// (the server skips the copy's own inserts without building events for
/// them), with `modify` events, which serve as markers.
pub(crate) async fn open_stream(
    target: &Target,
    state: &RewriteState,
) -> Result<ChangeStream<Change>> {
    // Short waits: an empty answer means "nothing more for now".
    let source = target.db().collection::<Document>(&state.collection);
    let mut watch = source
        .watch()
        .show_expanded_events(true)
        .max_await_time(std::time::Duration::from_millis(20));
    if let Some(t) = &state.token {
        let token: ResumeToken =
            bson::from_bson(t.clone()).map_err(|e| MigrateError::Database {
                context: "cannot read the change stream position from the ledger".into(),
                message: e.to_string(),
                labels: vec![],
            })?;
        watch = watch.resume_after(token);
    }
    watch.await.map(ChangeStream::with_type).map_err(|e| {
        if matches!(&*e.kind, mongodb::error::ErrorKind::Command(c) if c.code == 286) {
            MigrateError::Refused {
                reason: format!(
                    "the change stream can no longer resume from where the copy of {} started \
                     (ChangeStreamHistoryLost): the oplog did not keep every write made since. \
                     Run `mongoshift down` to drop the partial copy, then retry with a larger \
                     oplog, or use --strategy in-place",
                    state.collection
                ),
            }
        } else {
            MigrateError::db(
                format!(
                    "cannot follow changes to {} (change stream)",
                    state.collection
                ),
                e,
            )
        }
    })
}

pub(crate) fn token_of(stream: &ChangeStream<Change>) -> Option<Bson> {
    stream.resume_token().and_then(|t| bson::to_bson(&t).ok())
}

/// Creates the shadow with the source's options (validator, collation…),
/// dropping a leftover of an earlier run that never recorded its state.
pub(crate) async fn create_shadow(target: &Target, state: &RewriteState) -> Result<()> {
    if exists(target, &state.backup).await? {
        return Err(MigrateError::Refused {
            reason: format!(
                "a backup of an earlier rewrite already exists ({}): drop or rename it first",
                state.backup
            ),
        });
    }
    let _ = target
        .db()
        .collection::<Document>(&state.shadow)
        .drop()
        .await;
    let info = collection_info(target, &state.collection)
        .await?
        .unwrap_or_default();
    let mut cmd = doc! { "create": &state.shadow };
    if let Ok(options) = info.get_document("options") {
        for (k, v) in options {
            cmd.insert(k, v.clone());
        }
    }
    target.db().run_command(cmd).await.map_err(db_err(format!(
        "cannot create the shadow collection {}",
        state.shadow
    )))?;
    Ok(())
}

/// Builds the source's secondary indexes on the shadow.
pub(crate) async fn copy_indexes(target: &Target, state: &RewriteState) -> Result<()> {
    let mut specs = Vec::new();
    let mut cursor = target
        .db()
        .collection::<Document>(&state.collection)
        .list_indexes()
        .await
        .map_err(db_err(format!(
            "cannot list the indexes of {}",
            state.collection
        )))?;
    while let Some(ix) = cursor.try_next().await.map_err(db_err(format!(
        "cannot list the indexes of {}",
        state.collection
    )))? {
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
        specs.push(Bson::Document(spec));
    }
    if specs.is_empty() {
        return Ok(());
    }
    target
        .db()
        .run_command(doc! { "createIndexes": &state.shadow, "indexes": specs })
        .await
        .map_err(db_err(format!(
            "cannot build the indexes of {} on the transformed copy",
            state.collection
        )))?;
    Ok(())
}

/// What the catch-up needs.
pub(crate) struct Follow<'a> {
    pub target: &'a Target,
    pub migration: &'a str,
    pub fence: i64,
    pub quarantine: bool,
    pub retransform: &'a mut dyn Retransform,
    pub progress: &'a crate::progress::Progress,
}

impl Follow<'_> {
    /// Reports a phase of the rewrite as a step of the migration.
    pub(crate) fn phase(&self, step: usize, description: String) {
        self.progress.event(&crate::progress::Event::StepStarted {
            id: self.migration.to_string(),
            step,
            description,
        });
    }
}

/// Reads the stream and applies what it reports to the shadow (or, after the
/// swap, to the renamed collection) until it is idle, or until `marker` was
/// seen, or until the source was renamed away. Returns the number of
/// documents done again.
pub(crate) async fn follow(
    f: &mut Follow<'_>,
    state: &mut RewriteState,
    stream: &mut ChangeStream<Change>,
    until: Until,
    into: &str,
    from: &str,
) -> Result<i64> {
    let mut done = 0;
    let mut ids: Vec<Bson> = Vec::new();
    let mut seen = HashSet::new();
    let mut idle_at = None;
    loop {
        let ev = stream.next_if_any().await.map_err(db_err(format!(
            "cannot follow changes to {}",
            state.collection
        )))?;
        let mut stop = false;
        match &ev {
            None => {
                // At the end of the history: the position did not move
                // between two empty answers.
                let token = token_of(stream);
                if matches!(until, Until::MarkerOrIdle(_)) && idle_at.is_some() && idle_at == token
                {
                    stop = true;
                }
                idle_at = token;
            }
            Some(ev) => {
                idle_at = None;
                match classify(ev, state) {
                    Seen::Modify(described) => {
                        stop = match &until {
                            Until::Marker(m) | Until::MarkerOrIdle(m) => described == *m,
                            Until::Renamed => false,
                        };
                    }
                    Seen::Changed(id) => {
                        if seen.insert(id_key(&id)) {
                            ids.push(id);
                        }
                    }
                    Seen::RenamedToBackup if matches!(until, Until::Renamed) => stop = true,
                    Seen::RenamedToBackup => return Err(renamed(state)),
                    Seen::Gone(e) => return Err(e),
                    Seen::Other => {}
                }
            }
        }
        if ids.len() >= 1000 || ((stop || ev.is_none()) && !ids.is_empty()) {
            done += apply_changes(f, state, std::mem::take(&mut ids), into, from).await?;
            seen.clear();
            state.token = token_of(stream);
            save(f.target, f.migration, f.fence, state).await?;
        }
        if stop {
            state.token = token_of(stream);
            return Ok(done);
        }
    }
}

/// What an event means to a rewrite of `state.collection`.
enum Seen {
    /// A `collMod` of the source, with what it set (a marker, or the fence).
    Modify(Document),
    /// The document with this `_id` was inserted, updated, replaced or deleted.
    Changed(Bson),
    /// The source was renamed to the rewrite's backup (the swap).
    RenamedToBackup,
    /// The source was renamed elsewhere, dropped, or its database dropped.
    Gone(MigrateError),
    /// Nothing to do (another collection, an index build…).
    Other,
}

fn classify(ev: &Change, state: &RewriteState) -> Seen {
    let ours = ev.ns.as_ref().and_then(|n| n.coll.as_deref()) == Some(&state.collection);
    match ev.operation_type.as_str() {
        "modify" if ours => Seen::Modify(ev.operation_description.clone().unwrap_or_default()),
        "insert" | "update" | "replace" | "delete" if ours => ev
            .document_key
            .as_ref()
            .and_then(|k| k.get("_id"))
            .map_or(Seen::Other, |id| Seen::Changed(id.clone())),
        // A rename *to* the source (the swap's second rename) is not a rename
        // of the source.
        "rename" if ours => {
            if ev.to.as_ref().and_then(|n| n.coll.as_deref()) == Some(state.backup.as_str()) {
                Seen::RenamedToBackup
            } else {
                Seen::Gone(renamed(state))
            }
        }
        "drop" if ours => Seen::Gone(MigrateError::Refused {
            reason: format!("{} was dropped during the rewrite", state.collection),
        }),
        "dropDatabase" | "invalidate" => Seen::Gone(MigrateError::Refused {
            reason: format!(
                "{} was dropped during the rewrite ({})",
                state.collection, ev.operation_type
            ),
        }),
        _ => Seen::Other,
    }
}

fn renamed(state: &RewriteState) -> MigrateError {
    MigrateError::Refused {
        reason: format!("{} was renamed during the rewrite", state.collection),
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

/// The key a changed `_id` is deduplicated by.
fn id_key(id: &Bson) -> Vec<u8> {
    bson::to_vec(&doc! { "k": id.clone() }).unwrap_or_default()
}

/// Changes read from the stream while the copy ran, not yet applied to the
/// shadow.
pub(crate) struct Backlog {
    /// The `_id`s changed, each once, in the order first seen.
    ids: Vec<Bson>,
    /// The stream position just after the last event read.
    token: Option<Bson>,
    /// The source was renamed or dropped during the copy.
    gone: Option<MigrateError>,
    /// Reading the stream failed: the backlog is dropped and the catch-up
    /// reads again from the position in the ledger.
    broken: bool,
}

/// Reads the change stream in the background while the copy runs, so the
/// catch-up does not start by reading (on the server: scanning) the whole
/// copy's history. Nothing is applied and nothing recorded until
/// [`finish`]: the ledger keeps the position from before the copy, so a run
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
                                    if seen.insert(id_key(&id)) {
                                        backlog.ids.push(id);
                                    }
                                }
                                Seen::RenamedToBackup => backlog.gone = Some(renamed(&state)),
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

/// When `follow` stops.
pub(crate) enum Until {
    /// A `collMod` of the source with these options was seen (a marker, see
    /// [`mark`]).
    Marker(Document),
    /// The same, or the end of the history reached (a catch-up round: it
    /// only needs to get close; the fenced window makes it exact).
    MarkerOrIdle(Document),
    /// The source was renamed to the backup.
    Renamed,
}

/// Transforms the documents `ids` as they are in `from` now into `into`.
async fn apply_changes(
    f: &mut Follow<'_>,
    state: &RewriteState,
    ids: Vec<Bson>,
    into: &str,
    from: &str,
) -> Result<i64> {
    let n = ids.len() as i64;
    let mut current = Vec::new();
    let mut cursor = f
        .target
        .db()
        .collection::<RawDocumentBuf>(from)
        .find(doc! { "_id": { "$in": ids.clone() } })
        .await
        .map_err(db_err(format!(
            "cannot read changed documents of {}",
            state.collection
        )))?;
    while let Some(d) = cursor.try_next().await.map_err(db_err(format!(
        "cannot read changed documents of {}",
        state.collection
    )))? {
        current.push(d);
    }
    let outcomes = if current.is_empty() {
        Vec::new()
    } else {
        f.retransform.retransform(0, &current)?
    };
    let mut present = HashSet::new();
    let mut upserts = RawArrayBuf::new();
    let mut deletes = RawArrayBuf::new();
    let mut quarantine = RawArrayBuf::new();
    let (mut nu, mut nd, mut nq) = (0, 0, 0);
    for (doc, o) in current.iter().zip(&outcomes) {
        let id = doc
            .get("_id")
            .ok()
            .flatten()
            .map(|v| v.to_raw_bson())
            .unwrap_or(bson::RawBson::Null);
        present.insert(id_key(&Bson::try_from(id.clone()).unwrap_or(Bson::Null)));
        match o {
            Outcome::Keep => {
                upserts.push(rawdoc! { "q": { "_id": id }, "u": doc.clone(), "upsert": true });
                nu += 1;
            }
            Outcome::Replace(r) => {
                let u = RawDocumentBuf::from_bytes(r.clone()).expect("checked");
                upserts.push(rawdoc! { "q": { "_id": id }, "u": u, "upsert": true });
                nu += 1;
            }
            Outcome::Delete => {
                deletes.push(rawdoc! { "q": { "_id": id }, "limit": 1 });
                nd += 1;
            }
            Outcome::Fail(msg) => {
                if !f.quarantine {
                    return Err(MigrateError::DocumentFailed {
                        batch: 0,
                        document: crate::pipeline::show_id(&id),
                        message: msg.clone(),
                    });
                }
                quarantine.push(rawdoc! {
                    "_id": { "migration": f.migration, "id": id.clone() },
                    "migration": f.migration,
                    "collection": state.collection.as_str(),
                    "error": msg.as_str(),
                    "original": doc.clone(),
                    "at": bson::DateTime::now(),
                });
                // Set aside, and kept as it is (as in place).
                upserts.push(rawdoc! { "q": { "_id": id }, "u": doc.clone(), "upsert": true });
                nq += 1;
                nu += 1;
            }
        }
    }
    // Gone from the source: gone from the copy.
    for id in &ids {
        if !present.contains(&id_key(id)) {
            let raw = bson::RawBson::try_from(id.clone()).unwrap_or(bson::RawBson::Null);
            deletes.push(rawdoc! { "q": { "_id": raw }, "limit": 1 });
            nd += 1;
        }
    }
    let db = f.target.db();
    let check = |reply: Document, what: &str| -> Result<()> {
        if let Ok(errors) = reply.get_array("writeErrors") {
            if let Some(Bson::Document(e)) = errors.iter().find(|e| {
                e.as_document().and_then(|d| d.get_i32("code").ok()) != Some(11000)
                    || what != "quarantine"
            }) {
                return Err(MigrateError::Database {
                    context: format!(
                        "cannot apply changes of {} to the copy ({what})",
                        state.collection
                    ),
                    message: e.get_str("errmsg").unwrap_or("write error").to_string(),
                    labels: vec![],
                });
            }
        }
        Ok(())
    };
    if nq > 0 {
        let r = db
            .run_raw_command(rawdoc! { "insert": QUARANTINE_COLLECTION, "documents": quarantine, "ordered": false })
            .await
            .map_err(db_err("cannot quarantine documents".into()))?;
        check(r, "quarantine")?;
    }
    if nu > 0 {
        let r = db
            .run_raw_command(rawdoc! { "update": into, "updates": upserts, "ordered": false })
            .await
            .map_err(db_err(format!(
                "cannot apply changes of {} to the copy",
                state.collection
            )))?;
        check(r, "update")?;
    }
    if nd > 0 {
        let r = db
            .run_raw_command(rawdoc! { "delete": into, "deletes": deletes, "ordered": false })
            .await
            .map_err(db_err(format!(
                "cannot apply changes of {} to the copy",
                state.collection
            )))?;
        check(r, "delete")?;
    }
    Ok(n)
}

/// Records the rewrite's state in the ledger, fenced by the run's token.
pub(crate) async fn save(
    target: &Target,
    migration: &str,
    fence: i64,
    state: &RewriteState,
) -> Result<()> {
    let s = bson::to_bson(state).map_err(|e| MigrateError::Database {
        context: "cannot encode the rewrite state".into(),
        message: e.to_string(),
        labels: vec![],
    })?;
    let r = target
        .db()
        .collection::<Document>(LEDGER_COLLECTION)
        .update_one(
            doc! { "_id": migration, "fence": fence },
            doc! { "$set": { "rewrite": s } },
        )
        .await
        .map_err(db_err(format!("cannot record the rewrite of {migration}")))?;
    if r.matched_count != 1 {
        return Err(MigrateError::LockLost {
            what: format!("the rewrite state of {migration}"),
        });
    }
    Ok(())
}

/// The validator settings of `collection` now.
async fn validation_of(target: &Target, collection: &str) -> Result<Document> {
    let info = collection_info(target, collection)
        .await?
        .unwrap_or_default();
    let options = info.get_document("options").cloned().unwrap_or_default();
    let mut v = Document::new();
    for k in ["validator", "validationLevel", "validationAction"] {
        if let Some(x) = options.get(k) {
            v.insert(k, x.clone());
        }
    }
    Ok(v)
}

/// Rejects every insert and update into `collection` until unfenced. The
/// validator (always false) names this fence, so its `modify` event on the
/// stream is a marker no other `collMod` can be mistaken for; returns what
/// that event describes.
async fn fence_writes(target: &Target, collection: &str) -> Result<Document> {
    let tag = format!("mongoshift fence {}", bson::oid::ObjectId::new().to_hex());
    let options = doc! {
        "validator": { "$expr": { "$eq": [ tag, "writes are held off for a mongoshift rewrite" ] } },
        "validationLevel": "strict",
        "validationAction": "error",
    };
    let mut cmd = doc! { "collMod": collection };
    cmd.extend(options.clone());
    target.db().run_command(cmd).await.map_err(db_err(format!(
        "cannot hold off writes to {collection} for the swap (collMod)"
    )))?;
    Ok(options)
}

/// Puts back the validator settings `v` (as `validation_of` returned them).
pub(crate) async fn unfence(target: &Target, collection: &str, v: &Document) -> Result<()> {
    let mut cmd = doc! { "collMod": collection };
    cmd.insert(
        "validator",
        v.get("validator")
            .cloned()
            .unwrap_or(Bson::Document(Document::new())),
    );
    cmd.insert(
        "validationLevel",
        v.get("validationLevel")
            .cloned()
            .unwrap_or(Bson::String("strict".into())),
    );
    cmd.insert(
        "validationAction",
        v.get("validationAction")
            .cloned()
            .unwrap_or(Bson::String("error".into())),
    );
    target.db().run_command(cmd).await.map_err(db_err(format!(
        "cannot restore the validator of {collection}"
    )))?;
    Ok(())
}

/// Catch-up, the fenced window and the swap. `state.phase` is `catch-up` or
/// `swap` (a resumed run); on return it is `done`.
pub(crate) async fn finish(
    f: &mut Follow<'_>,
    state: &mut RewriteState,
    drained: Option<(ChangeStream<Change>, Backlog)>,
) -> Result<Checkpoint> {
    let target = f.target;
    let mut cp = Checkpoint::default();
    let (source, shadow, backup) = (
        state.collection.clone(),
        state.shadow.clone(),
        state.backup.clone(),
    );
    settle(target).await;
    let started = std::time::Instant::now();
    let mut stream = match drained {
        Some((stream, backlog)) if !backlog.broken && state.phase == "catch-up" => {
            if let Some(e) = backlog.gone {
                return Err(e);
            }
            f.phase(
                3,
                format!(
                    "rewrite: applying the changes made during the copy ({} changed documents read while it ran)",
                    backlog.ids.len()
                ),
            );
            for chunk in backlog.ids.chunks(1000) {
                cp.changed += apply_changes(f, state, chunk.to_vec(), &shadow, &source).await?;
            }
            state.token = backlog.token;
            save(target, f.migration, f.fence, state).await?;
            stream
        }
        _ => {
            if state.phase == "catch-up" {
                f.phase(
                    3,
                    "rewrite: applying the changes made during the copy".into(),
                );
            }
            open_stream(target, state).await?
        }
    };
    if state.phase == "catch-up" {
        // Catch up in rounds, each up to a marker written when it starts,
        // until a round is short: the fenced window then has little to do.
        for _round in 0..20 {
            let started = std::time::Instant::now();
            let marker = mark(target, &source).await?;
            let n = follow(
                f,
                state,
                &mut stream,
                Until::MarkerOrIdle(marker),
                &shadow,
                &source,
            )
            .await?;
            cp.changed += n;
            if n < 1000 || started.elapsed() < std::time::Duration::from_millis(500) {
                break;
            }
        }
        if state.validation.is_none() {
            state.validation = Some(validation_of(target, &state.collection).await?);
        }
        state.phase = "swap".into();
        save(target, f.migration, f.fence, state).await?;
    }
    let validation = state.validation.clone().unwrap_or_default();
    // When the fence went up (not known to a run resumed inside the window).
    let mut window = None;
    if exists(target, &shadow).await? && !exists(target, &backup).await? {
        // The window: writes to the source are refused from here to the swap.
        f.phase(
            4,
            format!(
                "rewrite: swap (writes to {source} refused until it is done; catch-up took {:.1} s, {} changes)",
                started.elapsed().as_secs_f64(),
                cp.changed
            ),
        );
        window = Some(std::time::Instant::now());
        let res: Result<()> = async {
            let marker = fence_writes(target, &source).await?;
            crate::failpoint::hit(crate::failpoint::SWAP_AFTER_FENCE);
            cp.changed += follow(
                f,
                state,
                &mut stream,
                Until::Marker(marker),
                &shadow,
                &source,
            )
            .await?;
            rename(target, &source, &backup, false).await?;
            crate::failpoint::hit(crate::failpoint::SWAP_BEFORE_RENAME);
            Ok(())
        }
        .await;
        if let Err(e) = res {
            // (Not on a collection that is gone: `collMod` would create it.)
            if exists(target, &source).await.unwrap_or(false) {
                let _ = unfence(target, &source, &validation).await;
            }
            return Err(e);
        }
    }
    if exists(target, &shadow).await? {
        // Between the two renames an insert may have created the source
        // again: fence it, carry its documents over, and replace it.
        if let Err(e) = rename(target, &shadow, &source, false).await {
            if !exists(target, &source).await? {
                return Err(e);
            }
            fence_writes(target, &source).await?;
            let mut ids = Vec::new();
            let mut cursor = target
                .db()
                .collection::<Document>(&source)
                .find(doc! {})
                .projection(doc! { "_id": 1 })
                .await
                .map_err(db_err(format!("cannot read {source}")))?;
            while let Some(d) = cursor
                .try_next()
                .await
                .map_err(db_err(format!("cannot read {source}")))?
            {
                if let Some(id) = d.get("_id") {
                    ids.push(id.clone());
                }
            }
            for chunk in ids.chunks(1000) {
                cp.changed += apply_changes(f, state, chunk.to_vec(), &shadow, &source).await?;
            }
            rename(target, &shadow, &source, true).await?;
        }
    }
    crate::failpoint::hit(crate::failpoint::SWAP_AFTER_RENAME);
    // Writes to the collection work again from here: it is the shadow now.
    let window = window.map(|w| w.elapsed());
    // Deletes are not stopped by the fence: apply those that landed before
    // the source was renamed.
    cp.changed += follow(f, state, &mut stream, Until::Renamed, &source, &backup).await?;
    unfence(target, &backup, &validation).await?;
    let refused = window.map_or(String::new(), |w| {
        format!(
            "; writes to {source} were refused for {:.1} s",
            w.as_secs_f64()
        )
    });
    f.phase(
        5,
        format!(
            "rewrite: done ({:.1} s after the copy{refused}; the original is kept as {backup})",
            started.elapsed().as_secs_f64()
        ),
    );
    state.phase = "done".into();
    save(target, f.migration, f.fence, state).await?;
    Ok(cp)
}

/// Waits for DDL a killed earlier run may have left running on the server:
/// a rename of a large collection copies it on some servers (secantusd-rs)
/// and goes on after its client is gone. An empty `collMod` of the ledger
/// (which changes nothing) queues behind it there; the checks of what
/// exists then see where that rename ended.
async fn settle(target: &Target) {
    let _ = target
        .db()
        .run_command(doc! { "collMod": LEDGER_COLLECTION })
        .await;
}

/// Marks the current end of the source's history: an empty `collMod`
/// (it changes nothing) shows on the stream as a `modify` event after every
/// change made before it. Returns what the event describes.
async fn mark(target: &Target, collection: &str) -> Result<Document> {
    target
        .db()
        .run_command(doc! { "collMod": collection })
        .await
        .map_err(db_err(format!(
            "cannot mark the change stream of {collection} (collMod)"
        )))?;
    Ok(Document::new())
}

async fn rename(target: &Target, from: &str, to: &str, drop_target: bool) -> Result<()> {
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

/// `down` after a rewrite: the backup goes back over the collection (writes
/// made to the rewritten collection since are dropped with it). A rewrite
/// that never swapped just loses its shadow.
pub(crate) async fn swap_back(target: &Target, state: &RewriteState) -> Result<u64> {
    settle(target).await;
    if state.phase == "done" || exists(target, &state.backup).await? {
        if exists(target, &state.shadow).await? {
            // Died between the renames: the shadow is the new version.
            rename(target, &state.backup, &state.collection, false)
                .await
                .ok();
            let _ = target
                .db()
                .collection::<Document>(&state.shadow)
                .drop()
                .await;
        } else {
            rename(target, &state.backup, &state.collection, true).await?;
        }
        if let Some(v) = &state.validation {
            unfence(target, &state.collection, v).await?;
        }
    } else {
        let _ = target
            .db()
            .collection::<Document>(&state.shadow)
            .drop()
            .await;
        if state.phase == "swap" {
            if let Some(v) = &state.validation {
                unfence(target, &state.collection, v).await?;
            }
        }
    }
    target
        .db()
        .collection::<Document>(&state.collection)
        .estimated_document_count()
        .await
        .map_err(db_err(format!("cannot count {}", state.collection)))
}
