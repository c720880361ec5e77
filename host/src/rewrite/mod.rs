//! Copy and swap (`strategy = "rewrite"`).
//!
//! 1. A change stream on the source collection is opened *before* the copy
//!    and its position recorded in the ledger. It is scoped to the
//!    collection, so the server skips the copy's own inserts cheaply, and
//!    shows `collMod` as `modify` events (`showExpandedEvents`): the markers.
//! 2. Every document is transformed into a shadow collection created with
//!    the source's options; when the originals are kept (no backward
//!    transform, or pre-images asked for), each is also copied as it is into
//!    a backup collection, in the same batch. Re-inserts are ignored as
//!    duplicates, so the copy resumes exactly without transactions. The
//!    source's indexes are then built on the shadow.
//! 3. Catch-up: the stream, read in the background during the copy, names
//!    the changed documents; each is read again from the source, transformed
//!    into the shadow and copied into the backup (or deleted from both). The
//!    stream is then followed in rounds, each up to a marker (an empty
//!    `collMod`), until a round is short.
//! 4. The window: the source is fenced (a validator refusing every insert
//!    and update, self-expiring where the server allows, see `fence.rs`), the
//!    stream drained to the fence's own marker, and the shadow renamed over
//!    the source with `dropTarget` in one step: the name always stands for a
//!    complete collection. Deletes (which a validator does not stop) that
//!    landed before the rename are then applied where the document is still
//!    what the rename put there (`crossing.rs` reads that history).
//!
//! A postponed cut-over (`up --postpone-swap`, see `wait.rs`) keeps
//! following the stream after step 3 until `mongoshift swap` or its time,
//! then goes on with step 4.
//!
//! Each step is a [`Phase`] recorded before it is taken; a run killed at any
//! point is finished by `up` and undone by `down` (see `back.rs`), and every
//! command reports a window left open ([`Interrupted`]).

mod apply;
mod back;
mod catalog;
mod crossing;
mod driver;
mod fence;
mod interrupted;
mod legacy;
mod oplog;
mod since;
mod stream;
mod swap;
mod wait;

pub use crate::ledger::{conflicts_collection, Phase, RewriteState};
pub use catalog::refusal;
pub use interrupted::{find as interrupted, Interrupted};

pub(crate) use apply::Follow;
pub(crate) use back::{cancel_restore, drop_backup, restore, settle, Down, Settled};
pub(crate) use catalog::exists as collection_exists;
pub(crate) use driver::{Rewrite, Run};
pub(crate) use oplog::{reach as oplog_reach, too_short as oplog_too_short};
pub(crate) use since::written_since_swap;
