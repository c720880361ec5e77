//! The layout of a pre-image collection (`mongoshift_preimages_<id>`).
//!
//! A run keeps the originals of a batch as one record, in `_id` order:
//!
//! ```text
//! { _id: <first original's _id>, last: <last original's _id>, n: <count>,
//!   ids: [ <each original's _id>, ... ],
//!   zdocs: BinData(0, zstd( { _id, op: "replace" | "delete", doc: <original> } ... )) }
//! ```
//!
//! `zdocs` is one zstd frame (with its checksum) of the entries' BSON, one
//! after another. A record is split where its entries would pass the
//! server's 16 MiB document limit before compression, so no record, packed
//! or unpacked, passes it.
//!
//! Earlier versions kept the entries uncompressed, as an array `docs`, and
//! before that one record per document, `{ _id, op, doc }`. A collection may
//! hold all three (a run resumed by this version) and all are read. Records
//! of documents a cross-collection run wrote elsewhere (`op: "output"`) stay
//! one per document.

use bson::spec::BinarySubtype;
use bson::{rawdoc, Binary, RawArrayBuf, RawBson, RawBsonRef, RawDocument, RawDocumentBuf};

use crate::batch::show_id_of;
use crate::error::{MigrateError, Result};
use crate::wasm::MAX_DOCUMENT_BYTES;

/// The field of a batch record that holds its originals, compressed.
pub(crate) const PACKED: &str = "zdocs";

/// The field of a batch record that lists its originals' `_id`s.
pub(crate) const IDS: &str = "ids";

/// The field of an earlier version's batch record that holds its originals.
pub(crate) const DOCS: &str = "docs";

/// The indexes on the `_id`s batch records hold (this version's, then the
/// earlier one's), created when a run finds the collection not empty:
/// which documents already have an original kept is found without reading
/// the records.
pub(crate) const IDS_INDEXES: [&str; 2] = [IDS, "docs._id"];

/// The zstd level records are written with: the fastest, since the
/// originals of a batch (documents of one collection, side by side)
/// compress well at any level.
const LEVEL: i32 = 1;

/// One original a record keeps.
pub(crate) struct Original {
    pub(crate) id: RawBson,
    pub(crate) doc: RawDocumentBuf,
}

/// The originals `record` keeps, in order: one for a per-document record,
/// each of `docs` or `zdocs` for a batch record. A record of no known form,
/// or whose entries do not read back, is refused, naming `collection` and
/// the record's `_id`.
pub(crate) fn originals(collection: &str, record: &RawDocument) -> Result<Vec<Original>> {
    let mut out = Vec::new();
    for entry in entries(collection, record)? {
        let o = one(&entry).map(|(id, doc)| Original {
            id: id.to_raw_bson(),
            doc: doc.to_raw_document_buf(),
        });
        out.extend(o);
    }
    Ok(out)
}

/// The entries `{ _id, op, doc }` a pre-image record keeps, in `_id`
/// order, whichever version wrote it (the record itself for one written one
/// per document). Fails, naming `collection` and the record, on a record of
/// no known form, a `zdocs` that does not decompress, or an entry without
/// `_id` or `doc`.
pub fn entries(collection: &str, record: &RawDocument) -> Result<Vec<RawDocumentBuf>> {
    let bad = |what: &str| MigrateError::Encoding {
        context: format!("the pre-images in {collection} are damaged"),
        message: format!("record {}: {what}", show_id_of(record)),
    };
    if let Ok(Some(packed)) = record.get(PACKED) {
        let RawBsonRef::Binary(packed) = packed else {
            return Err(bad("`zdocs` is not binary data"));
        };
        let out = unpack(packed.bytes).map_err(|e| bad(&e))?;
        if let Ok(n) = record.get_i32("n") {
            if usize::try_from(n).ok() != Some(out.len()) {
                return Err(bad(&format!("`n` is {n} but `zdocs` holds {}", out.len())));
            }
        }
        return Ok(out);
    }
    if let Ok(Some(docs)) = record.get(DOCS) {
        let RawBsonRef::Array(docs) = docs else {
            return Err(bad("`docs` is not an array"));
        };
        let mut out = Vec::new();
        for entry in docs {
            let Ok(RawBsonRef::Document(entry)) = entry else {
                return Err(bad("an entry of `docs` is not a document"));
            };
            one(entry).ok_or_else(|| bad("an entry of `docs` without `_id` or `doc`"))?;
            out.push(entry.to_raw_document_buf());
        }
        return Ok(out);
    }
    one(record)
        .map(|_| vec![record.to_raw_document_buf()])
        .ok_or_else(|| bad("neither a `doc` nor a `docs` or `zdocs`"))
}

