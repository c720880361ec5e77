//! The input batch of contract version 2 (`guest-sdk/ABI.md`): each document
//! followed by its lookups document. Built here, in one place, so the engine
//! and the tests lay it out the same way.

/// The lookups document of a document with no lookups: `{}`.
pub const EMPTY_LOOKUPS: [u8; 5] = [5, 0, 0, 0, 0];

/// Interleaves a batch of concatenated BSON documents (`docs`, the version-1
/// layout) with one lookups document per document (`lookups[i]` for
/// document `i`; `{}` for each when `None`), as a version-2 module reads it.
///
/// # Panics
///
/// If `docs` is not a sequence of whole documents, or `lookups` has not
/// exactly one entry per document: both are the caller's bug, never the
/// guest's or the data's.
pub fn interleave(docs: &[u8], lookups: Option<&[Vec<u8>]>) -> Vec<u8> {
    let extra = lookups.map_or(0, |l| l.iter().map(Vec::len).sum());
    let mut out = Vec::with_capacity(docs.len() + extra);
    let mut rest = docs;
    let mut i = 0;
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
        out.extend_from_slice(doc);
        match lookups {
            None => out.extend_from_slice(&EMPTY_LOOKUPS),
            Some(l) => out.extend_from_slice(
                l.get(i)
                    .unwrap_or_else(|| panic!("interleave: no lookups document for document {i}")),
            ),
        }
        rest = tail;
        i += 1;
    }
    assert!(
        rest.is_empty(),
        "interleave: stray bytes after the last document"
    );
    if let Some(l) = lookups {
        assert_eq!(l.len(), i, "interleave: one lookups document per document");
    }
    out
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
