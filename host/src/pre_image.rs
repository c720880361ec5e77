//! The layout of a pre-image collection (`mongoshift_preimages_<id>`).
//!
//! A run keeps the originals of a batch as one record, in `_id` order:
//!
//! ```text
//! { _id: <first original's _id>, last: <last original's _id>, n: <count>,
//!   docs: [ { _id, op: "replace" | "delete", doc: <original> }, ... ] }
//! ```
//!
//! split into several records where one would pass the server's 16 MiB
//! document limit. Earlier versions kept one record per document,
//! `{ _id, op, doc }`; a collection may hold both (a run resumed by this
//! version), and both are read. Records of documents a cross-collection run
//! wrote elsewhere (`op: "output"`) stay one per document.

use bson::{rawdoc, RawArrayBuf, RawBson, RawBsonRef, RawDocument, RawDocumentBuf};

use crate::batch::show_id_of;
use crate::error::{MigrateError, Result};
use crate::wasm::MAX_DOCUMENT_BYTES;

/// The field of a batch record that holds its originals.
pub(crate) const DOCS: &str = "docs";

/// The name of the index on the `_id`s a batch record holds, created with
/// the collection: which documents already have an original kept is found
/// without reading the records.
pub(crate) const IDS_INDEX: &str = "docs._id";

/// One original a record keeps.
pub(crate) struct Original<'a> {
    pub(crate) id: RawBsonRef<'a>,
    pub(crate) doc: &'a RawDocument,
}

/// The originals `record` keeps, in order: one for a per-document record,
/// each of `docs` for a batch record. A record of neither form is refused,
/// naming `collection` and the record's `_id`.
pub(crate) fn originals<'a>(
    collection: &str,
    record: &'a RawDocument,
) -> Result<Vec<Original<'a>>> {
    let bad = |what: &str| MigrateError::Encoding {
        context: format!("the pre-images in {collection} are damaged"),
        message: format!("record {}: {what}", show_id_of(record)),
    };
    if let Ok(Some(docs)) = record.get(DOCS) {
        let RawBsonRef::Array(docs) = docs else {
            return Err(bad("`docs` is not an array"));
        };
        let mut out = Vec::new();
        for entry in docs {
            let Ok(RawBsonRef::Document(entry)) = entry else {
                return Err(bad("an entry of `docs` is not a document"));
            };
            out.push(one(entry).ok_or_else(|| bad("an entry of `docs` without `_id` or `doc`"))?);
        }
        return Ok(out);
    }
    one(record)
        .map(|o| vec![o])
        .ok_or_else(|| bad("neither a `doc` nor a `docs` array"))
}

/// `{_id, doc}` of a per-document record or a batch record's entry.
fn one(d: &RawDocument) -> Option<Original<'_>> {
    let id = d.get("_id").ok().flatten()?;
    let doc = d.get_document("doc").ok()?;
    Some(Original { id, doc })
}

/// A record ready to insert, and the tags (batch indexes) of its originals.
pub(crate) struct Part {
    pub(crate) record: RawDocumentBuf,
    pub(crate) tags: Vec<usize>,
}

/// Builds the records of one batch from its originals, pushed in `_id`
/// order, each record kept within [`MAX_DOCUMENT_BYTES`]. An original too
/// large to fit even alone gets a record of its own, which the server
/// refuses, naming it.
#[derive(Default)]
pub(crate) struct Records {
    done: Vec<Part>,
    first: Option<RawBson>,
    last: Option<RawBson>,
    docs: RawArrayBuf,
    tags: Vec<usize>,
    /// The bytes of `docs`' elements so far.
    bytes: usize,
}

impl Records {
    pub(crate) fn push(&mut self, tag: usize, id: RawBson, delete: bool, doc: &RawDocument) {
        let op = if delete { "delete" } else { "replace" };
        let entry = rawdoc! { "_id": id.clone(), "op": op, "doc": doc.to_raw_document_buf() };
        if let Some(first) = &self.first {
            let element = element_bytes(self.tags.len(), entry.as_bytes().len());
            if record_bytes(first, &id, self.bytes + element) > MAX_DOCUMENT_BYTES {
                self.close();
            }
        }
        // Its element in the record it goes to (a new one starts at index 0).
        let element = element_bytes(self.tags.len(), entry.as_bytes().len());
        if self.tags.is_empty() {
            self.first = Some(id.clone());
        }
        self.docs.push(entry);
        self.tags.push(tag);
        self.bytes += element;
        self.last = Some(id);
    }

