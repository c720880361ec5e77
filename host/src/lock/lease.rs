//! [`Lease`]: a held lock, renewed by a heartbeat until released.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::{doc, DateTime, Document};
use mongodb::options::ReturnDocument;
use mongodb::{ClientSession, Collection};

use super::document::{coll, expiry, LOCK_ID};
use super::options::LockOptions;
use super::owner::{hostname, process_alive, Owner};
use super::state::state;
use crate::error::{is_duplicate_key, MigrateError, Result};
use crate::progress::{Event, Progress};
use crate::target::Target;

/// A held lease. Dropping it without [`Lease::release`] leaves it to expire.
#[derive(Debug)]
pub struct Lease {
    coll: Collection<Document>,
    token: i64,
    owner: Owner,
    ttl: Duration,
    lost: Arc<AtomicBool>,
    heartbeat: tokio::task::JoinHandle<()>,
}

impl Lease {
    /// Takes the lock, waiting up to `opts.wait` for another holder.
    pub async fn acquire(
        target: &Target,
        opts: &LockOptions,
        progress: &Progress,
    ) -> Result<Lease> {
        let coll = coll(target);
        let owner = Owner::this_process();
        let owner_doc = bson::to_bson(&owner).map_err(|e| MigrateError::Encoding {
            context: "cannot encode the lock owner".into(),
            message: e.to_string(),
        })?;
        let start = Instant::now();
        let mut announced = false;
        loop {
            let now = DateTime::now();
            let res = coll
                .find_one_and_update(
                    doc! { "_id": LOCK_ID, "$or": [ { "owner": null }, { "expires_at": { "$lt": now } } ] },
                    doc! {
                        "$set": { "owner": owner_doc.clone(), "acquired_at": now, "renewed_at": now, "expires_at": expiry(opts.ttl) },
                        "$inc": { "token": 1_i64 },
                    },
                )
                .upsert(true)
                .return_document(ReturnDocument::After)
                .await;
            match res {
                Ok(Some(d)) => {
                    let token = d.get_i64("token").unwrap_or_default();
                    progress.event(&Event::LockAcquired { token });
                    let lost = Arc::new(AtomicBool::new(false));
                    let heartbeat =
                        tokio::spawn(heartbeat(coll.clone(), token, opts.ttl, lost.clone()));
                    return Ok(Lease {
                        coll,
                        token,
                        owner,
                        ttl: opts.ttl,
                        lost,
                        heartbeat,
                    });
                }
                Ok(None) => {} // cannot happen with upsert; retry
                Err(e) if is_duplicate_key(&e) => {}
                Err(e) => return Err(MigrateError::db("cannot take the migration lock", e)),
            }
            // Held by someone else.
            let current = state(target).await?;
            // A holder on this host whose process is gone (killed, crashed) will
            // never renew: take its lease over now instead of waiting for expiry.
            if let Some(st) = current.as_ref() {
                if let Some(o) = &st.owner {
                    if o.host == hostname() && !process_alive(o.pid) {
                        let _ = coll
                            .update_one(
                                doc! { "_id": LOCK_ID, "token": st.token },
                                doc! { "$set": { "expires_at": DateTime::from_millis(0) } },
                            )
                            .await;
                        continue;
                    }
                }
            }
            let owner_text = current
                .as_ref()
                .and_then(|s| s.owner.as_ref())
                .map_or_else(|| "another run".to_string(), ToString::to_string);
            if start.elapsed() >= opts.wait {
                return Err(MigrateError::LockHeld {
                    owner: owner_text,
                    expires: current.map_or_else(
                        || "soon".into(),
                        |s| s.expires_at.try_to_rfc3339_string().unwrap_or_default(),
                    ),
                    waited_secs: start.elapsed().as_secs(),
                });
            }
            if !announced {
                progress.event(&Event::LockWaiting { owner: owner_text });
                announced = true;
            }
            tokio::time::sleep(opts.poll).await;
        }
    }

    /// The fencing token of this lease.
    pub fn token(&self) -> i64 {
        self.token
    }

    /// Who holds it (this process).
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// Whether the heartbeat found the lease taken over.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Checks that this lease is still the current one and renews it. With a
    /// session in a transaction, the check commits or aborts with the
    /// transaction, so the writes beside it are fenced.
    pub(crate) async fn fence(
        &self,
        session: Option<&mut ClientSession>,
        what: &str,
    ) -> Result<()> {
        if self.is_lost() {
            return Err(MigrateError::LockLost { what: what.into() });
        }
        let now = DateTime::now();
        let update = self.coll.update_one(
            doc! { "_id": LOCK_ID, "token": self.token, "owner.run_id": &self.owner.run_id },
            doc! { "$set": { "renewed_at": now, "expires_at": expiry(self.ttl) } },
        );
        let res = match session {
            Some(s) => update.session(s).await,
            None => update.await,
        }
        .map_err(|e| MigrateError::db("cannot renew the migration lock", e))?;
        if res.matched_count == 0 {
            self.lost.store(true, Ordering::SeqCst);
            return Err(MigrateError::LockLost { what: what.into() });
        }
        Ok(())
    }

    /// Releases the lease so the next run need not wait for it to expire.
    pub async fn release(self) -> Result<()> {
        self.heartbeat.abort();
        self.coll
            .update_one(
                doc! { "_id": LOCK_ID, "token": self.token, "owner.run_id": &self.owner.run_id },
                doc! { "$set": { "owner": null, "expires_at": DateTime::from_millis(0) } },
            )
            .await
            .map_err(|e| MigrateError::db("cannot release the migration lock", e))?;
        Ok(())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

async fn heartbeat(coll: Collection<Document>, token: i64, ttl: Duration, lost: Arc<AtomicBool>) {
    let every = ttl / 3;
    loop {
        tokio::time::sleep(every).await;
        let res = coll
            .update_one(
                doc! { "_id": LOCK_ID, "token": token },
                doc! { "$set": { "renewed_at": DateTime::now(), "expires_at": expiry(ttl) } },
            )
            .await;
        match res {
            Ok(r) if r.matched_count == 0 => {
                lost.store(true, Ordering::SeqCst);
                return;
            }
            // A failed renewal is retried at the next beat; the lease lasts
            // three beats, and fenced writes check it anyway.
            _ => {}
        }
    }
}