/// The entries of a `zdocs` frame, each checked to have `_id` and `doc`.
fn unpack(packed: &[u8]) -> std::result::Result<Vec<RawDocumentBuf>, String> {
    // No record's entries pass the document limit before compression, but
    // a single original may fill it: twice the limit bounds any record.
    let raw = zstd::bulk::decompress(packed, 2 * MAX_DOCUMENT_BYTES)
        .map_err(|e| format!("`zdocs` does not decompress ({e})"))?;
    let mut out = Vec::new();
    let mut at = 0;
    while at < raw.len() {
        let len = raw
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(i32::from_le_bytes)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n >= 5 && at + n <= raw.len())
            .ok_or_else(|| format!("`zdocs` is cut short after {} entries", out.len()))?;
        let entry = RawDocument::from_bytes(&raw[at..at + len])
            .map_err(|e| format!("entry {} of `zdocs` is not a document ({e})", out.len()))?;
        one(entry)
            .ok_or_else(|| format!("entry {} of `zdocs` has no `_id` or `doc`", out.len()))?;
        out.push(entry.to_raw_document_buf());
        at += len;
    }
    Ok(out)
}

/// `_id` and `doc` of a per-document record or a batch record's entry.
fn one(d: &RawDocument) -> Option<(RawBsonRef<'_>, &RawDocument)> {
    let id = d.get("_id").ok().flatten()?;
    let doc = d.get_document("doc").ok()?;
    Some((id, doc))
}

/// A record ready to insert, and the tags (batch indexes) of its originals.
#[derive(Clone)]
pub(crate) struct Part {
    pub(crate) record: RawDocumentBuf,
    pub(crate) tags: Vec<usize>,
}

/// The records of a whole batch as the reader read it, built by a worker
/// while earlier batches commit: the batch's transaction uses them when it
/// finds every document of the batch as read, which keeps building and
/// compressing the originals off the writer's path.
pub(crate) struct BatchRecords {
    pub(crate) parts: Vec<Part>,
}

/// Builds the records of one batch from its originals, pushed in `_id`
/// order, each record's entries kept within [`MAX_DOCUMENT_BYTES`] before
/// compression. An original too large to fit even alone gets a record of
/// its own.
#[derive(Default)]
pub(crate) struct Records {
    done: Vec<Part>,
    first: Option<RawBson>,
    /// The bytes of `first` as a BSON value.
    first_bytes: usize,
    last: Option<RawBson>,
    ids: RawArrayBuf,
    /// The bytes of `ids`' elements so far.
    ids_bytes: usize,
    /// The entries so far, one after another.
    entries: Vec<u8>,
    tags: Vec<usize>,
}

