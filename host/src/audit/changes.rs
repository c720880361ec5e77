//! A migration's [`Change`], read from its ledger entry after the run.

use crate::ledger::LedgerEntry;
use crate::manifest::Body;
use crate::progress::Direction;
use crate::source::Migration;

use super::record::Change;

/// What `entry`'s run of `direction` changed. A forward run that wrote
/// document by document counts from its checkpoint (the batches it
/// committed, also when it stopped part-way); others from the entry's
/// counts.
pub(crate) fn change_of(
    entry: &LedgerEntry,
    m: Option<&Migration>,
    direction: Direction,
) -> Change {
    let mut change = Change {
        migration: entry.id.clone(),
        direction,
        collection: collection_of(entry, m),
        matched: entry.matched,
        modified: entry.modified,
        deleted: 0,
        quarantined: entry.quarantined,
        outputs: Default::default(),
    };
    if let (Direction::Up, Some(cp)) = (direction, &entry.checkpoint) {
        change.matched = change.matched.max(cp.read);
        change.modified = cp.replaced + cp.deleted;
        change.deleted = cp.deleted;
        change.quarantined = change.quarantined.max(cp.failed);
        change.outputs = cp.outputs.clone();
    }
    change
}

/// The collection the migration changed: the ledger's word first (a
/// rewrite's, a document run's), then the files'.
fn collection_of(entry: &LedgerEntry, m: Option<&Migration>) -> String {
    if let Some(c) = entry
        .rewrite
        .as_ref()
        .map(|rw| rw.collection.clone())
        .or_else(|| entry.collection.clone())
    {
        return c;
    }
    let Some(m) = m else {
        return String::new();
    };
    if let Some(c) = &m.manifest.collection {
        return c.clone();
    }
    match &m.manifest.body {
        Body::Update(u) => {
            let mut names: Vec<&str> = u.forward.iter().map(|s| s.collection()).collect();
            names.dedup();
            names.join(",")
        }
        Body::Wasm(spec) => spec.collection.clone(),
        Body::Python(_) => String::new(),
    }
}
