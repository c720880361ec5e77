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
//!   the transaction of the batch it follows.
//! - [`RewriteState`] and its [`Phase`]: where a copy-and-swap stands, each
//!   phase recorded before its step is taken.
//! - [`Ledger`]: reads entries and writes one.

mod checkpoint;
mod collection;
mod entry;
mod rewrite;
mod store;

pub(crate) use checkpoint::save_checkpoint;
pub use checkpoint::Checkpoint;
pub use collection::LEDGER_COLLECTION;
pub use entry::{AcceptedChange, LedgerEntry, State};
pub(crate) use rewrite::save_rewrite_state;
pub use rewrite::{conflicts_collection, Phase, RewriteState};
pub use store::Ledger;