thread_local! {
    /// Each thread's zstd context, made once: its tables are reused from
    /// one record to the next.
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

impl Records {
    pub(crate) fn push(&mut self, tag: usize, id: RawBson, delete: bool, doc: &RawDocument) {
        let op = if delete { "delete" } else { "replace" };
        let entry = rawdoc! { "_id": id.clone(), "op": op, "doc": doc.to_raw_document_buf() };
        let id_bytes = value_bytes(&id);
        if self.first.is_some() {
            let ids = self.ids_bytes + element_bytes(self.tags.len(), id_bytes);
            let entries = self.entries.len() + entry.as_bytes().len();
            if record_bytes(self.first_bytes, id_bytes, ids, entries) > MAX_DOCUMENT_BYTES {
                self.close();
            }
        }
        // Its element in the record it goes to (a new one starts at index 0).
        self.ids_bytes += element_bytes(self.tags.len(), id_bytes);
        if self.tags.is_empty() {
            self.first = Some(id.clone());
            self.first_bytes = id_bytes;
        }
        self.entries.extend_from_slice(entry.as_bytes());
        self.ids.push(id.clone());
        self.tags.push(tag);
        self.last = Some(id);
    }

    fn close(&mut self) {
        let (Some(first), Some(last)) = (self.first.take(), self.last.take()) else {
            return;
        };
        let n = i32::try_from(self.tags.len()).unwrap_or(i32::MAX);
        let packed = self.compress();
        let ids = std::mem::take(&mut self.ids);
        let zdocs = Binary {
            subtype: BinarySubtype::Generic,
            bytes: packed,
        };
        self.done.push(Part {
            record: rawdoc! { "_id": first, "last": last, "n": n, IDS: ids, PACKED: zdocs },
            tags: std::mem::take(&mut self.tags),
        });
        self.entries.clear();
        self.ids_bytes = 0;
    }

    /// The entries so far as one zstd frame with its checksum. zstd fails
    /// only on an allocation failure, which aborts anyway.
    fn compress(&mut self) -> Vec<u8> {
        COMPRESSOR.with_borrow_mut(|c| {
            let c = c.get_or_insert_with(|| {
                let mut c = zstd::bulk::Compressor::new(LEVEL).expect("a zstd context");
                c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))
                    .expect("a zstd parameter");
                c
            });
            c.compress(&self.entries)
                .expect("zstd compresses any input")
        })
    }

    /// The records, in `_id` order.
    pub(crate) fn finish(mut self) -> Vec<Part> {
        self.close();
        self.done
    }
}

/// The bytes of an array element at `index` holding a value of `len`
/// bytes: type, decimal key and its terminator, the value.
fn element_bytes(index: usize, len: usize) -> usize {
    let digits = index.checked_ilog10().map_or(1, |d| d as usize + 1);
    1 + digits + 1 + len
}

/// The bytes of `v` as a BSON value.
fn value_bytes(v: &RawBson) -> usize {
    rawdoc! { "v": v.clone() }.as_bytes().len() - 8
}

