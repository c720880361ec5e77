//! The batch loop: split a batch into documents, call the transform on each.
//! The component exports, the core-module exports and [`crate::native`] all
//! run this same loop; they differ only in how outcomes cross the boundary.

use bson::{Document, RawDocument};

use crate::Outcome;

/// A transform as the batch loop calls it, whichever argument the user's
/// function takes.
pub type TransformFn = Box<dyn Fn(&RawDocument) -> Outcome>;

/// The module's transforms, as `#[transform]` wires them: `F` is
/// [`TransformFn`], or [`TransformFnV2`](crate::batch_v2::TransformFnV2) in a
/// contract-version-2 module.
pub struct Transforms<F = TransformFn> {
    /// The name `describe` reports.
    pub name: &'static str,
    /// What `mongoshift up` runs.
    pub forward: F,
    /// What `mongoshift down` runs, if anything.
    pub backward: Option<F>,
}

impl<F> std::fmt::Debug for Transforms<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transforms")
            .field("name", &self.name)
            .field("backward", &self.backward.is_some())
            .finish()
    }
}

impl<F> Transforms<F> {
    /// The function for one direction. The host never asks for a backward
    /// direction a module did not declare; if it did, trapping is right.
    pub fn pick(&self, backward: bool) -> &F {
        match (backward, &self.backward) {
            (false, _) => &self.forward,
            (true, Some(f)) => f,
            (true, None) => panic!("transform {} has no backward direction", self.name),
        }
    }
}

/// Marker: the function takes a decoded `Document`.
#[derive(Debug)]
pub enum Decoded {}
/// Marker: the function takes a `&RawDocument`.
#[derive(Debug)]
pub enum Raw {}

/// A function `#[transform]` can export: `fn(Document) -> Outcome` or
/// `fn(&RawDocument) -> Outcome`. `M` tells the two apart.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a mongoshift transform",
    label = "expected `fn(Document) -> Outcome` or `fn(&RawDocument) -> Outcome`",
    note = "a transform takes the document (`Document`, or `&RawDocument` to skip decoding) and returns an `Outcome`"
)]
pub trait Adapt<M> {
    /// Boxes the function behind the raw signature the batch loop calls.
    fn adapt(self) -> TransformFn;
}

impl<F: Fn(Document) -> Outcome + 'static> Adapt<Decoded> for F {
    fn adapt(self) -> TransformFn {
        Box::new(move |raw: &RawDocument| {
            // Not a `Fail`: the host sent something that is not BSON, which is
            // a bug on either side, so trap.
            let doc = Document::try_from(raw)
                .unwrap_or_else(|e| panic!("cannot decode the document: {e}"));
            self(doc)
        })
    }
}

impl<F: for<'a> Fn(&'a RawDocument) -> Outcome + 'static> Adapt<Raw> for F {
    fn adapt(self) -> TransformFn {
        Box::new(self)
    }
}

/// [`Adapt::adapt`] as a function, so the macro's call infers `M`.
pub fn adapt<M, F: Adapt<M>>(f: F) -> TransformFn {
    f.adapt()
}

/// Calls `f` on each document of a batch: BSON documents concatenated, each
/// starting with its own little-endian `int32` length.
///
/// # Panics
///
/// If the batch is not a sequence of whole documents (the host sent something
/// else: trapping is the right answer).
pub fn for_each_document(batch: &[u8], mut f: impl FnMut(&RawDocument)) {
    let mut rest = batch;
    while let Some(head) = rest.first_chunk::<4>() {
        let len = i32::from_le_bytes(*head);
        let len = usize::try_from(len)
            .ok()
            .filter(|&n| n >= 5 && n <= rest.len())
            .unwrap_or_else(|| {
                panic!(
                    "malformed batch: a document of length {len} at offset {} of {}",
                    batch.len() - rest.len(),
                    batch.len()
                )
            });
        let (doc, tail) = rest.split_at(len);
        f(RawDocument::from_bytes(doc).unwrap_or_else(|e| panic!("malformed batch: {e}")));
        rest = tail;
    }
    assert!(
        rest.is_empty(),
        "malformed batch: {} stray bytes at the end",
        rest.len()
    );
}

/// Runs `f` on every document of `batch`, handing each outcome to `out` in order.
pub fn run_batch(f: &TransformFn, batch: &[u8], mut out: impl FnMut(Outcome)) {
    crate::log::begin_batch();
    let mut i = 0;
    for_each_document(batch, |doc| {
        crate::log::set_document(i);
        i += 1;
        out(f(doc));
    });
}

#[cfg(test)]
mod tests {
    use bson::{doc, RawDocumentBuf};

    use super::*;

    fn batch_of(n: i32) -> Vec<u8> {
        let mut b = Vec::new();
        for i in 0..n {
            b.extend_from_slice(
                RawDocumentBuf::from_document(&doc! { "_id": i })
                    .expect("raw")
                    .as_bytes(),
            );
        }
        b
    }

    #[test]
    fn one_outcome_per_document_in_order() {
        let f = adapt(|d: Document| {
            if d.get_i32("_id") == Ok(1) {
                Outcome::Delete
            } else {
                Outcome::Keep
            }
        });
        let mut seen = Vec::new();
        run_batch(&f, &batch_of(3), |o| seen.push(o));
        assert_eq!(seen, [Outcome::Keep, Outcome::Delete, Outcome::Keep]);
        run_batch(&f, &[], |_| panic!("an empty batch has no documents"));
    }

    #[test]
    #[should_panic(expected = "malformed batch: a document of length 99 at offset 14 of 28")]
    fn a_truncated_batch_traps() {
        let mut b = batch_of(2);
        // The second document starts at 14 (`{_id: int32}` is 14 bytes).
        b[14..18].copy_from_slice(&99_i32.to_le_bytes());
        for_each_document(&b, |_| {});
    }

    #[test]
    #[should_panic(expected = "2 stray bytes")]
    fn stray_bytes_trap() {
        let mut b = batch_of(1);
        b.extend_from_slice(&[1, 2]);
        for_each_document(&b, |_| {});
    }

    #[test]
    #[should_panic(expected = "has no backward direction")]
    fn asking_for_a_missing_backward_traps() {
        let t = Transforms {
            name: "t",
            forward: adapt(|_: &RawDocument| Outcome::Keep),
            backward: None,
        };
        let _ = t.pick(true);
    }
}
