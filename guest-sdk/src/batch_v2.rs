//! The batch loop of contract version 2: each document comes with its
//! lookups document, and each outcome goes out with the document's outputs.
//! The component exports, the core-module exports and [`crate::native`] all
//! run this same loop.

use bson::{Document, RawDocument};

use crate::batch::{for_each_document, Decoded, Raw, Transforms};
use crate::context::{Context, Output};
use crate::Outcome;

/// A version-2 transform as the batch loop calls it, whichever arguments
/// the user's function takes.
pub type TransformFnV2 = Box<dyn Fn(&RawDocument, &mut Context<'_>) -> Outcome>;

/// A version-2 module's transforms, as `#[transform]` wires them.
pub type TransformsV2 = Transforms<TransformFnV2>;

/// Marker: `fn(Document, &mut Context) -> Outcome`.
#[derive(Debug)]
pub enum DecodedWithContext {}
/// Marker: `fn(&RawDocument, &mut Context) -> Outcome`.
#[derive(Debug)]
pub enum RawWithContext {}

/// A function `#[transform]` can export in a version-2 module: one taking the
/// document (`Document` or `&RawDocument`) and a `&mut Context`, or one
/// taking the document alone (it sees no lookups and emits nothing, e.g. a
/// backward direction that needs neither).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a mongoshift transform with lookups and outputs",
    label = "expected `fn(Document, &mut Context) -> Outcome` or `fn(&RawDocument, &mut Context) -> Outcome`",
    note = "a version-2 transform takes the document (`Document`, or `&RawDocument` to skip decoding) and `&mut Context`, and returns an `Outcome`"
)]
pub trait AdaptV2<M> {
    /// Boxes the function behind the signature the batch loop calls.
    fn adapt_v2(self) -> TransformFnV2;
}

fn decode(raw: &RawDocument) -> Document {
    // Not a `Fail`: the host sent something that is not BSON, which is a
    // bug on either side, so trap.
    Document::try_from(raw).unwrap_or_else(|e| panic!("cannot decode the document: {e}"))
}

impl<F: Fn(Document, &mut Context<'_>) -> Outcome + 'static> AdaptV2<DecodedWithContext> for F {
    fn adapt_v2(self) -> TransformFnV2 {
        Box::new(move |raw: &RawDocument, cx: &mut Context<'_>| self(decode(raw), cx))
    }
}

impl<F> AdaptV2<RawWithContext> for F
where
    F: for<'a, 'b, 'c> Fn(&'a RawDocument, &'b mut Context<'c>) -> Outcome + 'static,
{
    fn adapt_v2(self) -> TransformFnV2 {
        Box::new(self)
    }
}

impl<F: Fn(Document) -> Outcome + 'static> AdaptV2<Decoded> for F {
    fn adapt_v2(self) -> TransformFnV2 {
        Box::new(move |raw: &RawDocument, _: &mut Context<'_>| self(decode(raw)))
    }
}

impl<F: for<'a> Fn(&'a RawDocument) -> Outcome + 'static> AdaptV2<Raw> for F {
    fn adapt_v2(self) -> TransformFnV2 {
        Box::new(move |raw: &RawDocument, _: &mut Context<'_>| self(raw))
    }
}

/// [`AdaptV2::adapt_v2`] as a function, so the macro's call infers `M`.
pub fn adapt_v2<M, F: AdaptV2<M>>(f: F) -> TransformFnV2 {
    f.adapt_v2()
}

/// Runs `f` on every document of a version-2 `batch` (each document followed
/// by its lookups document), handing each outcome and its outputs to `out`
/// in order. A failed document's outputs are dropped: it writes nothing.
///
/// # Panics
///
/// If the batch is not whole documents in pairs (the host sent something
/// else: trapping is the right answer).
pub fn run_batch_v2(f: &TransformFnV2, batch: &[u8], mut out: impl FnMut(Outcome, Vec<Output>)) {
    // Where the document waiting for its lookups starts, and where the
    // document being read starts.
    let mut waiting: Option<usize> = None;
    let mut at = 0;
    let mut i = 0;
    crate::log::begin_batch();
    for_each_document(batch, |d| {
        let end = at + d.as_bytes().len();
        match waiting.take() {
            None => waiting = Some(at),
            Some(start) => {
                // Already checked by `for_each_document` when it was read.
                let doc = RawDocument::from_bytes(&batch[start..at])
                    .unwrap_or_else(|e| panic!("malformed batch: {e}"));
                let mut cx = Context::new(d);
                crate::log::set_document(i);
                i += 1;
                let outcome = f(doc, &mut cx);
                let outputs = match outcome {
                    Outcome::Fail(_) => Vec::new(),
                    _ => cx.into_outputs(),
                };
                out(outcome, outputs);
            }
        }
        at = end;
    });
    assert!(
        waiting.is_none(),
        "malformed batch: the last document has no lookups document after it"
    );
}

#[cfg(test)]
mod tests {
    use bson::{doc, RawDocumentBuf};

    use super::*;
    use crate::OutputOp;

    fn raw(d: Document) -> Vec<u8> {
        RawDocumentBuf::from_document(&d).expect("raw").into_bytes()
    }

    #[test]
    fn each_document_sees_its_lookups_and_emits_in_order() {
        let f = adapt_v2(|d: &RawDocument, cx: &mut Context<'_>| {
            let id = d.get_i32("_id").expect("_id");
            let n = cx.lookup("org").count() as i32;
            cx.insert("a", doc! { "_id": id, "n": n });
            cx.delete("b", id);
            if id == 2 {
                Outcome::fail("two")
            } else {
                Outcome::Keep
            }
        });
        let batch = [
            raw(doc! { "_id": 1 }),
            raw(doc! { "org": [{ "_id": 5 }, { "_id": 6 }] }),
            raw(doc! { "_id": 2 }),
            raw(doc! {}),
        ]
        .concat();
        let mut seen = Vec::new();
        run_batch_v2(&f, &batch, |o, outs| seen.push((o, outs)));
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].0, Outcome::Keep);
        let ops: Vec<(OutputOp, &str)> = seen[0]
            .1
            .iter()
            .map(|o| (o.op, o.collection.as_str()))
            .collect();
        assert_eq!(ops, [(OutputOp::Insert, "a"), (OutputOp::Delete, "b")]);
        assert_eq!(
            seen[0].1[0].document.to_document().expect("doc"),
            doc! { "_id": 1, "n": 2 }
        );
        assert_eq!(
            seen[0].1[1].document.to_document().expect("doc"),
            doc! { "_id": 1 }
        );
        assert_eq!(
            seen[1],
            (Outcome::fail("two"), vec![]),
            "a failed document writes nothing"
        );
    }

    #[test]
    #[should_panic(expected = "no lookups document after it")]
    fn a_document_without_its_lookups_traps() {
        let f = adapt_v2(|_: Document| Outcome::Keep);
        run_batch_v2(&f, &raw(doc! { "_id": 1 }), |_, _| {});
    }
}
