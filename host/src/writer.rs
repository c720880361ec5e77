//! Committing transformed batches.
//!
//! With transactions (the default where the deployment has them), each batch's
//! writes, the pre-images of the documents it changes, the documents it
//! quarantines and the migration's checkpoint commit in one transaction: after a
//! crash at any point the next run resumes right after the last committed batch,
//! with no document transformed twice and none skipped. Without transactions the
//! checkpoint follows the writes, so a resume may redo the last batch
//! (at-least-once).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bson::{doc, rawdoc, Bson, DateTime, Document, RawArrayBuf, RawDocument, RawDocumentBuf};
use futures_util::{StreamExt, TryStreamExt};
use mongodb::error::{TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT};
use mongodb::ClientSession;
use serde::{Deserialize, Serialize};

use crate::error::{MigrateError, Result};
use crate::ledger::{Checkpoint, LEDGER_COLLECTION};
use crate::pipeline::{Batch, Transformed};
use crate::target::Target;
use crate::wasm::Outcome;

mod pre_images;
mod too_large;

/// The collection holding documents a run set aside.
pub const QUARANTINE_COLLECTION: &str = "mongoshift_quarantine";

/// How a migration's writes are grouped into transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TxMode {
    /// One transaction per batch, with the checkpoint: exactly-once resume.
    #[default]
    Batch,
    /// One transaction for the whole migration (small collections only: the
    /// server's transaction limits apply to all of it).
    Migration,
    /// No transactions (standalone servers): resume is at-least-once.
    None,
}

impl TxMode {
    /// The name used in manifests, flags and plans.
    pub fn as_str(&self) -> &'static str {
        match self {
            TxMode::Batch => "batch",
            TxMode::Migration => "migration",
            TxMode::None => "none",
        }
    }

    /// What a run in this mode guarantees.
    pub fn guarantee(&self) -> &'static str {
        match self {
            TxMode::Batch => "exactly-once: each batch commits with its checkpoint in one transaction; a crash resumes after the last committed batch",
            TxMode::Migration => "all or nothing: the whole migration is one transaction (it must fit the server's transaction limits)",
            TxMode::None => "at-least-once: no transactions; a crash resumes after the last checkpoint and may redo one batch",
        }
    }
}

/// What the writer does besides writing.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Transactions.
    pub tx: TxMode,
    /// The fencing token the ledger entry carries for this run.
    pub fence: i64,
    /// Keep the original of every changed or deleted document in this collection.
    pub pre_images: Option<String>,
    /// Set failing documents aside instead of stopping.
    pub quarantine: bool,
    /// Attempts per batch for transient errors.
    pub max_attempts: u32,
    /// Where the results go.
    pub destination: Destination,
    /// The migration's filter: a document changed so that it no longer
    /// matches is left alone.
    pub filter: Document,
}

/// Where a document-by-document run writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Back into the collection, document by document.
    InPlace {
        /// Replacements or `$set`/`$unset` updates.
        form: UpdateForm,
        /// Read each batch again inside its transaction and transform again
        /// what changed since the reader saw it (never lose a concurrent
        /// application write). Always on for migrations; off only for tests
        /// and benchmarks of the raw write path.
        reread: bool,
    },
    /// Into a shadow collection, which later replaces the source.
    Shadow {
        /// The shadow.
        shadow: String,
        /// Where each original goes as it is, when the originals are kept.
        backup: Option<String>,
    },
}

/// How a document-by-document migration writes its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Each batch's results are written back into the collection.
    InPlace,
    /// Copy and swap: results go into a shadow collection, changes made
    /// meanwhile follow from a change stream, and the shadow replaces the
    /// collection by an atomic rename; the original is kept as a backup.
    Rewrite,
    /// Rewrite for whole-collection migrations where it is allowed, in place
    /// otherwise.
    #[default]
    Auto,
}

impl Strategy {
    /// The name used in manifests, flags and plans.
    pub fn as_str(&self) -> &'static str {
        match self {
            Strategy::InPlace => "in-place",
            Strategy::Rewrite => "rewrite",
            Strategy::Auto => "auto",
        }
    }
}

impl std::str::FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "in-place" => Ok(Strategy::InPlace),
            "rewrite" => Ok(Strategy::Rewrite),
            "auto" => Ok(Strategy::Auto),
            other => Err(format!(
                "must be \"in-place\", \"rewrite\" or \"auto\", not {other:?}"
            )),
        }
    }
}

/// How an in-place write changes a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateForm {
    /// The whole new document.
    Replace,
    /// `$set` of changed and added fields, `$unset` of removed ones, when that
    /// gives exactly the new document (same field order); a replacement
    /// otherwise.
    #[default]
    Set,
}

