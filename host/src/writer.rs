//! Committing transformed batches.
//!
//! With transactions (the default where the deployment has them), each batch's
//! writes, the pre-images of the documents it changes, the documents it
//! quarantines and the migration's checkpoint commit in one transaction: after a
//! crash at any point the next run resumes right after the last committed batch,
//! with no document transformed twice and none skipped. Without transactions the
//! checkpoint follows the writes, so a resume may redo the last batch
//! (at-least-once).

use std::time::Duration;

use bson::{doc, rawdoc, Bson, DateTime, Document, RawArrayBuf, RawDocumentBuf};
use mongodb::error::{TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT};
use mongodb::ClientSession;
use serde::{Deserialize, Serialize};

use crate::error::{MigrateError, Result};
use crate::ledger::{Checkpoint, LEDGER_COLLECTION};
use crate::pipeline::{Batch, Transformed};
use crate::target::Target;
use crate::wasm::Outcome;

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
}

pub(crate) struct BatchWriter<'a> {
    target: &'a Target,
    collection: String,
    migration: String,
    opts: WriteOptions,
    session: Option<ClientSession>,
    cp: Checkpoint,
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
        Ok(BatchWriter {
            target,
            collection: collection.into(),
            migration: migration.into(),
            opts,
            session,
            cp,
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
                Err(e) if is_too_large(&e) && hi - lo > 1 && self.opts.tx != TxMode::Migration => {
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
        let next = advance(&self.cp, t, lo, hi);
        let mut backoff = Duration::from_millis(20);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let res = match self.opts.tx {
                TxMode::None => {
                    apply(
                        self.target,
                        &self.collection,
                        &self.migration,
                        &self.opts,
                        t,
                        lo,
                        hi,
                        &next,
                        None,
                    )
                    .await
                }
                TxMode::Migration => {
                    let s = self
                        .session
                        .as_mut()
                        .expect("a session in transaction modes");
                    // No retry inside the migration's transaction: it is aborted as a whole.
                    return apply(
                        self.target,
                        &self.collection,
                        &self.migration,
                        &self.opts,
                        t,
                        lo,
                        hi,
                        &next,
                        Some(s),
                    )
                    .await
                    .map(|()| self.cp = next);
                }
                TxMode::Batch => {
                    let s = self
                        .session
                        .as_mut()
                        .expect("a session in transaction modes");
                    s.start_transaction()
                        .await
                        .map_err(|e| MigrateError::db("cannot start a transaction", e))?;
                    match apply(
                        self.target,
                        &self.collection,
                        &self.migration,
                        &self.opts,
                        t,
                        lo,
                        hi,
                        &next,
                        Some(s),
                    )
                    .await
                    {
                        Ok(()) => commit(s).await,
                        Err(e) => {
                            let _ = s.abort_transaction().await;
                            Err(e)
                        }
                    }
                }
            };
            match res {
                Ok(()) => {
                    self.cp = next;
                    return Ok(());
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

fn advance(cp: &Checkpoint, t: &Transformed, lo: usize, hi: usize) -> Checkpoint {
    let mut next = cp.clone();
    for o in &t.outcomes[lo..hi] {
        match o {
            Outcome::Keep => next.kept += 1,
            Outcome::Replace(_) => next.replaced += 1,
            Outcome::Delete => next.deleted += 1,
            Outcome::Fail(_) => next.failed += 1,
        }
    }
    next.read += (hi - lo) as i64;
    next.batches += 1;
    next.last_id = Some(Bson::try_from(t.batch.id(hi - 1)).unwrap_or(Bson::Null));
    next
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

/// The writes of documents `lo..hi` of a batch, then the checkpoint.
#[allow(clippy::too_many_arguments)]
async fn apply(
    target: &Target,
    collection: &str,
    migration: &str,
    opts: &WriteOptions,
    t: &Transformed,
    lo: usize,
    hi: usize,
    next: &Checkpoint,
    session: Option<&mut ClientSession>,
) -> Result<()> {
    let mut session = session;
    let b = &t.batch;
    let at_least_once = opts.tx == TxMode::None;
    // Failures first: without quarantine a failing document stops the batch
    // before anything of it is written.
    let mut quarantine = RawArrayBuf::new();
    let mut quarantined = 0;
    for (i, o) in t.outcomes.iter().enumerate().take(hi).skip(lo) {
        if let Outcome::Fail(msg) = o {
            if !opts.quarantine {
                return Err(MigrateError::DocumentFailed {
                    batch: b.seq() + 1,
                    document: b.id_text(i),
                    message: msg.clone(),
                });
            }
            quarantine.push(rawdoc! {
                "_id": { "migration": migration, "id": b.id(i) },
                "migration": migration,
                "collection": collection,
                "error": msg.as_str(),
                "original": b.doc(i).to_raw_document_buf(),
                "at": DateTime::now(),
            });
            quarantined += 1;
        }
    }
    if quarantined > 0 {
        let cmd =
            rawdoc! { "insert": QUARANTINE_COLLECTION, "documents": quarantine, "ordered": false };
        let reply = run_cmd(target, cmd, &mut session).await?;
        check_errors(&reply, b, &[], at_least_once)?;
    }
    // Pre-images of everything changed or deleted.
    if let Some(backup) = &opts.pre_images {
        let mut docs = RawArrayBuf::new();
        let mut n = 0;
        for (i, o) in t.outcomes.iter().enumerate().take(hi).skip(lo) {
            let op = match o {
                Outcome::Replace(_) => "replace",
                Outcome::Delete => "delete",
                _ => continue,
            };
            docs.push(rawdoc! { "_id": b.id(i), "op": op, "doc": b.doc(i).to_raw_document_buf() });
            n += 1;
        }
        if n > 0 {
            let cmd = rawdoc! { "insert": backup.as_str(), "documents": docs, "ordered": false };
            let reply = run_cmd(target, cmd, &mut session).await?;
            check_errors(&reply, b, &[], at_least_once)?;
        }
    }
    // Replacements (in chunks well under the 16 MiB command limit) and deletions.
    const CHUNK_BYTES: usize = 8 << 20;
    let mut chunk = RawArrayBuf::new();
    let mut idx = Vec::new();
    let mut bytes = 0;
    for (i, o) in t.outcomes.iter().enumerate().take(hi).skip(lo) {
        if let Outcome::Replace(r) = o {
            if bytes + r.len() > CHUNK_BYTES && !idx.is_empty() {
                let cmd = rawdoc! { "update": collection, "updates": std::mem::take(&mut chunk), "ordered": false };
                let reply = run_cmd(target, cmd, &mut session).await?;
                check_errors(&reply, b, &idx, false)?;
                idx.clear();
                bytes = 0;
            }
            bytes += r.len();
            let u = RawDocumentBuf::from_bytes(r.clone()).expect("checked by the worker");
            chunk.push(rawdoc! { "q": { "_id": b.id(i) }, "u": u, "upsert": false });
            idx.push(i);
        }
    }
    if !idx.is_empty() {
        let cmd = rawdoc! { "update": collection, "updates": chunk, "ordered": false };
        let reply = run_cmd(target, cmd, &mut session).await?;
        check_errors(&reply, b, &idx, false)?;
    }
    let mut deletes = RawArrayBuf::new();
    let mut del_idx = Vec::new();
    for (i, o) in t.outcomes.iter().enumerate().take(hi).skip(lo) {
        if let Outcome::Delete = o {
            deletes.push(rawdoc! { "q": { "_id": b.id(i) }, "limit": 1 });
            del_idx.push(i);
        }
    }
    if !del_idx.is_empty() {
        let cmd = rawdoc! { "delete": collection, "deletes": deletes, "ordered": false };
        let reply = run_cmd(target, cmd, &mut session).await?;
        check_errors(&reply, b, &del_idx, false)?;
    }
    // The checkpoint, fenced: only this run's lease may move it.
    let cp = bson::to_bson(next).map_err(|e| MigrateError::Database {
        context: "cannot encode the checkpoint".into(),
        message: e.to_string(),
        labels: vec![],
    })?;
    let cmd = bson::RawDocumentBuf::from_document(&doc! {
        "update": LEDGER_COLLECTION,
        "updates": [ {
            "q": { "_id": migration, "fence": opts.fence },
            "u": { "$set": {
                "checkpoint": cp,
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
    let reply = run_cmd(target, cmd, &mut session).await?;
    if reply.get_i32("n").unwrap_or(0) != 1 {
        return Err(MigrateError::LockLost {
            what: format!("the checkpoint of batch {}", b.seq() + 1),
        });
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
        if ignore_duplicates && code == 11000 {
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
