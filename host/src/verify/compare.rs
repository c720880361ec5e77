//! Comparing what a range of documents should be with what the collection
//! holds: one hash per side first, document by document only where the
//! hashes differ.

use std::collections::{BTreeSet, HashMap, HashSet};

use bson::{Document, RawDocument, RawDocumentBuf};
use sha2::{Digest, Sha256};

use super::report::{DataReport, DiffKind, Difference};
use crate::batch::{raw_id_key, show_id_of, Outcome};

/// What one document should be after the migration.
#[derive(Debug)]
pub(crate) struct Expected {
    /// Its `_id` key (see [`raw_id_key`]).
    pub(crate) key: Vec<u8>,
    /// Its `_id`, shown.
    pub(crate) shown: String,
    /// Its content, or `None` when the transform deletes it.
    pub(crate) doc: Option<RawDocumentBuf>,
}

/// The `_id` keys the application wrote since the migration.
pub(crate) type Touched = HashSet<Vec<u8>>;

/// The key of `doc`'s `_id`.
pub(crate) fn key_of(doc: &RawDocument) -> Vec<u8> {
    raw_id_key(doc.get("_id").ok().flatten())
}

/// What each original becomes by its outcome, as the run writes it: a
/// failing document was left as it was (set aside in the quarantine).
pub(crate) fn expect(originals: Vec<RawDocumentBuf>, outcomes: Vec<Outcome>) -> Vec<Expected> {
    originals
        .into_iter()
        .zip(outcomes)
        .map(|(original, outcome)| {
            let (key, shown) = (key_of(&original), show_id_of(&original));
            let doc = match outcome {
                Outcome::Keep | Outcome::Fail(_) => Some(original),
                Outcome::Replace(bytes) => RawDocumentBuf::from_bytes(bytes).ok(),
                Outcome::Delete => None,
            };
            Expected { key, shown, doc }
        })
        .collect()
}

/// SHA-256 over the raw bytes of `docs`, in the order given (by `_id`).
fn digest<'a>(docs: impl Iterator<Item = &'a RawDocument>) -> [u8; 32] {
    let mut h = Sha256::new();
    for d in docs {
        h.update(d.as_bytes());
    }
    h.finalize().into()
}

/// Whether two documents hold the same fields and values; the order of
/// fields aside (a `$set` write appends new fields where the transform may
/// have put them elsewhere).
pub(crate) fn same(a: &RawDocument, b: &RawDocument) -> bool {
    a.as_bytes() == b.as_bytes() || parsed(a) == parsed(b)
}

fn parsed(d: &RawDocument) -> Option<Document> {
    Document::try_from(d).ok()
}

/// The top-level fields whose values differ between `a` and `b`, sorted.
pub(crate) fn fields_that_differ(a: &RawDocument, b: &RawDocument) -> Vec<String> {
    let (Some(a), Some(b)) = (parsed(a), parsed(b)) else {
        return vec!["(unreadable document)".into()];
    };
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    names
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

/// Compares one range: `expected`, and `live`, the collection's documents in
/// the same `_id` range in `_id` order. A live document no original
/// accounts for is extra.
pub(crate) fn compare(
    expected: &[Expected],
    live: &[RawDocumentBuf],
    touched: &Touched,
    report: &mut DataReport,
    show: usize,
) {
    report.checked += expected.len() as u64;
    let want = digest(expected.iter().filter_map(|e| e.doc.as_deref()));
    if want == digest(live.iter().map(|d| d.as_ref())) {
        report.equal += expected.len() as u64;
        return;
    }
    let mut by_key: HashMap<Vec<u8>, &RawDocumentBuf> =
        live.iter().map(|d| (key_of(d), d)).collect();
    for e in expected {
        let found = by_key.remove(&e.key);
        let (kind, fields) = match (&e.doc, found) {
            (None, None) => (None, Vec::new()),
            (None, Some(_)) => (Some(DiffKind::Extra), Vec::new()),
            (Some(_), None) => (Some(DiffKind::Missing), Vec::new()),
            (Some(w), Some(l)) if same(w, l) => (None, Vec::new()),
            (Some(w), Some(l)) => (Some(DiffKind::Different), fields_that_differ(w, l)),
        };
        match kind {
            None => report.equal += 1,
            Some(kind) => report.record(
                Difference {
                    id: e.shown.clone(),
                    kind,
                    fields,
                    changed_since: touched.contains(&e.key),
                },
                show,
            ),
        }
    }
    for d in live.iter().filter(|d| by_key.contains_key(&key_of(d))) {
        report.checked += 1;
        report.record(
            Difference {
                id: show_id_of(d),
                kind: DiffKind::Extra,
                fields: Vec::new(),
                changed_since: touched.contains(&key_of(d)),
            },
            show,
        );
    }
}
