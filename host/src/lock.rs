//! The migration lock: a lease document in the target database.
//!
//! A run takes the lease atomically (a conditional upsert on one document),
//! renews it with a heartbeat while it works and clears it when done. A lease
//! whose holder stopped renewing expires and can be taken over. Every take-over
//! increments a fencing token; the ledger only accepts writes that carry the
//! current token, so a stale holder cannot write after losing its lease.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::{doc, DateTime, Document};
use mongodb::options::ReturnDocument;
use mongodb::{ClientSession, Collection};
use serde::{Deserialize, Serialize};

use crate::error::{MigrateError, Result};
use crate::progress::{Event, Progress};
use crate::target::Target;

/// The collection holding the lease document.
pub const LOCK_COLLECTION: &str = "mongoshift_lock";
const LOCK_ID: &str = "migrations";

/// How a run takes the lock.
#[derive(Debug, Clone)]
pub struct LockOptions {
    /// How long a lease lasts without renewal.
    pub ttl: Duration,
    /// How long to wait for another run's lease before giving up.
    pub wait: Duration,
    /// How often to retry while waiting.
    pub poll: Duration,
}

impl Default for LockOptions {
    fn default() -> Self {
        LockOptions {
            ttl: Duration::from_secs(30),
            wait: Duration::from_secs(120),
            poll: Duration::from_millis(250),
        }
    }
}

impl LockOptions {
    /// Sets how long to wait for another run.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// Sets the lease length (the heartbeat renews it every third of that).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.max(Duration::from_secs(1));
        self
    }
}

/// Who holds a lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// Host name of the holder.
    pub host: String,
    /// Process id of the holder.
    pub pid: u32,
    /// A random id of the run.
    pub run_id: String,
}

impl Owner {
    pub(crate) fn this_process() -> Owner {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Owner {
            host: hostname(),
            pid: std::process::id(),
            run_id: format!("{:x}", nanos ^ (u128::from(std::process::id()) << 64)),
        }
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} pid {}", self.host, self.pid)
    }
}

/// The lease document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockState {
    /// The fencing token of the latest holder.
    pub token: i64,
    /// The holder, `None` when released.
    pub owner: Option<Owner>,
    /// When the holder took it.
    pub acquired_at: Option<DateTime>,
    /// The last renewal.
    pub renewed_at: Option<DateTime>,
    /// When the lease lapses unless renewed.
    pub expires_at: DateTime,
}

impl LockState {
    /// Whether the lease is held and not expired.
    pub fn is_live(&self) -> bool {
        self.owner.is_some() && self.expires_at > DateTime::now()
    }
}

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

fn coll(target: &Target) -> Collection<Document> {
    target.db().collection(LOCK_COLLECTION)
}

fn expiry(ttl: Duration) -> DateTime {
    DateTime::from_millis(DateTime::now().timestamp_millis() + ttl.as_millis() as i64)
}

/// Reads the lease document, if there is one.
pub async fn state(target: &Target) -> Result<Option<LockState>> {
    let d = coll(target)
        .find_one(doc! { "_id": LOCK_ID })
        .await
        .map_err(|e| MigrateError::db("cannot read the migration lock", e))?;
    d.map(|d| {
        bson::from_document(d).map_err(|e| MigrateError::Database {
            context: format!("the lock document in {LOCK_COLLECTION} is malformed"),
            message: e.to_string(),
            labels: vec![],
        })
    })
    .transpose()
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
        let owner_doc = bson::to_bson(&owner).map_err(|e| MigrateError::Database {
            context: "cannot encode the lock owner".into(),
            message: e.to_string(),
            labels: vec![],
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

/// What `unlock` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum UnlockOutcome {
    /// Nothing held the lock.
    NotLocked,
    /// A lease was cleared.
    Cleared {
        /// Whose it was.
        owner: String,
        /// Why it was safe (or that it was forced).
        reason: String,
    },
}

/// Clears a lease left by a dead process. Refuses a lease that looks alive (same
/// host and the process exists, or another host and not expired) unless `force`.
pub async fn unlock(target: &Target, force: bool) -> Result<UnlockOutcome> {
    let Some(st) = state(target).await? else {
        return Ok(UnlockOutcome::NotLocked);
    };
    let Some(owner) = st.owner.clone() else {
        return Ok(UnlockOutcome::NotLocked);
    };
    let expired = st.expires_at <= DateTime::now();
    let same_host = owner.host == hostname();
    let alive = same_host && process_alive(owner.pid);
    let reason = if force {
        "forced".to_string()
    } else if expired && !alive {
        "its lease had expired".to_string()
    } else if same_host && !alive {
        format!("process {} no longer exists on this host", owner.pid)
    } else if same_host {
        return Err(MigrateError::LockAlive {
            owner: owner.to_string(),
            reason: format!("process {} is running on this host", owner.pid),
        });
    } else {
        return Err(MigrateError::LockAlive {
            owner: owner.to_string(),
            reason: format!(
                "its lease is renewed until {}",
                st.expires_at.try_to_rfc3339_string().unwrap_or_default()
            ),
        });
    };
    coll(target)
        .update_one(
            doc! { "_id": LOCK_ID, "token": st.token },
            doc! { "$set": { "owner": null, "expires_at": DateTime::from_millis(0) } },
        )
        .await
        .map_err(|e| MigrateError::db("cannot clear the migration lock", e))?;
    Ok(UnlockOutcome::Cleared {
        owner: owner.to_string(),
        reason,
    })
}

/// Whether no run is behind the lease `s`: released, lapsed, or held by a
/// process that no longer exists on this host.
pub(crate) fn holder_gone(s: &LockState) -> bool {
    !s.is_live()
        || s.owner
            .as_ref()
            .is_some_and(|o| o.host == hostname() && !process_alive(o.pid))
}

fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks for existence and permission.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

pub(crate) fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
    // when the name fits.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return "unknown-host".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

pub(crate) fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    match &*e.kind {
        ErrorKind::Command(c) => c.code == 11000,
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == 11000,
        _ => e.to_string().contains("E11000"),
    }
}
