//! The ledger: one document per migration in the target database.
//!
//! Every write carries the fencing token of the run's lease and only applies if
//! no newer lease has written the entry (`fence <= token`). Where the deployment
//! has transactions, the write also checks and renews the lease in the same
//! transaction, so a run that lost its lease cannot write at all.

use std::time::Duration;

use bson::{doc, DateTime};
use futures_util::TryStreamExt;
use mongodb::error::{TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT};
use mongodb::Collection;
use serde::{Deserialize, Serialize};

use crate::error::{MigrateError, Result};
use crate::lock::{is_duplicate_key, Lease};
use crate::target::Target;

/// The collection holding the ledger.
pub const LEDGER_COLLECTION: &str = "mongoshift_ledger";

/// Where a migration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum State {
    /// A run is applying it, or died while applying it.
    Running,
    /// Applied.
    Applied,
    /// Applied, with some documents set aside in the quarantine collection.
    AppliedWithErrors,
    /// The last attempt failed; `error` says why.
    Failed,
    /// Applied, then rolled back.
    RolledBack,
}

impl State {
    /// The name used in the ledger and in output.
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Running => "running",
            State::Applied => "applied",
            State::AppliedWithErrors => "applied_with_errors",
            State::Failed => "failed",
            State::RolledBack => "rolled_back",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One ledger document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The migration id.
    #[serde(rename = "_id")]
    pub id: String,
    /// Its description.
    #[serde(default)]
    pub description: String,
    /// Its kind.
    pub kind: String,
    /// The checksum of its files when last run.
    pub checksum: String,
    /// Where it stands.
    pub state: State,
    /// When the last run of it started.
    pub started_at: Option<DateTime>,
    /// When the last run of it ended.
    pub finished_at: Option<DateTime>,
    /// When it was last applied.
    pub applied_at: Option<DateTime>,
    /// Documents matched by the last run.
    #[serde(default)]
    pub matched: i64,
    /// Documents modified by the last run.
    #[serde(default)]
    pub modified: i64,
    /// Wall time of the last run in milliseconds.
    #[serde(default)]
    pub duration_ms: i64,
    /// Why the last run failed.
    pub error: Option<String>,
    /// The fencing token of the last writer.
    #[serde(default)]
    pub fence: i64,
    /// Host and pid of the last writer.
    #[serde(default)]
    pub run_by: String,
    /// mongoshift version of the last writer.
    #[serde(default)]
    pub tool_version: String,
    /// Which way the last run went (`up` or `down`).
    #[serde(default)]
    pub direction: Option<crate::progress::Direction>,
    /// Progress of a document-by-document run, committed with each batch.
    #[serde(default)]
    pub checkpoint: Option<Checkpoint>,
    /// The collection holding pre-images of changed documents, when kept.
    #[serde(default)]
    pub pre_images: Option<String>,
    /// Documents set aside in the quarantine collection.
    #[serde(default)]
    pub quarantined: i64,
    /// The server session (`lsid`) the last run wrote its batches in, so a
    /// later run can end that session's open transaction if the run died.
    #[serde(default)]
    pub session: Option<bson::Document>,
    /// Where a copy-and-swap run stands, and the names of its shadow and
    /// backup collections (kept after it is applied, for `down`).
    #[serde(default)]
    pub rewrite: Option<crate::rewrite::RewriteState>,
    /// The collection a document-by-document run changed (its pre-images go
    /// back there, whatever its files say now).
    #[serde(default)]
    pub collection: Option<String>,
    /// A rollback by a backward transform of a forward run that stopped
    /// part-way goes no further than this `_id`, the last one that run
    /// committed (`MinKey`: it committed nothing).
    #[serde(default)]
    pub undo_through: Option<bson::Bson>,
    /// Changed files a run was told to go on with, oldest first.
    #[serde(default)]
    pub accepted_changes: Vec<AcceptedChange>,
}

/// A run that went on with changed files, because it was told to:
/// `up --dangerously-resume-changed` (the documents up to `last_id` keep what
/// the earlier files did) or `down --dangerously-allow-changed` (the backward
/// way of the files on disk undid what the earlier files did).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcceptedChange {
    /// The run's direction.
    pub direction: crate::progress::Direction,
    /// The checksum of the files that ran before.
    pub from: String,
    /// The checksum of the files that ran then.
    pub to: String,
    /// The last `_id` the earlier files had done, when known.
    pub last_id: Option<bson::Bson>,
    /// Documents the earlier files had done.
    pub done: i64,
    /// When.
    pub at: DateTime,
}

/// Where a document-by-document run stands: everything up to and including
/// `last_id` (in `_id` order) is done. Committed in the same transaction as the
/// batch it follows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// `_id` of the last document done.
    pub last_id: Option<bson::Bson>,
    /// Documents read and decided.
    pub read: i64,
    /// Kept unchanged.
    pub kept: i64,
    /// Replaced.
    pub replaced: i64,
    /// Deleted.
    pub deleted: i64,
    /// Failed (quarantined).
    pub failed: i64,
    /// Batches committed.
    pub batches: i64,
    /// Documents changed by another client while their batch was in flight,
    /// read and transformed again.
    #[serde(default)]
    pub changed: i64,
    /// Documents deleted by another client (or changed to no longer match the
    /// filter) while their batch was in flight, left alone.
    #[serde(default)]
    pub gone: i64,
}

