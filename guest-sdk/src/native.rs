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
//!
//! A transform with lookups and outputs (contract version 2) runs the same
//! way over each document paired with its lookups document:
//!
//! ```
//! use mongoshift_guest::{doc, native, Context, Encoded, Outcome, OutputOp, RawDocument, RawDocumentBuf};
//!
//! fn count_orders(doc: &RawDocument, cx: &mut Context) -> Outcome {
//!     let n = cx.lookup("orders").count() as i32;
//!     cx.upsert("order_counts", doc! { "_id": doc.get_i32("_id").unwrap(), "n": n });
//!     Outcome::Keep
//! }
//!
//! let raw = |d| RawDocumentBuf::from_document(&d).unwrap();
//! let (user, lookups) = (raw(doc! { "_id": 1 }), raw(doc! { "orders": [{ "_id": 7 }] }));
//! let batch = native::batch_v2([(user.as_ref(), lookups.as_ref())]);
//! let results = native::run_v2(count_orders, &batch);
//! let (outcome, outputs) = &results[0];
//! assert_eq!(outcome, &Encoded::Keep);
//! assert_eq!(outputs[0].op, OutputOp::Upsert);
//! assert_eq!(outputs[0].document.to_document().unwrap(), doc! { "_id": 1, "n": 1 });
//! ```

use crate::__private::{adapt, adapt_v2, run_batch, run_batch_v2, Adapt, AdaptV2};
use crate::{Encoded, Output, RawDocument};

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

/// Runs a version-2 transform `f` (taking the document and a
/// [`Context`](crate::Context)) over a batch of documents each followed by
/// its lookups document (see [`batch_v2`]), and returns each document's
/// encoded outcome and outputs, in order, exactly as the Wasm module would
/// send them (a failed document's outputs dropped).
///
/// # Panics
///
/// Where the module would trap, as [`run`].
pub fn run_v2<M>(f: impl AdaptV2<M>, batch: &[u8]) -> Vec<(Encoded, Vec<Output>)> {
    let f = adapt_v2(f);
    let mut out = Vec::new();
    run_batch_v2(&f, batch, |o, outputs| {
        out.push((Encoded::from(o), outputs))
    });
    out
}

/// Lays out documents with their lookups documents, as the host sends a
/// version-2 batch: `doc₀ lookups₀ doc₁ lookups₁ …`.
pub fn batch_v2<'a>(
    pairs: impl IntoIterator<Item = (&'a RawDocument, &'a RawDocument)>,
) -> Vec<u8> {
    let mut out = Vec::new();
    for (doc, lookups) in pairs {
        out.extend_from_slice(doc.as_bytes());
        out.extend_from_slice(lookups.as_bytes());
    }
    out
}
