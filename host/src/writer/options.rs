//! [`WriteOptions`] and [`Destination`]: how and where a run writes.

use bson::Document;

use crate::ledger::CheckpointSlot;
use crate::lookup::Lookups;
use crate::manifest::{Lookup, Namespace};
use crate::options::{TxMode, UpdateForm};
use crate::policy::RunLimits;

/// What the writer does besides writing.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Transactions.
    pub tx: TxMode,
    /// The fencing token the ledger entry carries for this run (in a
    /// distributed run: the token of the partition's claim).
    pub fence: i64,
    /// Where each batch's checkpoint is recorded.
    pub checkpoint: CheckpointSlot,
    /// Keep the original of every changed or deleted document in this collection.
    pub pre_images: Option<String>,
    /// Set failing documents aside instead of stopping.
    pub quarantine: bool,
    /// Attempts per batch for transient errors.
    pub max_attempts: u32,
    /// Where the results go.
    pub destination: Destination,
    /// The migration's filter: a document changed so that it no longer
    /// matches is left alone.
    pub filter: Document,
    /// The collections the transform may write besides its own, and the
    /// lookups it is given (cross-collection migrations; in place only).
    pub cross: Cross,
    /// The policy's ceilings of documents changed and deleted in this run:
    /// a batch that would cross one is not written.
    pub limits: RunLimits,
}

/// What a cross-collection migration reads and writes besides its own
/// collection.
#[derive(Debug, Clone, Default)]
pub struct Cross {
    /// The collections outputs may go to (the manifest's `outputs`).
    pub outputs: Vec<Namespace>,
    /// Resolved again inside each batch's transaction: a document whose
    /// matches changed since the transform saw them is transformed again.
    pub(crate) lookups: Option<Lookups>,
}

impl Cross {
    /// What migration `id` declares: its outputs, and its lookups (none when
    /// it declares none).
    pub(crate) fn declared(
        id: &str,
        outputs: &[Namespace],
        lookups: &[Lookup],
        direction: crate::progress::Direction,
    ) -> Cross {
        Cross {
            outputs: outputs.to_vec(),
            lookups: Lookups::for_run(id, lookups, direction),
        }
    }

    /// The lookups the reader resolves for each batch.
    pub(crate) fn lookups(&self) -> Option<Lookups> {
        self.lookups.clone()
    }
}

/// Where a document-by-document run writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Back into the collection, document by document.
    InPlace {
        /// Replacements or `$set`/`$unset` updates.
        form: UpdateForm,
        /// Read each batch again inside its transaction and transform again
        /// what changed since the reader saw it (never lose a concurrent
        /// application write). Always on for migrations; off only for tests
        /// and benchmarks of the raw write path.
        reread: bool,
    },
    /// Into a shadow collection, which later replaces the source.
    Shadow {
        /// The shadow.
        shadow: String,
        /// Where each original goes as it is, when the originals are kept.
        backup: Option<String>,
    },
}
