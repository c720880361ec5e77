//! What a contract-version-2 transform writes besides its outcome for each
//! document: inserts, upserts and deletes by `_id` in other collections
//! (`outputs` in the manifest bounds which).

/// How an output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputOp {
    /// Insert the document; an `_id` already there is an error naming both.
    Insert,
    /// Replace the document with this `_id`, or insert it.
    Upsert,
    /// Delete the document with this `_id` (its other fields are ignored).
    Delete,
}

impl OutputOp {
    /// The op's tag in the core-module ABI (`guest-sdk/ABI.md`).
    pub fn from_tag(tag: u8) -> Option<OutputOp> {
        match tag {
            0 => Some(OutputOp::Insert),
            1 => Some(OutputOp::Upsert),
            2 => Some(OutputOp::Delete),
            _ => None,
        }
    }

    /// The word for messages, plans and the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputOp::Insert => "insert",
            OutputOp::Upsert => "upsert",
            OutputOp::Delete => "delete",
        }
    }
}

/// One write to another collection, emitted for one input document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// How it is written.
    pub op: OutputOp,
    /// `name` (the migration's database) or `database.name`, as the guest
    /// wrote it; the host checks it against the manifest's `outputs`.
    pub collection: String,
    /// One BSON document with an `_id` (for a delete only its `_id` counts).
    pub document: Vec<u8>,
}
