//! The migration lock: a lease document in the target database.
//!
//! A run takes the lease atomically (a conditional upsert on one document),
//! renews it with a heartbeat while it works and clears it when done. A lease
//! whose holder stopped renewing expires and can be taken over. Every take-over
//! increments a fencing token; the ledger only accepts writes that carry the
//! current token, so a stale holder cannot write after losing its lease.
//!
//! - [`Lease`]: a held lock and its heartbeat; [`LockOptions`]: how it is
//!   taken.
//! - [`LockState`] / [`Owner`]: the lease document as read, and its holder.
//! - [`unlock`]: clears a lease whose holder is gone.

mod document;
mod lease;
mod options;
mod owner;
mod state;
mod unlock;

pub use document::LOCK_COLLECTION;
pub use lease::Lease;
pub use options::LockOptions;
pub(crate) use owner::hostname;
pub use owner::Owner;
pub(crate) use state::holder_gone;
pub use state::{state, LockState};
pub use unlock::{unlock, UnlockOutcome};
