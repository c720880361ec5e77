//! `_id` helpers, the only ones: reading a document's `_id`, showing it in a
//! message, and the key that deduplicates it.

use bson::{Bson, RawBson, RawBsonRef, RawDocument, RawDocumentBuf};

use crate::text;

/// The `_id` of `doc` (null when it has none).
pub(crate) fn id_of(doc: &RawDocument) -> RawBson {
    doc.get("_id")
        .ok()
        .flatten()
        .map_or(RawBson::Null, |v| v.to_raw_bson())
}

/// An `_id` for messages: a document's `_id` can be megabytes of anything,
/// so it is bounded and escaped.
pub(crate) fn show_id(id: &RawBson) -> String {
    match Bson::try_from(id.clone()) {
        Ok(b) => text::bounded(b.to_string().as_bytes(), text::MAX_ID_BYTES),
        Err(_) => "(unprintable _id)".into(),
    }
}

/// The `_id` of `doc` for messages.
pub(crate) fn show_id_of(doc: &RawDocument) -> String {
    show_id(&id_of(doc))
}

/// The key an `_id` is deduplicated by: its BSON bytes in a one-field
/// document, so equal values of the same type are equal keys whatever their
/// form (a document `_id` compares field by field, as the server does).
pub(crate) fn raw_id_key(id: Option<RawBsonRef<'_>>) -> Vec<u8> {
    let mut d = RawDocumentBuf::new();
    if let Some(id) = id {
        d.append("k", id.to_raw_bson());
    }
    d.into_bytes()
}

/// [`raw_id_key`] of a parsed `_id`.
pub(crate) fn id_key(id: &Bson) -> Vec<u8> {
    match RawBson::try_from(id.clone()) {
        Ok(raw) => raw_id_key(Some(raw.as_raw_bson_ref())),
        Err(_) => raw_id_key(None),
    }
}

#[cfg(test)]
mod tests {
    use bson::{doc, oid::ObjectId};

    use super::*;

    #[test]
    fn a_parsed_and_a_raw_id_have_the_same_key() {
        for id in [
            Bson::Int32(7),
            Bson::String("a".into()),
            Bson::ObjectId(ObjectId::new()),
            Bson::Document(doc! { "a": 1, "b": [1, 2] }),
        ] {
            let raw = RawBson::try_from(id.clone()).expect("converts");
            assert_eq!(id_key(&id), raw_id_key(Some(raw.as_raw_bson_ref())));
            // The key the rewrite used before: the BSON of `{k: id}`.
            assert_eq!(
                id_key(&id),
                bson::to_vec(&doc! { "k": id.clone() }).expect("encodes")
            );
        }
    }

    #[test]
    fn keys_tell_types_apart() {
        assert_ne!(id_key(&Bson::Int32(1)), id_key(&Bson::Int64(1)));
        assert_ne!(id_key(&Bson::Int32(1)), id_key(&Bson::String("1".into())));
    }

    #[test]
    fn ids_are_shown_bounded() {
        let long = "x".repeat(10_000);
        let shown = show_id(&RawBson::String(long));
        assert!(shown.len() <= text::MAX_ID_BYTES + 8, "{}", shown.len());
        let d = bson::rawdoc! { "_id": 5, "a": 1 };
        assert_eq!(show_id_of(&d), "5");
        assert_eq!(show_id_of(&bson::rawdoc! { "a": 1 }), "null");
    }
}
