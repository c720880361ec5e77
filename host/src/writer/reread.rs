//! Reading a batch's documents again, and transforming again those that
//! changed since the reader saw them.

use std::collections::{BTreeMap, HashMap};

use bson::{doc, Bson, Document, RawDocument, RawDocumentBuf};
use futures_util::TryStreamExt;
use mongodb::ClientSession;

use super::scope::Scope;
use crate::batch::{raw_id_key, Outcome, Transformed};
use crate::error::{MigrateError, Result};
use crate::target::Target;
use crate::transform::Retransform;

/// One document of a batch as it will be written: as the transform saw it, or
/// as re-read and re-transformed because it changed in the meantime.
pub(super) struct Item<'a> {
    /// Its index in the batch (for messages).
    pub(super) i: usize,
    pub(super) doc: &'a RawDocument,
    pub(super) outcome: &'a Outcome,
}

/// What the re-read of a batch found: documents changed since the reader saw
/// them (re-transformed) and documents gone or no longer matching the filter.
#[derive(Default)]
pub(super) struct Fresh {
    /// Batch index → (current document, its new outcome).
    pub(super) changed: BTreeMap<usize, (RawDocumentBuf, Outcome)>,
    pub(super) gone: Vec<usize>,
}

impl Fresh {
    pub(super) fn items<'a>(
        &'a self,
        t: &'a Transformed,
        range: std::ops::Range<usize>,
    ) -> Vec<Item<'a>> {
        range
            .filter(|i| !self.gone.contains(i))
            .map(|i| match self.changed.get(&i) {
                Some((doc, outcome)) => Item { i, doc, outcome },
                None => Item {
                    i,
                    doc: t.batch.doc(i),
                    outcome: &t.outcomes[i],
                },
            })
            .collect()
    }
}

/// The documents with these `_id`s that still match the filter, as they are
/// now (inside the batch's transaction when there is one), by `id_key`.
/// Which documents `read_current` reads.
enum Ids {
    List(Vec<Bson>),
    Range(Bson, Bson),
}

async fn read_current(
    target: &Target,
    collection: &str,
    filter: &Document,
    ids: Ids,
    session: &mut Option<&mut ClientSession>,
) -> Result<HashMap<Vec<u8>, RawDocumentBuf>> {
    let by_id = match ids {
        Ids::List(ids) => doc! { "_id": { "$in": ids } },
        // A whole batch is a run of consecutive `_id`s: one range scan is
        // much cheaper than a lookup per document. Documents inserted in the
        // range since are returned too and ignored.
        Ids::Range(first, last) => doc! { "_id": { "$gte": first, "$lte": last } },
    };
    let q = if filter.is_empty() {
        by_id
    } else {
        doc! { "$and": [ filter.clone(), by_id ] }
    };
    let coll = target.db().collection::<RawDocumentBuf>(collection);
    let mut current = HashMap::new();
    let mut keep = |d: RawDocumentBuf| {
        current.insert(raw_id_key(d.get("_id").ok().flatten()), d);
    };
    match session {
        Some(s) => {
            let mut cursor = coll
                .find(q)
                .session(&mut **s)
                .await
                .map_err(|e| MigrateError::db("cannot re-read the batch", e))?;
            while let Some(d) = cursor
                .next(s)
                .await
                .transpose()
                .map_err(|e| MigrateError::db("cannot re-read the batch", e))?
            {
                keep(d);
            }
        }
        None => {
            let mut cursor = coll
                .find(q)
                .await
                .map_err(|e| MigrateError::db("cannot re-read the batch", e))?;
            while let Some(d) = cursor
                .try_next()
                .await
                .map_err(|e| MigrateError::db("cannot re-read the batch", e))?
            {
                keep(d);
            }
        }
    }
    Ok(current)
}

/// Re-reads documents `wanted` of a batch and re-transforms those that changed
/// since they were last seen. `seen(i)` is what document `i` is expected to be
/// now: as the reader saw it, or (after a write that may have applied) the
/// written version.
pub(super) async fn reread<'s>(
    scope: Scope<'_>,
    retransform: &mut Option<Box<dyn Retransform>>,
    wanted: &[usize],
    seen: &dyn Fn(usize) -> Vec<Option<&'s [u8]>>,
    session: &mut Option<&mut ClientSession>,
) -> Result<Fresh> {
    let (target, collection, filter) = (scope.target, scope.collection, &scope.opts.filter);
    let b = scope.batch();
    let id = |i: usize| Bson::try_from(b.id(i)).unwrap_or(Bson::Null);
    let contiguous = wanted.windows(2).all(|w| w[1] == w[0] + 1);
    // A range only between two `_id`s of the same type: every `_id` sorted
    // between them is then in the same comparison bracket and matched.
    let same_type = |lo: usize, hi: usize| b.id(lo).element_type() == b.id(hi).element_type();
    let ids = match (wanted.first(), wanted.last()) {
        (Some(&lo), Some(&hi)) if contiguous && wanted.len() > 1 && same_type(lo, hi) => {
            Ids::Range(id(lo), id(hi))
        }
        _ => Ids::List(wanted.iter().map(|&i| id(i)).collect()),
    };
    let mut current = read_current(target, collection, filter, ids, session).await?;
    let mut fresh = Fresh::default();
    let mut changed = Vec::new();
    for &i in wanted {
        let expected = seen(i);
        match current.remove(&raw_id_key(b.doc(i).get("_id").ok().flatten())) {
            // Gone (deleted, or no longer matching): if that is what we did, fine.
            None => fresh.gone.push(i),
            Some(now) if expected.contains(&Some(now.as_bytes())) => {}
            Some(now) => changed.push((i, now)),
        }
    }
    if !changed.is_empty() {
        let Some(rt) = retransform.as_mut() else {
            return Err(MigrateError::Database {
                context: format!("batch {} changed while it was transformed", b.seq() + 1),
                message: "this run cannot transform documents again".into(),
                labels: vec![],
                cause: crate::error::DbCause::Other,
            });
        };
        let docs: Vec<RawDocumentBuf> = changed.iter().map(|(_, d)| d.clone()).collect();
        let outcomes = rt.retransform(b.seq(), &docs)?;
        for ((i, now), o) in changed.into_iter().zip(outcomes) {
            fresh.changed.insert(i, (now, o));
        }
    }
    Ok(fresh)
}
