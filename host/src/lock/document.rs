//! The lease document: where it is and when a lease taken now expires.

use std::time::Duration;

use bson::{DateTime, Document};
use mongodb::Collection;

use crate::target::Target;

/// The collection holding the lease document.
pub const LOCK_COLLECTION: &str = "mongoshift_lock";

/// The `_id` of the one lease document.
pub(super) const LOCK_ID: &str = "migrations";

pub(super) fn coll(target: &Target) -> Collection<Document> {
    target.db().collection(LOCK_COLLECTION)
}

pub(super) fn expiry(ttl: Duration) -> DateTime {
    DateTime::from_millis(DateTime::now().timestamp_millis() + ttl.as_millis() as i64)
}