impl UpdateForm {
    /// The name used in manifests and flags.
    pub fn as_str(&self) -> &'static str {
        match self {
            UpdateForm::Replace => "replace",
            UpdateForm::Set => "set",
        }
    }
}

/// Transforms documents again, when they changed while their batch was in
/// flight.
pub(crate) trait Retransform: Send {
    /// One outcome per document, checked like the first time.
    fn retransform(&mut self, batch: u64, docs: &[RawDocumentBuf]) -> Result<Vec<Outcome>>;
}

pub(crate) struct BatchWriter<'a> {
    target: &'a Target,
    collection: String,
    migration: String,
    opts: WriteOptions,
    session: Option<ClientSession>,
    cp: Checkpoint,
    retransform: Option<Box<dyn Retransform>>,
    /// The pre-image collection held something as the run started.
    pre_images_kept: bool,
}

fn is_transient(e: &MigrateError) -> bool {
    if e.has_label(TRANSIENT_TRANSACTION_ERROR)
        || e.has_label("RetryableWriteError")
        || e.has_label("RetryableError")
    {
        return true;
    }
    let text = e.to_string();
    [
        "I/O error",
        "Connection refused",
        "connection pool",
        "Server selection timeout",
        // The driver gave up on a server that stopped answering its
        // monitor (a stall, not a refusal): the pool is reset, try again.
        "interrupted due to server monitor timeout",
        "WriteConflict",
        "NotWritablePrimary",
        "PrimarySteppedDown",
        "InterruptedAtShutdown",
        "ShutdownInProgress",
    ]
    .iter()
    .any(|m| text.contains(m))
}

fn is_too_large(e: &MigrateError) -> bool {
    let text = e.to_string();
    [
        "TransactionTooLarge",
        "BSONObjectTooLarge",
        "too large",
        "ExceededTimeLimit",
        "MaxTimeMSExpired",
        "TransactionExceededLifetimeLimitSeconds",
    ]
    .iter()
    .any(|m| text.contains(m))
}

