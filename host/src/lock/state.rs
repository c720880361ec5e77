//! [`LockState`]: the lease document as read.

use bson::{doc, DateTime};
use serde::{Deserialize, Serialize};

use super::document::{coll, LOCK_COLLECTION, LOCK_ID};
use super::owner::{hostname, process_alive, Owner};
use crate::error::{MigrateError, Result};
use crate::target::Target;

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

/// Reads the lease document, if there is one.
pub async fn state(target: &Target) -> Result<Option<LockState>> {
    let d = coll(target)
        .find_one(doc! { "_id": LOCK_ID })
        .await
        .map_err(|e| MigrateError::db("cannot read the migration lock", e))?;
    d.map(|d| {
        bson::from_document(d).map_err(|e| MigrateError::Encoding {
            context: format!("the lock document in {LOCK_COLLECTION} is malformed"),
            message: e.to_string(),
        })
    })
    .transpose()
}

/// Whether no run is behind the lease `s`: released, lapsed, or held by a
/// process that no longer exists on this host.
pub(crate) fn holder_gone(s: &LockState) -> bool {
    !s.is_live()
        || s.owner
            .as_ref()
            .is_some_and(|o| o.host == hostname() && !process_alive(o.pid))
}
