//! The two boundaries of contract version 2: the core-module result layout
//! (`guest-sdk/ABI.md`, each outcome record followed by the document's
//! outputs) and the component exports of `guest-sdk/wit/transform-v2.wit`.
//! Both run [`crate::batch_v2::run_batch_v2`].

#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // called by the wasm32 exports only

use crate::abi::{len_u32, patch_payload_len, push_outcome};
use crate::batch_v2::{run_batch_v2, TransformFnV2};

/// Writes the result buffer of a version-2 `mongoshift_transform` for `f`
/// over `batch` into `out`: `u32` payload length, `u32` count, then per
/// document its outcome record, `u32` output count and each output (`u8`
/// op, `u32` name length, name, `u32` document length, document).
pub(crate) fn encode_outcomes_v2(f: &TransformFnV2, batch: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(batch.len() + 64);
    out.extend_from_slice(&[0; 8]); // payload length and count, patched below
    let mut count: u32 = 0;
    run_batch_v2(f, batch, |outcome, outputs| {
        count += 1;
        push_outcome(out, outcome);
        out.extend_from_slice(&len_u32(outputs.len()).to_le_bytes());
        for o in outputs {
            out.push(o.op.tag());
            out.extend_from_slice(&len_u32(o.collection.len()).to_le_bytes());
            out.extend_from_slice(o.collection.as_bytes());
            out.extend_from_slice(&len_u32(o.document.as_bytes().len()).to_le_bytes());
            out.extend_from_slice(o.document.as_bytes());
        }
    });
    out[4..8].copy_from_slice(&count.to_le_bytes());
    patch_payload_len(out);
}

/// The component exports of world `transform` in `transform-v2.wit`.
#[cfg(target_arch = "wasm32")]
pub(crate) mod component {
    use super::run_batch_v2;
    use crate::__private::bindings_v2::mongoshift::transform::types::{
        Direction, DocumentResult, Info, Outcome as WitOutcome, Output as WitOutput,
        OutputOp as WitOp,
    };
    use crate::batch_v2::TransformsV2;
    use crate::{Encoded, OutputOp, CONTRACT_VERSION_2};

    /// `describe: func() -> info`.
    pub fn describe(name: &str, backward: bool) -> Info {
        Info {
            name: name.to_string(),
            contract_version: CONTRACT_VERSION_2,
            backward,
            reads: Vec::new(),
            writes: Vec::new(),
        }
    }

    /// `transform: func(dir: direction, batch: list<u8>) -> list<document-result>`.
    pub fn transform(t: &TransformsV2, dir: Direction, batch: &[u8]) -> Vec<DocumentResult> {
        let f = t.pick(matches!(dir, Direction::Backward));
        let mut out = Vec::new();
        run_batch_v2(f, batch, |o, outputs| {
            let outcome = match Encoded::from(o) {
                Encoded::Keep => WitOutcome::Keep,
                Encoded::Replace(bytes) => WitOutcome::Replace(bytes),
                Encoded::Delete => WitOutcome::Delete,
                Encoded::Fail(message) => WitOutcome::Fail(message),
            };
            let outputs = outputs
                .into_iter()
                .map(|o| WitOutput {
                    op: match o.op {
                        OutputOp::Insert => WitOp::Insert,
                        OutputOp::Upsert => WitOp::Upsert,
                        OutputOp::Delete => WitOp::Delete,
                    },
                    collection: o.collection,
                    document: o.document.into_bytes(),
                })
                .collect();
            out.push(DocumentResult { outcome, outputs });
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use bson::{doc, Document, RawDocument, RawDocumentBuf};

    use super::*;
    use crate::batch_v2::adapt_v2;
    use crate::{Context, Outcome};

    #[test]
    fn outputs_follow_each_outcome_record() {
        let f = adapt_v2(|d: &RawDocument, cx: &mut Context<'_>| {
            if d.get_i32("_id") == Ok(1) {
                cx.upsert("db2.c", doc! { "_id": 1 });
            }
            Outcome::Keep
        });
        let raw = |d: Document| RawDocumentBuf::from_document(&d).expect("raw").into_bytes();
        let batch = [
            raw(doc! { "_id": 1 }),
            raw(doc! {}),
            raw(doc! { "_id": 2 }),
            raw(doc! {}),
        ]
        .concat();
        let mut out = vec![1, 2, 3];
        encode_outcomes_v2(&f, &batch, &mut out);
        let id1 = raw(doc! { "_id": 1 });
        let mut expected = Vec::new();
        expected.extend_from_slice(&2u32.to_le_bytes()); // count
        expected.extend_from_slice(&[0, 0, 0, 0, 0]); // keep
        expected.extend_from_slice(&1u32.to_le_bytes()); // one output
        expected.push(1); // upsert
        expected.extend_from_slice(&5u32.to_le_bytes());
        expected.extend_from_slice(b"db2.c");
        expected.extend_from_slice(&(id1.len() as u32).to_le_bytes());
        expected.extend_from_slice(&id1);
        expected.extend_from_slice(&[0, 0, 0, 0, 0]); // keep
        expected.extend_from_slice(&0u32.to_le_bytes()); // no outputs
        assert_eq!(out[4..], expected[..]);
        assert_eq!(out[..4], (expected.len() as u32).to_le_bytes());
    }
}