    fn close(&mut self) {
        let (Some(first), Some(last)) = (self.first.take(), self.last.take()) else {
            return;
        };
        let n = i32::try_from(self.tags.len()).unwrap_or(i32::MAX);
        let docs = std::mem::take(&mut self.docs);
        self.done.push(Part {
            record: rawdoc! { "_id": first, "last": last, "n": n, DOCS: docs },
            tags: std::mem::take(&mut self.tags),
        });
        self.bytes = 0;
    }

    /// The records, in `_id` order.
    pub(crate) fn finish(mut self) -> Vec<Part> {
        self.close();
        self.done
    }
}

/// The bytes of an array element at `index` holding a document of `len`
/// bytes: type, decimal key and its terminator, the document.
fn element_bytes(index: usize, len: usize) -> usize {
    1 + index.to_string().len() + 1 + len
}

/// The bytes of a record with these `_id`s whose `docs` elements take
/// `elements` bytes.
fn record_bytes(first: &RawBson, last: &RawBson, elements: usize) -> usize {
    let value = |v: &RawBson| rawdoc! { "v": v.clone() }.as_bytes().len() - 8;
    let id = 1 + 4 + value(first);
    let last = 1 + 5 + value(last);
    let n = 1 + 2 + 4;
    let docs = 1 + 5 + 4 + elements + 1;
    4 + id + last + n + docs + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn original(i: i32, bytes: usize) -> RawDocumentBuf {
        rawdoc! { "_id": i, "s": "x".repeat(bytes) }
    }

    #[test]
    fn a_batch_is_one_record_with_its_originals_in_order() {
        let mut r = Records::default();
        let docs: Vec<_> = (1..=3).map(|i| original(i, 10)).collect();
        for (i, d) in docs.iter().enumerate() {
            r.push(i, RawBson::Int32(i as i32 + 1), i == 1, d);
        }
        let parts = r.finish();
        assert_eq!(parts.len(), 1);
        let rec = &parts[0].record;
        assert_eq!(rec.get_i32("_id").expect("as built"), 1);
        assert_eq!(rec.get_i32("last").expect("as built"), 3);
        assert_eq!(rec.get_i32("n").expect("as built"), 3);
        let kept = originals("p", rec).expect("as built");
        assert_eq!(kept.len(), 3);
        assert_eq!(kept[1].doc.as_bytes(), docs[1].as_bytes());
        assert_eq!(parts[0].tags, vec![0, 1, 2]);
    }

    #[test]
    fn records_are_split_below_the_document_limit_and_their_size_is_exact() {
        let mut r = Records::default();
        let docs: Vec<_> = (0..8).map(|i| original(i, 3 << 20)).collect();
        for (i, d) in docs.iter().enumerate() {
            r.push(i, RawBson::Int32(i as i32), false, d);
        }
        let parts = r.finish();
        assert!(parts.len() >= 2);
        let mut all = Vec::new();
        for p in &parts {
            assert!(p.record.as_bytes().len() <= MAX_DOCUMENT_BYTES);
            let n = p.record.get_i32("n").expect("as built") as usize;
            let elements: usize = originals("p", &p.record)
                .expect("as built")
                .iter()
                .enumerate()
                .map(|(i, o)| {
                    let e = rawdoc! { "_id": o.id.to_raw_bson(), "op": "replace", "doc": o.doc.to_raw_document_buf() };
                    element_bytes(i, e.as_bytes().len())
                })
                .sum();
            let first = p
                .record
                .get("_id")
                .expect("as built")
                .expect("as built")
                .to_raw_bson();
            let last = p
                .record
                .get("last")
                .expect("as built")
                .expect("as built")
                .to_raw_bson();
            assert_eq!(
                record_bytes(&first, &last, elements),
                p.record.as_bytes().len()
            );
            assert_eq!(n, p.tags.len());
            all.extend(p.tags.iter().copied());
        }
        assert_eq!(all, (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn a_record_of_neither_form_is_named() {
        let bad = rawdoc! { "_id": "x1", "op": "replace" };
        let e = originals("mongoshift_preimages_m", &bad)
            .err()
            .expect("refused");
        let text = e.to_string();
        assert!(text.contains("mongoshift_preimages_m"), "{text}");
        assert!(text.contains("x1"), "{text}");
        let old = rawdoc! { "_id": 7, "op": "delete", "doc": { "_id": 7, "a": 1 } };
        assert_eq!(originals("p", &old).expect("as built").len(), 1);
    }
}
