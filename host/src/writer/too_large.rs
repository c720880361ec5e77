//! Documents too large for a transaction.
//!
//! A transaction's writes stay in the server's cache until it commits, so a
//! document near the 16 MiB limit can be more than one transaction may hold:
//! MongoDB answers `TransactionTooLargeForCache` (388) or, below 6.2 and when
//! it might fit later, a `WriteConflict` labelled `TransientTransactionError`;
//! secantusd-rs answers 388 too when its cache is small, else a
//! `WriteConflict`, or ends the transaction (`InternalError`, "transaction
//! already closed"). Retried, the same batch meets the same
//! wall, so such an error on a batch that writes a large document, or on a
//! batch of several documents that no retry would cure (many outputs add up),
//! is taken for what it is: the batch is split until that document is alone,
//! and then fails with its `_id`, its size and what to do.

use crate::batch::Outcome;
use crate::batch::Transformed;
use crate::error::MigrateError;
use crate::options::TxMode;
use crate::wasm::MAX_DOCUMENT_BYTES;

use super::options::WriteOptions;
use super::retry::{is_too_large, is_transient};

/// Documents at least this large are suspects; smaller ones fit any
/// deployment's transactions and their conflicts are retried as usual.
const LARGE: usize = MAX_DOCUMENT_BYTES / 2;

/// Attempts at a batch of one large document before its refusal is final:
/// a real write conflict with another client passes within a few.
const ATTEMPTS_ALONE: u32 = 3;

/// The refusal of documents `lo..hi` of a batch as too large for a
/// transaction, if `e` is one: `Some` at once when the range holds more than
/// one document (the caller splits it), after [`ATTEMPTS_ALONE`] (or when
/// `last`) for a single document.
pub(super) fn refusal(
    e: &MigrateError,
    t: &Transformed,
    opts: &WriteOptions,
    (lo, hi): (usize, usize),
    attempt: u32,
    last: bool,
) -> Option<MigrateError> {
    if !refused(e) {
        return None;
    }
    let (i, bytes) = largest_write(t, opts, lo, hi)?;
    // Refused by a code no retry cures (not a write conflict that may be
    // another client's), a batch of small documents whose writes, outputs
    // included, are together too large is split too (the migration's one
    // transaction cannot be); and a document alone, refused as too large by
    // code, is named whatever its size.
    let splits = hi - lo > 1 && opts.tx != TxMode::Migration && !is_transient(e);
    let suspect = bytes >= LARGE || splits || (hi - lo == 1 && is_too_large(e));
    if !suspect {
        return None;
    }
    if hi - lo == 1 && attempt < ATTEMPTS_ALONE && !last {
        return None;
    }
    Some(MigrateError::TooLargeForTransaction {
        batch: t.batch.seq() + 1,
        document: t.batch.id_text(i),
        bytes,
        message: match e {
            MigrateError::Database { message, .. } => message.clone(),
            other => other.to_string(),
        },
    })
}

/// The codes with which a server turns away a transaction that does not fit
/// its cache: `WriteConflict` (112), `TransactionTooLarge` (257),
/// `NoSuchTransaction` (251: the server ended it), `TransactionTooLargeForCache`
/// (388); and `InternalError` (1), with which secantusd-rs answers a write to a
/// transaction it has already ended.
const REFUSALS: &[i32] = &[112, 257, 251, 388, 1];

/// How the server turns away a transaction that does not fit its cache, by
/// code and label; a broken connection says nothing about the document.
fn refused(e: &MigrateError) -> bool {
    !e.is_connection()
        && (e.has_label(mongodb::error::TRANSIENT_TRANSACTION_ERROR)
            || e.code().is_some_and(|c| REFUSALS.contains(&c)))
}

/// The document of `lo..hi` with the largest write, and its size: its
/// replacement, or its original when that is kept (pre-image, quarantine),
/// plus its outputs.
fn largest_write(
    t: &Transformed,
    opts: &WriteOptions,
    lo: usize,
    hi: usize,
) -> Option<(usize, usize)> {
    (lo..hi)
        .map(|i| {
            let original = t.batch.doc(i).as_bytes().len();
            let bytes = match &t.outcomes[i] {
                Outcome::Replace(r) if opts.pre_images.is_some() => r.len().max(original),
                Outcome::Replace(r) => r.len(),
                Outcome::Delete if opts.pre_images.is_some() => original,
                Outcome::Fail(_) if opts.quarantine => original,
                _ => 0,
            };
            // What a document emits to other collections commits with it.
            let emitted: usize = t
                .outputs
                .get(i)
                .map_or(0, |o| o.iter().map(|x| x.document.len()).sum());
            (i, bytes + emitted)
        })
        .max_by_key(|&(_, bytes)| bytes)
}

/// A document refused alone as too large for a transaction because of what
/// it emits to other collections: the refusal as an output error naming
/// the migration, the document and where its outputs go. `None` when the
/// document emits nothing (its own write is what is too large).
pub(super) fn of_outputs(
    e: &MigrateError,
    t: &Transformed,
    i: usize,
    migration: &str,
) -> Option<MigrateError> {
    let MigrateError::TooLargeForTransaction { message, .. } = e else {
        return None;
    };
    let outputs = t.outputs.get(i).filter(|o| !o.is_empty())?;
    let bytes: usize = outputs.iter().map(|o| o.document.len()).sum();
    let mut to: Vec<&str> = outputs.iter().map(|o| o.collection.as_str()).collect();
    to.sort_unstable();
    to.dedup();
    Some(MigrateError::Output {
        migration: migration.to_string(),
        document: t.batch.id_text(i),
        message: format!(
            "its {} outputs ({bytes} bytes, to `{}`) cannot be written inside one transaction: \
             the server refused them ({message}); a cross-collection migration writes a \
             document's outputs in its batch's transaction, so emit fewer or smaller outputs \
             for such a document, or run with `--on-error quarantine` to set it aside",
            outputs.len(),
            to.join("`, `"),
        ),
    })
}