/// At most the bytes of a record whose first and last `_id`s take `first`
/// and `last` bytes as values, whose `ids` elements take `ids` bytes and
/// whose entries take `entries` bytes before compression (zstd's bound on
/// what they take after).
fn record_bytes(first: usize, last: usize, ids: usize, entries: usize) -> usize {
    let id = 1 + 4 + first;
    let last = 1 + 5 + last;
    let n = 1 + 2 + 4;
    let ids = 1 + 4 + 4 + ids + 1;
    let zdocs = 1 + 6 + 4 + 1 + zstd::zstd_safe::compress_bound(entries);
    4 + id + last + n + ids + zdocs + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn original(i: i32, bytes: usize) -> RawDocumentBuf {
        rawdoc! { "_id": i, "s": "x".repeat(bytes) }
    }

    /// Bytes zstd cannot shrink: a record's size is then close to its bound.
    fn incompressible(i: i32, bytes: usize) -> RawDocumentBuf {
        let mut x = 0x9e37_79b9_7f4a_7c15_u64 ^ i as u64;
        let noise: Vec<u8> = (0..bytes)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let noise = Binary {
            subtype: BinarySubtype::Generic,
            bytes: noise,
        };
        rawdoc! { "_id": i, "b": noise }
    }

    #[test]
    fn a_batch_is_one_packed_record_with_its_originals_in_order() {
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
        let ids: Vec<i32> = rec
            .get_array(IDS)
            .expect("as built")
            .into_iter()
            .map(|v| v.expect("as built").as_i32().expect("as built"))
            .collect();
        assert_eq!(ids, vec![1, 2, 3]);
        let kept = originals("p", rec).expect("as built");
        assert_eq!(kept.len(), 3);
        assert_eq!(kept[1].doc.as_bytes(), docs[1].as_bytes());
        let ops: Vec<String> = entries("p", rec)
            .expect("as built")
            .iter()
            .map(|e| e.get_str("op").expect("as built").to_string())
            .collect();
        assert_eq!(ops, ["replace", "delete", "replace"]);
        assert_eq!(parts[0].tags, vec![0, 1, 2]);
    }

    #[test]
    fn records_are_split_below_the_document_limit_even_when_nothing_compresses() {
        for make in [original, incompressible] {
            let mut r = Records::default();
            let docs: Vec<_> = (0..8).map(|i| make(i, 3 << 20)).collect();
            for (i, d) in docs.iter().enumerate() {
                r.push(i, RawBson::Int32(i as i32), false, d);
            }
            let parts = r.finish();
            assert!(parts.len() >= 2);
            let mut all = Vec::new();
            for p in &parts {
                assert!(p.record.as_bytes().len() <= MAX_DOCUMENT_BYTES);
                let kept = originals("p", &p.record).expect("as built");
                assert_eq!(kept.len(), p.tags.len());
                for (o, tag) in kept.iter().zip(&p.tags) {
                    assert_eq!(o.doc.as_bytes(), docs[*tag].as_bytes());
                }
                all.extend(p.tags.iter().copied());
            }
            assert_eq!(all, (0..8).collect::<Vec<_>>());
        }
    }

    #[test]
    fn an_element_counts_its_key_digits() {
        for index in [0, 9, 10, 99, 100, 1_000] {
            let mut a = RawArrayBuf::new();
            for _ in 0..=index {
                a.push(RawBson::Int32(1));
            }
            let before: usize = (0..index).map(|i| element_bytes(i, 4)).sum();
            assert_eq!(4 + before + element_bytes(index, 4) + 1, a.as_bytes().len());
        }
    }

    #[test]
    fn the_bound_holds_for_a_record_of_noise() {
        let mut r = Records::default();
        let d = incompressible(1, 1 << 20);
        r.push(0, RawBson::Int32(1), false, &d);
        let parts = r.finish();
        let entry_bytes = rawdoc! { "_id": 1, "op": "replace", "doc": d.clone() }
            .as_bytes()
            .len();
        let id = value_bytes(&RawBson::Int32(1));
        let bound = record_bytes(id, id, element_bytes(0, id), entry_bytes);
        let size = parts[0].record.as_bytes().len();
        assert!(size <= bound, "{size} > {bound}");
        assert!(size + 64 >= entry_bytes, "noise does not shrink: {size}");
    }

    #[test]
    fn records_of_every_form_are_read_and_a_damaged_one_is_named() {
        let bad = rawdoc! { "_id": "x1", "op": "replace" };
        let text = originals("mongoshift_preimages_m", &bad)
            .err()
            .expect("refused")
            .to_string();
        assert!(text.contains("mongoshift_preimages_m"), "{text}");
        assert!(text.contains("x1"), "{text}");
        let old = rawdoc! { "_id": 7, "op": "delete", "doc": { "_id": 7, "a": 1 } };
        assert_eq!(originals("p", &old).expect("as built").len(), 1);
        let docs = rawdoc! { "_id": 7, "last": 8, "n": 2, "docs": [
            { "_id": 7, "op": "delete", "doc": { "_id": 7 } },
            { "_id": 8, "op": "replace", "doc": { "_id": 8 } },
        ] };
        assert_eq!(originals("p", &docs).expect("as built").len(), 2);

        let mut r = Records::default();
        r.push(0, RawBson::Int32(7), false, &original(7, 100));
        r.push(1, RawBson::Int32(8), false, &original(8, 100));
        let rec = r.finish().remove(0).record;
        let packed = match rec.get(PACKED) {
            Ok(Some(RawBsonRef::Binary(b))) => b.bytes.to_vec(),
            other => panic!("{other:?}"),
        };
        let with = |zdocs: &[u8], n: i32| {
            let zdocs = Binary {
                subtype: BinarySubtype::Generic,
                bytes: zdocs.to_vec(),
            };
            let r = rawdoc! { "_id": "r9", "n": n, PACKED: zdocs };
            originals("p", &r).err().map(|e| e.to_string())
        };
        assert_eq!(with(&packed, 2), None);
        let cut = with(&packed[..packed.len() - 3], 2).expect("refused");
        assert!(
            cut.contains("record \"r9\": `zdocs` does not decompress"),
            "{cut}"
        );
        let mut flipped = packed.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0x40;
        assert!(
            with(&flipped, 2).is_some(),
            "the checksum catches a changed byte"
        );
        let n = with(&packed, 3).expect("refused");
        assert!(n.contains("`n` is 3 but `zdocs` holds 2"), "{n}");
    }
}
