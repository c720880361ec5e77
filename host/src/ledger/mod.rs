//! The ledger: one document per migration in the target database, and the
//! only module that writes it.
//!
//! Every write carries the fencing token of the run's lease and only applies if
//! no newer lease has written the entry (`fence <= token`). Where the deployment
//! has transactions, the write also checks and renews the lease in the same
//! transaction, so a run that lost its lease cannot write at all.
//!
//! - [`LedgerEntry`] and its [`State`]: what is recorded per migration.
//! - [`Checkpoint`]: where a document-by-document run stands, written inside
//!   the transaction of the batch it follows, in the entry or, in a
//!   distributed run, in the partition's document ([`CheckpointSlot`]).
//! - [`RewriteState`] and its [`Phase`]: where a copy-and-swap stands, each
//!   phase recorded before its step is taken.
//! - `partitioned`: the entry of a distributed run, applied in the
//!   transaction that completes its last partition.
//! - [`Ledger`]: reads entries and writes one; `pause`: the pause flag
//!   and throttle state other processes set on a running entry; `swap`: the
//!   swap request `mongoshift swap` sets on a rewrite waiting for its
//!   cut-over.

mod checkpoint;
mod collection;
mod entry;
mod partitioned;
mod pause;
mod rewrite;
mod store;
mod swap;

pub(crate) use checkpoint::{save_checkpoint, CheckpointAt};
pub use checkpoint::{Checkpoint, CheckpointSlot};
pub use collection::{LEDGER_COLLECTION, PARTITIONS_COLLECTION};
pub use entry::{AcceptedChange, LedgerEntry, State};
pub use partitioned::AfterLast;
pub(crate) use partitioned::{partition_done, partition_failed};
pub(crate) use rewrite::save_rewrite_state;
pub use rewrite::{conflicts_collection, Phase, RewriteState, SwapWait};
pub(crate) use store::in_transaction;
pub use store::Ledger;
pub(crate) use swap::{not_waiting, swap_requested};
