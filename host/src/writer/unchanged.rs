//! Writes that apply only while a document is exactly as the transform saw
//! it (runs without transactions). The whole document is compared, so a
//! field another client changed, added or removed is seen; the document is
//! found by `_id` alone, the server's fastest lookup. An update that does
//! not apply fails with a write error of its own, so the reply of one
//! unordered `update` names each write that did not apply, on every server.

use bson::{rawdoc, Bson, Document, RawArrayBuf, RawBson, RawDocument, RawDocumentBuf};

/// Begins the value an update that did not apply tries to replace its
/// document with (a string, which the server refuses).
const CHANGED: &str = "mongoshift: changed since it was read; ";

/// The server's code for a `$replaceWith` whose value is not a document
/// (MongoDB; secantusd-rs answers the same).
const NOT_A_DOCUMENT: i32 = 40228;

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
/// document with `new` only while it equals `doc`. Otherwise the update
/// fails with a write error [`did_not_apply`] recognises; the document is
/// left as it is. The value it fails on depends on the document, so the
/// server cannot evaluate it before it has compared.
pub(crate) fn replace_if_unchanged(
    doc: &RawDocument,
    new: &RawDocument,
) -> (RawDocumentBuf, RawArrayBuf) {
    let refused = rawdoc! { "$concat": [CHANGED, { "$type": "$$ROOT" }] };
    let choice = rawdoc! {
        "$cond": [equals(doc), { "$literal": new.to_raw_document_buf() }, refused],
    };
    let mut pipeline = RawArrayBuf::new();
    pipeline.push(rawdoc! { "$replaceWith": choice });
    (rawdoc! { "_id": id_of(doc) }, pipeline)
}

/// Whether a write error of an update from [`replace_if_unchanged`] says
/// only that the document had changed. The code alone decides (a server may
/// cut or drop the message of many errors); the message is a second sign.
fn did_not_apply(error: &Document) -> bool {
    error.get_i32("code") == Ok(NOT_A_DOCUMENT)
        || error.get_str("errmsg").is_ok_and(|m| m.contains(CHANGED))
}

/// Takes out of an `update` reply the write errors of updates that did not
/// apply because their document had changed, and returns their statement
/// indexes. Other errors stay in the reply, to be reported.
pub(crate) fn take_not_applied(reply: &mut Document) -> Vec<usize> {
    let Ok(errors) = reply.get_array_mut("writeErrors") else {
        return Vec::new();
    };
    let mut not_applied = Vec::new();
    errors.retain(|e| match e {
        Bson::Document(e) if did_not_apply(e) => {
            let at = e.get_i32("index").map_or(-1, |i| i);
            if let Ok(at) = usize::try_from(at) {
                not_applied.push(at);
            }
            false
        }
        _ => true,
    });
    not_applied
}

/// The filter of a deletion that applies only while the document equals
/// `doc`. The `_id` and the comparison are two clauses of an `$and`: found
/// by `_id` on every server (secantusd-rs scans the whole collection for a
/// filter with `$expr` beside `_id` at its top level, once per deletion).
pub(crate) fn unchanged_filter(doc: &RawDocument) -> RawDocumentBuf {
    rawdoc! { "$and": [{ "_id": id_of(doc) }, { "$expr": equals(doc) }] }
}

#[cfg(test)]
mod tests {
    use bson::doc;

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
            { "$concat": [CHANGED, { "$type": "$$ROOT" }] },
        ] } });
        assert_eq!(pipeline, expected);
    }

    #[test]
    fn only_the_errors_of_changed_documents_are_taken_out() {
        let mut reply = doc! { "n": 3, "writeErrors": [
            { "index": 0, "code": 40228, "errmsg": "" },
            { "index": 1, "code": 17419, "errmsg": "too large" },
            { "index": 2, "code": 2, "errmsg": format!("was: \"{CHANGED}object\"") },
        ] };
        assert_eq!(take_not_applied(&mut reply), vec![0, 2]);
        assert_eq!(
            reply,
            doc! { "n": 3, "writeErrors": [{ "index": 1, "code": 17419, "errmsg": "too large" }] }
        );
        let mut none = doc! { "n": 1 };
        assert!(take_not_applied(&mut none).is_empty());
    }

    #[test]
    fn the_deletion_filter_compares_the_whole_document() {
        let old = rawdoc! { "_id": "k", "n": null };
        assert_eq!(
            unchanged_filter(&old),
            rawdoc! { "$and": [
                { "_id": "k" },
                { "$expr": { "$eq": ["$$ROOT", { "$literal": old.clone() }] } },
            ] }
        );
    }
}
