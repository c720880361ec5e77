//! `unlock`: clearing a lease left by a dead process.

use bson::{doc, DateTime};
use serde::Serialize;

use super::document::{coll, LOCK_ID};
use super::owner::{hostname, process_alive};
use super::state::state;
use crate::error::{MigrateError, Result};
use crate::target::Target;

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
