//! Writes that apply only while a document is exactly as the transform saw
//! it (runs without transactions). The whole document is compared, so a
//! field another client changed, added or removed is seen; the document is
//! found by `_id` alone, the server's fastest lookup.

use bson::{rawdoc, RawArrayBuf, RawBson, RawDocument, RawDocumentBuf};

/// The expression true while the current document equals `doc`.
fn equals(doc: &RawDocument) -> RawDocumentBuf {
    rawdoc! { "$eq": ["$$ROOT", { "$literal": doc.to_raw_document_buf() }] }
}

/// The `_id` of `doc` (every stored document has one).
fn id_of(doc: &RawDocument) -> RawBson {
    doc.get("_id")
        .ok()
        .flatten()
        .map_or(RawBson::Null, |v| v.to_raw_bson())
}

/// The filter and the pipeline of an update by `_id` that replaces the
/// document with `new` only while it equals `doc`, and otherwise leaves it as
/// it is (the server then counts it matched but not modified).
pub(crate) fn replace_if_unchanged(
    doc: &RawDocument,
    new: &RawDocument,
) -> (RawDocumentBuf, RawArrayBuf) {
    let choice = rawdoc! {
        "$cond": [equals(doc), { "$literal": new.to_raw_document_buf() }, "$$ROOT"],
    };
    let mut pipeline = RawArrayBuf::new();
    pipeline.push(rawdoc! { "$replaceWith": choice });
    (rawdoc! { "_id": id_of(doc) }, pipeline)
}

/// The filter of a deletion that applies only while the document equals
/// `doc`.
pub(crate) fn unchanged_filter(doc: &RawDocument) -> RawDocumentBuf {
    rawdoc! { "_id": id_of(doc), "$expr": equals(doc) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_update_compares_the_whole_document_and_finds_it_by_id() {
        let old = rawdoc! { "_id": 7, "a": { "b": 1 }, "x.y": "$z" };
        let new = rawdoc! { "_id": 7, "c": "$d" };
        let (filter, pipeline) = replace_if_unchanged(&old, &new);
        assert_eq!(filter, rawdoc! { "_id": 7 });
        let mut expected = RawArrayBuf::new();
        expected.push(rawdoc! { "$replaceWith": { "$cond": [
            { "$eq": ["$$ROOT", { "$literal": old.clone() }] },
            { "$literal": new.clone() },
            "$$ROOT",
        ] } });
        assert_eq!(pipeline, expected);
    }

    #[test]
    fn the_deletion_filter_compares_the_whole_document() {
        let old = rawdoc! { "_id": "k", "n": null };
        assert_eq!(
            unchanged_filter(&old),
            rawdoc! { "_id": "k", "$expr": { "$eq": ["$$ROOT", { "$literal": old.clone() }] } }
        );
    }
}
