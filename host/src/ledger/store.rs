//! [`Ledger`]: reading the entries and writing one, fenced by the run's lease.

use std::time::Duration;

use bson::doc;
use futures_util::TryStreamExt;
use mongodb::error::{TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT};
use mongodb::Collection;

use crate::error::{is_duplicate_key, MigrateError, Result};
use crate::lock::Lease;
use crate::target::Target;

use super::collection::LEDGER_COLLECTION;
use super::entry::LedgerEntry;

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

    /// The target the ledger is in.
    pub(crate) fn target(&self) -> &Target {
        &self.target
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
        let stored = self.get(&entry.id).await?;
        entry.keep_controls(stored.as_ref());
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
        in_transaction(&mut session, "the ledger write", 20, async |s| {
            lease.fence(Some(&mut *s), &what).await?;
            self.replace(&entry, &filter, Some(s))
                .await
                .map_err(|e| self.fenced(e, &what))
        })
        .await
    }

    /// Inserts `entries`, none of which the ledger holds, all in one write
    /// (one transaction where the deployment has them, else one insert
    /// command of ids checked absent under the lock), fenced by `lease`.
    pub async fn insert_all(&self, entries: &[LedgerEntry], lease: &Lease) -> Result<()> {
        let entries: Vec<LedgerEntry> = entries
            .iter()
            .map(|e| {
                let mut e = e.clone();
                e.fence = lease.token();
                e.run_by = lease.owner().to_string();
                e.tool_version = env!("CARGO_PKG_VERSION").to_string();
                e
            })
            .collect();
        if entries.is_empty() {
            return Ok(());
        }
        let what = "the baselined ledger entries";
        let err = |e| MigrateError::db(format!("cannot write {what}"), e);
        if !self.target.supports_transactions() {
            lease.fence(None, what).await?;
            return self.coll.insert_many(&entries).await.map(drop).map_err(err);
        }
        let mut session = self
            .target
            .client()
            .start_session()
            .await
            .map_err(|e| MigrateError::db("cannot start a session", e))?;
        in_transaction(&mut session, what, 20, async |s| {
            lease.fence(Some(&mut *s), what).await?;
            self.coll
                .insert_many(&entries)
                .session(s)
                .await
                .map(drop)
                .map_err(err)
        })
        .await
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

/// Commits a transaction that writes the ledger (`what`, for messages),
/// asking again while the server cannot say whether it committed.
/// Runs `body` in a transaction of `session` and commits it (`what`: for
/// the error). A transient transaction error (a write conflict with another
/// run) starts it over, up to `attempts` times, backing off.
pub(crate) async fn in_transaction<T>(
    session: &mut mongodb::ClientSession,
    what: &str,
    attempts: u32,
    mut body: impl AsyncFnMut(&mut mongodb::ClientSession) -> Result<T>,
) -> Result<T> {
    let mut backoff = Duration::from_millis(10);
    for attempt in 0.. {
        session
            .start_transaction()
            .await
            .map_err(|e| MigrateError::db("cannot start a transaction", e))?;
        let res = match body(session).await {
            Ok(v) => commit(session, what).await.map(|()| v),
            Err(e) => {
                let _ = session.abort_transaction().await;
                Err(e)
            }
        };
        match res {
            Err(e) if e.has_label(TRANSIENT_TRANSACTION_ERROR) && attempt < attempts => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(500));
            }
            other => return other,
        }
    }
    unreachable!("the retry loop returns")
}

async fn commit(session: &mut mongodb::ClientSession, what: &str) -> Result<()> {
    for _ in 0..5 {
        match session.commit_transaction().await {
            Ok(()) => return Ok(()),
            Err(e) if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(MigrateError::db(format!("cannot commit {what}"), e)),
        }
    }
    Err(MigrateError::Database {
        context: format!("cannot commit {what}"),
        message: "the commit result stayed unknown after 5 tries".into(),
        labels: vec![],
        cause: crate::error::DbCause::Other,
    })
}