impl<'a> BatchWriter<'a> {
    pub(crate) async fn start(
        target: &'a Target,
        collection: &str,
        migration: &str,
        opts: WriteOptions,
        cp: Checkpoint,
        session: Option<ClientSession>,
        retransform: Option<Box<dyn Retransform>>,
    ) -> Result<BatchWriter<'a>> {
        let session = match (opts.tx, session) {
            (TxMode::None, _) => None,
            (_, Some(s)) => Some(s),
            (_, None) => Some(
                target
                    .client()
                    .start_session()
                    .await
                    .map_err(|e| MigrateError::db("cannot start a session", e))?,
            ),
        };
        let mut session = session;
        if opts.tx == TxMode::Migration {
            if let Some(s) = session.as_mut() {
                s.start_transaction()
                    .await
                    .map_err(|e| MigrateError::db("cannot start a transaction", e))?;
            }
        }
        let pre_images_kept = pre_images::any_kept(target, &opts).await?;
        Ok(BatchWriter {
            target,
            collection: collection.into(),
            migration: migration.into(),
            opts,
            session,
            cp,
            retransform,
            pre_images_kept,
        })
    }

    pub(crate) fn checkpoint(&self) -> &Checkpoint {
        &self.cp
    }

    /// Commits a batch. Returns the smaller batch size it had to use when the
    /// server refused the whole batch as too large or too slow.
    pub(crate) async fn write(&mut self, t: &Transformed) -> Result<Option<usize>> {
        let mut stack = vec![(0, t.batch.len())];
        let mut shrunk = None;
        while let Some((lo, hi)) = stack.pop() {
            match self.commit_range(t, lo, hi).await {
                Ok(()) => {}
                Err(e)
                    if (is_too_large(&e)
                        || matches!(e, MigrateError::TooLargeForTransaction { .. }))
                        && hi - lo > 1
                        && self.opts.tx != TxMode::Migration =>
                {
                    let mid = lo + (hi - lo) / 2;
                    stack.push((mid, hi));
                    stack.push((lo, mid));
                    shrunk = Some(mid - lo);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(shrunk)
    }

    async fn commit_range(&mut self, t: &Transformed, lo: usize, hi: usize) -> Result<()> {
        let mut backoff = Duration::from_millis(20);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let tx = self.opts.tx;
            let mut session = match tx {
                TxMode::None => None,
                _ => Some(
                    self.session
                        .as_mut()
                        .expect("a session in transaction modes"),
                ),
            };
            if let (TxMode::Batch, Some(s)) = (tx, session.as_mut()) {
                s.start_transaction()
                    .await
                    .map_err(|e| MigrateError::db("cannot start a transaction", e))?;
            }
            let res = apply(
                self.target,
                &self.collection,
                &self.migration,
                &self.opts,
                &mut self.retransform,
                &self.cp,
                t,
                (lo, hi),
                self.pre_images_kept,
                session.as_deref_mut(),
            )
            .await;
            let res = match (tx, session) {
                (TxMode::Batch, Some(s)) => match res {
                    Ok(next) => {
                        crate::failpoint::hit(crate::failpoint::BATCH_BEFORE_COMMIT);
                        commit(s).await.map(|()| next)
                    }
                    Err(e) => {
                        let _ = s.abort_transaction().await;
                        Err(e)
                    }
                },
                // No retry inside the migration's transaction: it is aborted as a whole.
                (TxMode::Migration, _) => {
                    self.cp = res.map_err(|e| {
                        too_large::refusal(&e, t, &self.opts, (lo, hi), attempt, true).unwrap_or(e)
                    })?;
                    return Ok(());
                }
                _ => res,
            };
            match res {
                Ok(next) => {
                    self.cp = next;
                    crate::failpoint::hit(crate::failpoint::BATCH_AFTER_COMMIT);
                    return Ok(());
                }
                Err(e) if tx != TxMode::None => {
                    let last = !is_transient(&e) || attempt >= self.opts.max_attempts;
                    if let Some(refused) =
                        too_large::refusal(&e, t, &self.opts, (lo, hi), attempt, last)
                    {
                        return Err(refused);
                    }
                    if last {
                        return Err(e);
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
                Err(e) if is_transient(&e) && attempt < self.opts.max_attempts => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Commits the migration's transaction (in that mode) and returns the final
    /// checkpoint.
    pub(crate) async fn finish(mut self) -> Result<Checkpoint> {
        if self.opts.tx == TxMode::Migration {
            if let Some(s) = self.session.as_mut() {
                commit(s).await?;
            }
        }
        Ok(self.cp)
    }

    /// Aborts an open transaction after an error.
    pub(crate) async fn abandon(mut self) {
        if let Some(s) = self.session.as_mut() {
            if self.opts.tx == TxMode::Migration {
                let _ = s.abort_transaction().await;
            }
        }
    }
}

async fn commit(s: &mut ClientSession) -> Result<()> {
    for _ in 0..5 {
        match s.commit_transaction().await {
            Ok(()) => return Ok(()),
            Err(e) if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => return Err(MigrateError::db("cannot commit the batch", e)),
        }
    }
    Err(MigrateError::Database {
        context: "cannot commit the batch".into(),
        message: "the commit result stayed unknown after 5 tries".into(),
        labels: vec![TRANSIENT_TRANSACTION_ERROR.into()],
    })
}

async fn run_cmd(
    target: &Target,
    cmd: RawDocumentBuf,
    session: &mut Option<&mut ClientSession>,
) -> Result<Document> {
    let op = target.db().run_raw_command(cmd);
    match session {
        Some(s) => op.session(&mut **s).await,
        None => op.await,
    }
    .map_err(|e| MigrateError::db("cannot write the batch", e))
}

/// One document of a batch as it will be written: as the transform saw it, or
/// as re-read and re-transformed because it changed in the meantime.
struct Item<'a> {
    /// Its index in the batch (for messages).
    i: usize,
    doc: &'a RawDocument,
    outcome: &'a Outcome,
}

/// What the re-read of a batch found: documents changed since the reader saw
/// them (re-transformed) and documents gone or no longer matching the filter.
#[derive(Default)]
struct Fresh {
    /// Batch index → (current document, its new outcome).
    changed: BTreeMap<usize, (RawDocumentBuf, Outcome)>,
    gone: Vec<usize>,
}

impl Fresh {
    fn items<'a>(&'a self, t: &'a Transformed, range: std::ops::Range<usize>) -> Vec<Item<'a>> {
        range
            .filter(|i| !self.gone.contains(i))
            .map(|i| match self.changed.get(&i) {
                Some((doc, outcome)) => Item { i, doc, outcome },
                None => Item {
                    i,
                    doc: t.batch.doc(i),
                    outcome: &t.outcomes[i],
                },
            })
            .collect()
    }
}

/// The documents with these `_id`s that still match the filter, as they are
/// now (inside the batch's transaction when there is one), by `id_key`.
/// Which documents `read_current` reads.
enum Ids {
    List(Vec<Bson>),
    Range(Bson, Bson),
}

async fn read_current(
    target: &Target,
    collection: &str,
    filter: &Document,
    ids: Ids,
    session: &mut Option<&mut ClientSession>,
) -> Result<HashMap<Vec<u8>, RawDocumentBuf>> {
    let by_id = match ids {
        Ids::List(ids) => doc! { "_id": { "$in": ids } },
        // A whole batch is a run of consecutive `_id`s: one range scan is
        // much cheaper than a lookup per document. Documents inserted in the
        // range since are returned too and ignored.
        Ids::Range(first, last) => doc! { "_id": { "$gte": first, "$lte": last } },
    };
    let q = if filter.is_empty() {
        by_id
    } else {
        doc! { "$and": [ filter.clone(), by_id ] }
    };
    let coll = target.db().collection::<RawDocumentBuf>(collection);
    let mut current = HashMap::new();
    let mut keep = |d: RawDocumentBuf| {
        current.insert(id_key(d.get("_id").ok().flatten()), d);
    };
    match session {
        Some(s) => {
            let mut cursor = coll
                .find(q)
                .session(&mut **s)
                .await
                .map_err(|e| MigrateError::db("cannot re-read the batch", e))?;
            while let Some(d) = cursor
                .next(s)
                .await
                .transpose()
                .map_err(|e| MigrateError::db("cannot re-read the batch", e))?
            {
                keep(d);
            }
        }
        None => {
            let mut cursor = coll
                .find(q)
                .await
                .map_err(|e| MigrateError::db("cannot re-read the batch", e))?;
            while let Some(d) = cursor
                .try_next()
                .await
                .map_err(|e| MigrateError::db("cannot re-read the batch", e))?
            {
                keep(d);
            }
        }
    }
    Ok(current)
}

/// Re-reads documents `wanted` of a batch and re-transforms those that changed
/// since they were last seen. `seen(i)` is what document `i` is expected to be
/// now: as the reader saw it, or (after a write that may have applied) the
/// written version.
#[allow(clippy::too_many_arguments)]
async fn reread<'s>(
    target: &Target,
    collection: &str,
    filter: &Document,
    retransform: &mut Option<Box<dyn Retransform>>,
    b: &Batch,
    wanted: &[usize],
    seen: &dyn Fn(usize) -> Vec<Option<&'s [u8]>>,
    session: &mut Option<&mut ClientSession>,
) -> Result<Fresh> {
    let id = |i: usize| Bson::try_from(b.id(i)).unwrap_or(Bson::Null);
    let contiguous = wanted.windows(2).all(|w| w[1] == w[0] + 1);
    // A range only between two `_id`s of the same type: every `_id` sorted
    // between them is then in the same comparison bracket and matched.
    let same_type = |lo: usize, hi: usize| b.id(lo).element_type() == b.id(hi).element_type();
    let ids = match (wanted.first(), wanted.last()) {
        (Some(&lo), Some(&hi)) if contiguous && wanted.len() > 1 && same_type(lo, hi) => {
            Ids::Range(id(lo), id(hi))
        }
        _ => Ids::List(wanted.iter().map(|&i| id(i)).collect()),
    };
    let mut current = read_current(target, collection, filter, ids, session).await?;
    let mut fresh = Fresh::default();
    let mut changed = Vec::new();
    for &i in wanted {
        let expected = seen(i);
        match current.remove(&id_key(b.doc(i).get("_id").ok().flatten())) {
            // Gone (deleted, or no longer matching): if that is what we did, fine.
            None => fresh.gone.push(i),
            Some(now) if expected.contains(&Some(now.as_bytes())) => {}
            Some(now) => changed.push((i, now)),
        }
    }
    if !changed.is_empty() {
        let Some(rt) = retransform.as_mut() else {
            return Err(MigrateError::Database {
                context: format!("batch {} changed while it was transformed", b.seq() + 1),
                message: "this run cannot transform documents again".into(),
                labels: vec![],
            });
        };
        let docs: Vec<RawDocumentBuf> = changed.iter().map(|(_, d)| d.clone()).collect();
        let outcomes = rt.retransform(b.seq(), &docs)?;
        for ((i, now), o) in changed.into_iter().zip(outcomes) {
            fresh.changed.insert(i, (now, o));
        }
    }
    Ok(fresh)
}

fn id_key(id: Option<bson::RawBsonRef<'_>>) -> Vec<u8> {
    let mut d = RawDocumentBuf::new();
    if let Some(id) = id {
        d.append("k", id.to_raw_bson());
    }
    d.into_bytes()
}

/// The `$set`/`$unset` update turning `old` into `new`, when applying it gives
/// exactly `new` (same fields in the same order): fields `new` keeps stay where
/// they are and fields it adds come last, in the order the server appends
/// them. `None` when only a replacement can produce `new`; `Some(None)` when
/// nothing changes.
pub(crate) fn diff_update(old: &RawDocument, new: &RawDocument) -> Option<Option<RawDocumentBuf>> {
    let mut set = RawDocumentBuf::new();
    let mut unset = RawDocumentBuf::new();
    let mut old_iter = old.iter();
    let mut new_iter = new.iter().peekable();
    // Walk both in order: every old field is either the next new field (same
    // or changed value) or removed.
    for o in old_iter.by_ref() {
        let (key, value) = o.ok()?;
        if key.contains('.') || key.starts_with('$') {
            return None;
        }
        match new_iter.peek() {
            Some(Ok((nk, nv))) if *nk == key => {
                if value != *nv {
                    set.append(key, nv.to_raw_bson());
                }
                new_iter.next();
            }
            _ => {
                if new.get(key).ok()?.is_some() {
                    // Kept but moved: only a replacement keeps the new order.
                    return None;
                }
                unset.append(key, "");
            }
        }
    }
    // MongoDB (5.0 and later) and secantusd-rs apply a `$set`'s fields in
    // lexicographic order of their names (numeric names in numeric order), so
    // added fields land in that order whatever order the update lists them in.
    let mut last_added: Option<&str> = None;
    for n in new_iter {
        let (key, value) = n.ok()?;
        if key.contains('.') || key.starts_with('$') || old.get(key).ok()?.is_some() {
            return None;
        }
        let numeric = !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit());
        if numeric || last_added.is_some_and(|prev| prev.as_bytes() >= key.as_bytes()) {
            return None;
        }
        last_added = Some(key);
        set.append(key, value.to_raw_bson());
    }
    if set.is_empty() && unset.is_empty() {
        return Some(None);
    }
    let mut u = RawDocumentBuf::new();
    if !set.is_empty() {
        u.append("$set", set);
    }
    if !unset.is_empty() {
        u.append("$unset", unset);
    }
    Some(Some(u))
}

/// The query matching `doc` only while it is as the transform saw it (runs
/// without transactions): its `_id` and the value of every top-level field.
pub(crate) fn unchanged_query(doc: &RawDocument) -> RawDocumentBuf {
    let mut q = RawDocumentBuf::new();
    for (k, v) in doc.iter().flatten() {
        if k.contains('.') || k.starts_with('$') {
            continue;
        }
        q.append(k, v.to_raw_bson());
    }
    q
}

/// The writes of documents `lo..hi` of a batch, then the checkpoint. Returns
/// the checkpoint written.
#[allow(clippy::too_many_arguments)]
async fn apply(
    target: &Target,
    collection: &str,
    migration: &str,
    opts: &WriteOptions,
    retransform: &mut Option<Box<dyn Retransform>>,
    cp: &Checkpoint,
    t: &Transformed,
    (lo, hi): (usize, usize),
    pre_images_kept: bool,
    session: Option<&mut ClientSession>,
) -> Result<Checkpoint> {
    let mut session = session;
    let b = &t.batch;
    let at_least_once = opts.tx == TxMode::None;
    // In place, inside a transaction: first read the batch again, so documents
    // an application changed since the reader saw them are transformed again
    // from what they are now. The read fixes the transaction's snapshot: a
    // write committed after it conflicts with ours and the batch is retried.
    let fresh = match &opts.destination {
        Destination::InPlace { reread: true, .. } if !at_least_once => {
            let wanted: Vec<usize> = (lo..hi).collect();
            let as_read = |i: usize| vec![Some(b.doc(i).as_bytes())];
            reread(
                target,
                collection,
                &opts.filter,
                retransform,
                b,
                &wanted,
                &as_read,
                &mut session,
            )
            .await?
        }
        _ => Fresh::default(),
    };
    let items = fresh.items(t, lo..hi);
    let mut next = cp.clone();
    for it in &items {
        count(&mut next, it.outcome, 1);
    }
    next.read += (hi - lo) as i64;
    next.batches += 1;
    next.last_id = Some(Bson::try_from(b.id(hi - 1)).unwrap_or(Bson::Null));
    next.changed += fresh.changed.len() as i64;
    next.gone += fresh.gone.len() as i64;

    // In a transaction the checkpoint goes first: a document the server
    // cannot take inside a transaction is then refused by its own write,
    // instead of leaving a later statement waiting until the transaction
    // expires (secantusd-rs does that).
    if !at_least_once {
        write_checkpoint(target, migration, opts.fence, &next, b, &mut session).await?;
    }
    quarantine(target, collection, migration, opts, &items, b, &mut session).await?;
    match &opts.destination {
        Destination::Shadow { shadow, backup } => {
            let copies = items.iter().filter_map(|it| {
                let doc = match it.outcome {
                    // A document set aside stays as it is, as in place.
                    Outcome::Keep | Outcome::Fail(_) => it.doc,
                    Outcome::Replace(r) => {
                        RawDocument::from_bytes(r).expect("checked by the worker")
                    }
                    Outcome::Delete => return None,
                };
                Some((it.i, doc))
            });
            let copies: Vec<(usize, &RawDocument)> = copies.collect();
            insert_all(target, shadow, &copies, b, at_least_once, &mut session).await?;
            if let Some(backup) = backup {
                let originals: Vec<(usize, &RawDocument)> =
                    items.iter().map(|it| (it.i, it.doc)).collect();
                insert_all(target, backup, &originals, b, at_least_once, &mut session).await?;
            }
        }
        Destination::InPlace { form, .. } => {
            let kept = pre_images_kept;
            pre_images::write(opts, &items, b, at_least_once, kept, target, &mut session).await?;
            let mut missed = if at_least_once {
                write_conditionally(target, collection, *form, &items, b).await?
            } else {
                write_in_place(target, collection, *form, &items, b, &mut session).await?;
                Vec::new()
            };
            // Without a transaction the writes are conditional: a document
            // changed by another client between the read and the write is left
            // alone by it, read again, transformed again and written again.
            let mut rounds = 0;
            let mut latest: HashMap<usize, (RawDocumentBuf, Outcome)> = HashMap::new();
            while !missed.is_empty() {
                rounds += 1;
                if rounds > 10 {
                    return Err(MigrateError::Database {
                        context: format!("batch {} keeps changing", b.seq() + 1),
                        message: format!(
                            "{} document(s) were changed by other clients in 10 rounds in a row",
                            missed.len()
                        ),
                        labels: vec![],
                    });
                }
                // What each document should be now if our write applied.
                let written = |i: usize| -> Vec<Option<&[u8]>> {
                    let o = latest
                        .get(&i)
                        .map(|(_, o)| o)
                        .or_else(|| items.iter().find(|it| it.i == i).map(|it| it.outcome));
                    match o {
                        Some(Outcome::Replace(r)) => vec![Some(r.as_slice())],
                        _ => vec![],
                    }
                };
                let f = reread(
                    target,
                    collection,
                    &opts.filter,
                    retransform,
                    b,
                    &missed,
                    &written,
                    &mut session,
                )
                .await?;
                next.changed += f.changed.len() as i64;
                for (i, (doc, o)) in f.changed {
                    let before = latest.get(&i).map(|(_, o)| o.clone()).or_else(|| {
                        items
                            .iter()
                            .find(|it| it.i == i)
                            .map(|it| it.outcome.clone())
                    });
                    if let Some(before) = before {
                        count(&mut next, &before, -1);
                    }
                    count(&mut next, &o, 1);
                    latest.insert(i, (doc, o));
                }
                let again: Vec<Item<'_>> = missed
                    .iter()
                    .filter_map(|i| {
                        latest.get(i).map(|(doc, outcome)| Item {
                            i: *i,
                            doc,
                            outcome,
                        })
                    })
                    .filter(|it| f.gone.iter().all(|g| *g != it.i))
                    .collect();
                quarantine(target, collection, migration, opts, &again, b, &mut session).await?;
                pre_images::write(opts, &again, b, at_least_once, kept, target, &mut session)
                    .await?;
                missed = write_conditionally(target, collection, *form, &again, b).await?;
            }
        }
    }
    if at_least_once {
        crate::failpoint::hit(crate::failpoint::BATCH_BEFORE_CHECKPOINT);
        write_checkpoint(target, migration, opts.fence, &next, b, &mut session).await?;
    }
    Ok(next)
}

/// The checkpoint, fenced: only this run's lease may move it.
async fn write_checkpoint(
    target: &Target,
    migration: &str,
    fence: i64,
    next: &Checkpoint,
    b: &Batch,
    session: &mut Option<&mut ClientSession>,
) -> Result<()> {
    let cpb = bson::to_bson(next).map_err(|e| MigrateError::Database {
        context: "cannot encode the checkpoint".into(),
        message: e.to_string(),
        labels: vec![],
    })?;
    let cmd = bson::RawDocumentBuf::from_document(&doc! {
        "update": LEDGER_COLLECTION,
        "updates": [ {
            "q": { "_id": migration, "fence": fence },
            "u": { "$set": {
                "checkpoint": cpb,
                "matched": next.read,
                "modified": next.replaced + next.deleted,
                "quarantined": next.failed,
            } },
        } ],
    })
    .map_err(|e| MigrateError::Database {
        context: "cannot encode the checkpoint".into(),
        message: e.to_string(),
        labels: vec![],
    })?;
    let reply = run_cmd(target, cmd, session).await?;
    if reply.get_i32("n").unwrap_or(0) != 1 {
        return Err(MigrateError::LockLost {
            what: format!("the checkpoint of batch {}", b.seq() + 1),
        });
    }
    Ok(())
}

fn count(cp: &mut Checkpoint, o: &Outcome, delta: i64) {
    match o {
        Outcome::Keep => cp.kept += delta,
        Outcome::Replace(_) => cp.replaced += delta,
        Outcome::Delete => cp.deleted += delta,
        Outcome::Fail(_) => cp.failed += delta,
    }
}

/// Failing documents: without quarantine the first stops the batch before
/// anything of it is written; with it they are set aside.
async fn quarantine(
    target: &Target,
    collection: &str,
    migration: &str,
    opts: &WriteOptions,
    items: &[Item<'_>],
    b: &Batch,
    session: &mut Option<&mut ClientSession>,
) -> Result<()> {
    let mut docs = RawArrayBuf::new();
    let mut n = 0;
    for it in items {
        if let Outcome::Fail(msg) = it.outcome {
            if !opts.quarantine {
                return Err(MigrateError::DocumentFailed {
                    batch: b.seq() + 1,
                    document: show_raw_id(it.doc),
                    message: msg.clone(),
                });
            }
            docs.push(rawdoc! {
                "_id": { "migration": migration, "id": b.id(it.i) },
                "migration": migration,
                "collection": collection,
                "error": msg.as_str(),
                "original": it.doc.to_raw_document_buf(),
                "at": DateTime::now(),
            });
            n += 1;
        }
    }
    if n > 0 {
        let cmd = rawdoc! { "insert": QUARANTINE_COLLECTION, "documents": docs, "ordered": false };
        let reply = run_cmd(target, cmd, session).await?;
        check_errors(&reply, b, &[], opts.tx == TxMode::None)?;
    }
    Ok(())
}

fn show_raw_id(doc: &RawDocument) -> String {
    crate::pipeline::show_id(
        &doc.get("_id")
            .ok()
            .flatten()
            .map_or(bson::RawBson::Null, |v| v.to_raw_bson()),
    )
}

/// The update statement of one document: a replacement or `$set`/`$unset`
/// (`None` when nothing changes).
fn update_of(form: UpdateForm, it: &Item<'_>) -> Option<RawDocumentBuf> {
    let Outcome::Replace(r) = it.outcome else {
        return None;
    };
    let new = RawDocument::from_bytes(r).expect("checked by the worker");
    match form {
        UpdateForm::Replace => Some(new.to_raw_document_buf()),
        UpdateForm::Set => match diff_update(it.doc, new) {
            Some(Some(u)) => Some(u),
            Some(None) => None,
            None => Some(new.to_raw_document_buf()),
        },
    }
}

/// Replacements or `$set`/`$unset` updates by `_id` (in chunks well under the
/// 16 MiB command limit), then deletions.
async fn write_in_place(
    target: &Target,
    collection: &str,
    form: UpdateForm,
    items: &[Item<'_>],
    b: &Batch,
    session: &mut Option<&mut ClientSession>,
) -> Result<()> {
    const CHUNK_BYTES: usize = 8 << 20;
    let mut chunk = RawArrayBuf::new();
    let mut idx = Vec::new();
    let mut bytes = 0;
    for it in items {
        let Some(u) = update_of(form, it) else {
            continue;
        };
        let len = u.as_bytes().len();
        if bytes + len > CHUNK_BYTES && !idx.is_empty() {
            let cmd = rawdoc! { "update": collection, "updates": std::mem::take(&mut chunk), "ordered": false };
            let reply = run_cmd(target, cmd, session).await?;
            check_errors(&reply, b, &idx, false)?;
            idx.clear();
            bytes = 0;
        }
        bytes += len;
        chunk.push(rawdoc! { "q": { "_id": b.id(it.i) }, "u": u, "upsert": false });
        idx.push(it.i);
    }
    if !idx.is_empty() {
        let cmd = rawdoc! { "update": collection, "updates": chunk, "ordered": false };
        let reply = run_cmd(target, cmd, session).await?;
        check_errors(&reply, b, &idx, false)?;
    }
    let mut deletes = RawArrayBuf::new();
    let mut del_idx = Vec::new();
    for it in items {
        if let Outcome::Delete = it.outcome {
            deletes.push(rawdoc! { "q": { "_id": b.id(it.i) }, "limit": 1 });
            del_idx.push(it.i);
        }
    }
    if !del_idx.is_empty() {
        let cmd = rawdoc! { "delete": collection, "deletes": deletes, "ordered": false };
        let reply = run_cmd(target, cmd, session).await?;
        check_errors(&reply, b, &del_idx, false)?;
    }
    Ok(())
}

/// Without a transaction: each write applies only if the document is still as
/// the transform saw it (every top-level field equal). One command per
/// document, many in flight, so each one's result is known. Returns the batch
/// indexes of the documents whose write did not apply.
async fn write_conditionally(
    target: &Target,
    collection: &str,
    form: UpdateForm,
    items: &[Item<'_>],
    b: &Batch,
) -> Result<Vec<usize>> {
    let mut cmds = Vec::new();
    for it in items {
        let cmd = match it.outcome {
            Outcome::Delete => rawdoc! {
                "delete": collection,
                "deletes": [ { "q": unchanged_query(it.doc), "limit": 1 } ],
            },
            Outcome::Replace(_) => match update_of(form, it) {
                Some(u) => rawdoc! {
                    "update": collection,
                    "updates": [ { "q": unchanged_query(it.doc), "u": u, "upsert": false } ],
                },
                None => continue,
            },
            _ => continue,
        };
        cmds.push((it.i, cmd));
    }
    let replies: Vec<(usize, Result<Document>)> = futures_util::stream::iter(cmds)
        .map(|(i, cmd)| async move { (i, run_cmd(target, cmd, &mut None).await) })
        .buffer_unordered(32)
        .collect()
        .await;
    let mut missed = Vec::new();
    for (i, reply) in replies {
        let reply = reply?;
        check_errors(&reply, b, &[i], false)?;
        if reply.get_i32("n").unwrap_or(0) == 0 {
            missed.push(i);
        }
    }
    missed.sort_unstable();
    Ok(missed)
}

/// Copy-and-swap: documents of a batch (what each becomes, into the
/// shadow; each original, into the backup) in unordered inserts, in chunks
/// well under the 16 MiB command limit. Without transactions a redone batch
/// finds its documents already there, which is fine.
async fn insert_all(
    target: &Target,
    into: &str,
    docs: &[(usize, &RawDocument)],
    b: &Batch,
    at_least_once: bool,
    session: &mut Option<&mut ClientSession>,
) -> Result<()> {
    const CHUNK_BYTES: usize = 8 << 20;
    let mut chunk = RawArrayBuf::new();
    let mut idx = Vec::new();
    let mut bytes = 0;
    for &(i, doc) in docs {
        if bytes + doc.as_bytes().len() > CHUNK_BYTES && !idx.is_empty() {
            let cmd = rawdoc! { "insert": into, "documents": std::mem::take(&mut chunk), "ordered": false };
            let reply = run_cmd(target, cmd, session).await?;
            check_errors(&reply, b, &idx, at_least_once)?;
            idx.clear();
            bytes = 0;
        }
        bytes += doc.as_bytes().len();
        chunk.push(doc.to_raw_document_buf());
        idx.push(i);
    }
    if !idx.is_empty() {
        let cmd = rawdoc! { "insert": into, "documents": chunk, "ordered": false };
        let reply = run_cmd(target, cmd, session).await?;
        check_errors(&reply, b, &idx, at_least_once)?;
    }
    Ok(())
}

fn check_errors(reply: &Document, b: &Batch, idx: &[usize], ignore_duplicates: bool) -> Result<()> {
    let Ok(errors) = reply.get_array("writeErrors") else {
        return Ok(());
    };
    for e in errors {
        let Bson::Document(e) = e else { continue };
        let code = e.get_i32("code").unwrap_or_default();
        // A document written again (a redone batch) is already there; a
        // duplicate on another unique index is a real refusal.
        let again = match e.get_document("keyPattern") {
            Ok(k) => k.keys().eq(["_id"]),
            Err(_) => e
                .get_str("errmsg")
                .is_ok_and(|m| m.contains(" index: _id_ ")),
        };
        if ignore_duplicates && code == 11000 && again {
            continue;
        }
        let at = e.get_i32("index").map_or(0, |i| i as usize);
        return Err(MigrateError::WriteRejected {
            batch: b.seq() + 1,
            document: idx
                .get(at)
                .map_or_else(|| "?".to_string(), |&i| b.id_text(i)),
            message: e.get_str("errmsg").unwrap_or("write error").to_string(),
            code,
        });
    }
    Ok(())
}