impl LedgerEntry {
    /// A fresh entry for a migration about to run.
    pub fn new(id: &str, description: &str, kind: &str, checksum: &str) -> LedgerEntry {
        LedgerEntry {
            id: id.into(),
            description: description.into(),
            kind: kind.into(),
            checksum: checksum.into(),
            state: State::Running,
            started_at: None,
            finished_at: None,
            applied_at: None,
            matched: 0,
            modified: 0,
            duration_ms: 0,
            error: None,
            fence: 0,
            run_by: String::new(),
            tool_version: String::new(),
            direction: None,
            checkpoint: None,
            pre_images: None,
            quarantined: 0,
            session: None,
            rewrite: None,
            collection: None,
            undo_through: None,
            accepted_changes: Vec::new(),
        }
    }
}

/// Reads and writes the ledger.
#[derive(Debug, Clone)]
pub struct Ledger {
    target: Target,
    coll: Collection<LedgerEntry>,
}

impl Ledger {
    /// The ledger of `target`'s database.
    pub fn new(target: &Target) -> Ledger {
        Ledger {
            target: target.clone(),
            coll: target.db().collection(LEDGER_COLLECTION),
        }
    }

    /// The ledger collection.
    pub fn collection(&self) -> &Collection<LedgerEntry> {
        &self.coll
    }

    /// One entry.
    pub async fn get(&self, id: &str) -> Result<Option<LedgerEntry>> {
        self.coll.find_one(doc! { "_id": id }).await.map_err(|e| {
            MigrateError::db(format!("cannot read the ledger ({LEDGER_COLLECTION})"), e)
        })
    }

    /// Every entry, sorted by id.
    pub async fn entries(&self) -> Result<Vec<LedgerEntry>> {
        self.coll
            .find(doc! {})
            .sort(doc! { "_id": 1 })
            .await
            .map_err(|e| {
                MigrateError::db(format!("cannot read the ledger ({LEDGER_COLLECTION})"), e)
            })?
            .try_collect()
            .await
            .map_err(|e| {
                MigrateError::db(format!("cannot read the ledger ({LEDGER_COLLECTION})"), e)
            })
    }

    /// Writes `entry`, fenced by `lease` (see the module docs).
    pub async fn write(&self, entry: &LedgerEntry, lease: &Lease) -> Result<()> {
        let mut entry = entry.clone();
        entry.fence = lease.token();
        entry.run_by = lease.owner().to_string();
        entry.tool_version = env!("CARGO_PKG_VERSION").to_string();
        let what = format!("the ledger entry of {}", entry.id);
        let filter = doc! { "_id": &entry.id, "fence": { "$lte": lease.token() } };
        if !self.target.supports_transactions() {
            lease.fence(None, &what).await?;
            return self
                .replace(&entry, &filter, None)
                .await
                .map_err(|e| self.fenced(e, &what));
        }
        let mut session = self
            .target
            .client()
            .start_session()
            .await
            .map_err(|e| MigrateError::db("cannot start a session", e))?;
        let mut backoff = Duration::from_millis(10);
        for attempt in 0.. {
            session
                .start_transaction()
                .await
                .map_err(|e| MigrateError::db("cannot start a transaction", e))?;
            let res = async {
                lease.fence(Some(&mut session), &what).await?;
                self.replace(&entry, &filter, Some(&mut session))
                    .await
                    .map_err(|e| self.fenced(e, &what))
            }
            .await;
            let res = match res {
                Ok(()) => commit(&mut session).await,
                Err(e) => {
                    let _ = session.abort_transaction().await;
                    Err(e)
                }
            };
            match res {
                Err(e) if e.has_label(TRANSIENT_TRANSACTION_ERROR) && attempt < 20 => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                }
                other => return other,
            }
        }
        unreachable!("the retry loop returns")
    }

    async fn replace(
        &self,
        entry: &LedgerEntry,
        filter: &bson::Document,
        session: Option<&mut mongodb::ClientSession>,
    ) -> Result<(), mongodb::error::Error> {
        let op = self.coll.replace_one(filter.clone(), entry).upsert(true);
        match session {
            Some(s) => op.session(s).await.map(drop),
            None => op.await.map(drop),
        }
    }

    fn fenced(&self, e: mongodb::error::Error, what: &str) -> MigrateError {
        if is_duplicate_key(&e) {
            // The entry exists with a newer fence: a newer lease wrote it.
            MigrateError::LockLost { what: what.into() }
        } else {
            MigrateError::db(format!("cannot write {what}"), e)
        }
    }
}

async fn commit(session: &mut mongodb::ClientSession) -> Result<()> {
    for _ in 0..5 {
        match session.commit_transaction().await {
            Ok(()) => return Ok(()),
            Err(e) if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(MigrateError::db("cannot commit the ledger write", e)),
        }
    }
    Err(MigrateError::Database {
        context: "cannot commit the ledger write".into(),
        message: "the commit result stayed unknown after 5 tries".into(),
        labels: vec![],
    })
}
