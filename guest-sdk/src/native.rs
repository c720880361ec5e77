//! Running a transform natively, through the very batch loop the Wasm exports
//! use: for unit tests of whole batches, and for benchmarks that compare the
//! sandboxed guest with the same function as a native closure.
//!
//! There is no direction argument: a direction *is* a function, so pass the
//! forward function to run `up` and the backward one to run `down`.
//!
//! ```
//! use mongoshift_guest::{doc, native, Edit, Encoded, Outcome, RawDocument, RawDocumentBuf};
//!
//! fn add_status(doc: &RawDocument) -> Outcome {
//!     Edit::new(doc).set("status", "active").finish()
//! }
//!
//! let docs = [doc! { "_id": 1 }, doc! { "_id": 2, "status": "active" }]
//!     .map(|d| RawDocumentBuf::from_document(&d).unwrap());
//! let batch = native::batch(docs.iter().map(|d| d.as_ref()));
//! let outcomes = native::run(add_status, &batch);
//! assert!(matches!(outcomes[..], [Encoded::Replace(_), Encoded::Keep]));
//! ```

use crate::__private::{adapt, run_batch, Adapt};
use crate::{Encoded, RawDocument};

pub use crate::batch::for_each_document;

/// Runs `f` (a `fn(Document) -> Outcome` or `fn(&RawDocument) -> Outcome`)
/// over a batch of concatenated BSON documents and returns one encoded outcome
/// per document, in order, exactly as the Wasm module would send them.
///
/// # Panics
///
/// Where the module would trap: a malformed batch, a document that does not
/// decode (for a `Document` function), or a panic in `f`.
pub fn run<M>(f: impl Adapt<M>, batch: &[u8]) -> Vec<Encoded> {
    let f = adapt(f);
    let mut out = Vec::new();
    run_batch(&f, batch, |o| out.push(Encoded::from(o)));
    out
}

/// Concatenates documents into a batch, as the host sends them.
pub fn batch<'a>(docs: impl IntoIterator<Item = &'a RawDocument>) -> Vec<u8> {
    let mut out = Vec::new();
    for d in docs {
        out.extend_from_slice(d.as_bytes());
    }
    out
}
