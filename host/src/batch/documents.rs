//! One batch of documents as read, and what its transform made of it.

use bson::{RawBson, RawDocument, RawDocumentBuf};
use tokio::sync::OwnedSemaphorePermit;

use super::id::{id_of, show_id};
use super::logs::BatchLogs;
use super::outcome::Outcome;
use super::output::Output;

/// One batch as read: the documents' bytes end to end, in `_id` order.
pub(crate) struct Batch {
    seq: u64,
    bytes: Vec<u8>,
    /// Start and end of each document in `bytes`.
    docs: Vec<(usize, usize)>,
    /// Each document's lookups document (contract version 2), when the
    /// migration declares lookups; empty otherwise.
    lookups: Vec<RawDocumentBuf>,
    /// Held from the moment the batch is read until it is written: memory
    /// stays bounded by the number of permits.
    _permit: OwnedSemaphorePermit,
}

impl Batch {
    /// Batch number `seq` (0-based) of the documents in `bytes`, each at its
    /// span in `docs`.
    pub(crate) fn new(
        seq: u64,
        bytes: Vec<u8>,
        docs: Vec<(usize, usize)>,
        permit: OwnedSemaphorePermit,
    ) -> Batch {
        Batch {
            seq,
            bytes,
            docs,
            lookups: Vec::new(),
            _permit: permit,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.docs.len()
    }

    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// The documents end to end, as a transform takes them.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Gives each document its lookups document (one per document).
    pub(crate) fn set_lookups(&mut self, lookups: Vec<RawDocumentBuf>) {
        debug_assert_eq!(lookups.len(), self.docs.len());
        self.lookups = lookups;
    }

    /// Each document's lookups document; empty when the migration has none.
    pub(crate) fn lookups(&self) -> &[RawDocumentBuf] {
        &self.lookups
    }

    /// What a contract-version-2 transform takes: each document followed by
    /// its lookups document (an empty one when there are none).
    pub(crate) fn interleaved(&self) -> Vec<u8> {
        interleave((0..self.len()).map(|i| self.doc(i)), &self.lookups)
    }

    pub(crate) fn doc(&self, i: usize) -> &RawDocument {
        let (s, e) = self.docs[i];
        RawDocument::from_bytes(&self.bytes[s..e])
            .expect("documents from the server are valid BSON")
    }

    pub(crate) fn id(&self, i: usize) -> RawBson {
        id_of(self.doc(i))
    }

    pub(crate) fn id_text(&self, i: usize) -> String {
        show_id(&self.id(i))
    }
}

/// A batch and the outcome its transform decided for each document, with
/// the outputs each document emitted (empty for contract version 1).
pub(crate) struct Transformed {
    pub(crate) batch: Batch,
    pub(crate) outcomes: Vec<Outcome>,
    /// `outputs[i]`: what document `i` writes to other collections; empty,
    /// or one entry per document.
    pub(crate) outputs: Vec<Vec<Output>>,
    /// What the transform logged while it worked on the batch.
    pub(crate) logs: BatchLogs,
}

/// The lookups document of a document with no lookups: `{}`.
pub const EMPTY_LOOKUPS: [u8; 5] = [5, 0, 0, 0, 0];

/// `docs`, each followed by its lookups document from `lookups` (an empty
/// document where `lookups` has none): the contract-version-2 input.
pub(crate) fn interleave<'a>(
    docs: impl Iterator<Item = &'a RawDocument>,
    lookups: &[RawDocumentBuf],
) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, d) in docs.enumerate() {
        out.extend_from_slice(d.as_bytes());
        match lookups.get(i) {
            Some(l) => out.extend_from_slice(l.as_bytes()),
            None => out.extend_from_slice(&EMPTY_LOOKUPS),
        }
    }
    out
}
