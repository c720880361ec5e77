//! The input batch of contract version 2 (`guest-sdk/ABI.md`) from a
//! version-1 batch: each document followed by its lookups document, laid
//! out by [`crate::batch::interleave`], the one place that builds it.

use bson::{RawDocument, RawDocumentBuf};

pub use crate::batch::EMPTY_LOOKUPS;

/// Interleaves a batch of concatenated BSON documents (`docs`, the version-1
/// layout) with one lookups document per document (`lookups[i]` for
/// document `i`; `{}` for each when `None`), as a version-2 module reads it.
///
/// # Panics
///
/// If `docs` is not a sequence of whole documents, or `lookups` has not
/// exactly one valid document per document: both are the caller's bug,
/// never the guest's or the data's.
pub fn interleave(docs: &[u8], lookups: Option<&[Vec<u8>]>) -> Vec<u8> {
    let mut split: Vec<&RawDocument> = Vec::new();
    let mut rest = docs;
    while let Some(head) = rest.first_chunk::<4>() {
        let len = usize::try_from(i32::from_le_bytes(*head))
            .ok()
            .filter(|n| (5..=rest.len()).contains(n))
            .unwrap_or_else(|| {
                panic!(
                    "interleave: no whole document at byte {} of the batch",
                    docs.len() - rest.len()
                )
            });
        let (doc, tail) = rest.split_at(len);
        split.push(RawDocument::from_bytes(doc).expect("interleave: a document"));
        rest = tail;
    }
    assert!(
        rest.is_empty(),
        "interleave: stray bytes after the last document"
    );
    let lookups: Vec<RawDocumentBuf> = match lookups {
        None => Vec::new(),
        Some(l) => {
            assert_eq!(
                l.len(),
                split.len(),
                "interleave: one lookups document per document"
            );
            l.iter()
                .map(|b| {
                    RawDocumentBuf::from_bytes(b.clone()).expect("interleave: a lookups document")
                })
                .collect()
        }
    };
    crate::batch::interleave(split.into_iter(), &lookups)
}

#[cfg(test)]
mod tests {
    use bson::{doc, RawDocumentBuf};

    use super::*;

    fn bytes(d: bson::Document) -> Vec<u8> {
        RawDocumentBuf::from_document(&d).expect("raw").into_bytes()
    }

    #[test]
    fn each_document_is_followed_by_its_lookups() {
        let (a, b) = (bytes(doc! { "_id": 1 }), bytes(doc! { "_id": 2 }));
        let docs = [a.clone(), b.clone()].concat();
        assert_eq!(
            interleave(&docs, None),
            [&a[..], &EMPTY_LOOKUPS, &b, &EMPTY_LOOKUPS].concat()
        );
        let l = [
            bytes(doc! { "org": [{ "_id": 9 }] }),
            bytes(doc! { "org": [] }),
        ];
        assert_eq!(
            interleave(&docs, Some(&l)),
            [&a[..], &l[0], &b, &l[1]].concat()
        );
        assert!(interleave(&[], None).is_empty());
    }

    #[test]
    #[should_panic(expected = "one lookups document per document")]
    fn lookups_must_match_the_documents() {
        let docs = bytes(doc! { "_id": 1 });
        let l = [EMPTY_LOOKUPS.to_vec(), EMPTY_LOOKUPS.to_vec()];
        interleave(&docs, Some(&l));
    }
}
