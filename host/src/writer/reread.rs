//! Reading a batch's documents again, and transforming again those that
//! changed since the reader saw them.

use std::collections::{BTreeMap, HashMap};

use bson::{doc, Bson, Document, RawDocument, RawDocumentBuf};
use futures_util::TryStreamExt;
use mongodb::ClientSession;

use super::scope::Scope;
use crate::batch::{raw_id_key, Outcome, Output, Transformed};
use crate::error::{MigrateError, Result};
use crate::target::{Target, WHOLE_REPLY};
use crate::transform::Retransform;

/// One document of a batch as it will be written: as the transform saw it, or
/// as re-read and re-transformed because it changed in the meantime.
pub(super) struct Item<'a> {
    /// Its index in the batch (for messages).
    pub(super) i: usize,
    pub(super) doc: &'a RawDocument,
    pub(super) outcome: &'a Outcome,
    /// What it writes to other collections (cross-collection migrations).
    pub(super) outputs: &'a [Output],
}

/// What the re-read of a batch found: documents changed since the reader saw
/// them (re-transformed) and documents gone or no longer matching the filter.
#[derive(Default)]
pub(super) struct Fresh {
    /// Batch index → (current document, its new outcome and outputs).
    pub(super) changed: BTreeMap<usize, (RawDocumentBuf, Outcome, Vec<Output>)>,
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
                Some((doc, outcome, outputs)) => Item {
                    i,
                    doc,
                    outcome,
                    outputs,
                },
                None => Item {
                    i,
                    doc: t.batch.doc(i),
                    outcome: &t.outcomes[i],
                    outputs: t.outputs.get(i).map_or(&[], Vec::as_slice),
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

/// The documents of `db.collection` with these `_id`s, as they are now
/// (inside the batch's transaction when there is one), by `id_key`.
pub(super) async fn find_by_ids(
    target: &Target,
    db: &str,
    collection: &str,
    ids: Vec<Bson>,
    session: &mut Option<&mut ClientSession>,
) -> Result<HashMap<Vec<u8>, RawDocumentBuf>> {
    let coll = target
        .client()
        .database(db)
        .collection::<RawDocumentBuf>(collection);
    read_in(coll, &Document::new(), Ids::List(ids), session).await
}

async fn read_current(
    target: &Target,
    collection: &str,
    filter: &Document,
    ids: Ids,
    session: &mut Option<&mut ClientSession>,
) -> Result<HashMap<Vec<u8>, RawDocumentBuf>> {
    let coll = target.db().collection::<RawDocumentBuf>(collection);
    read_in(coll, filter, ids, session).await
}

async fn read_in(
    coll: mongodb::Collection<RawDocumentBuf>,
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
    let mut current = HashMap::new();
    let mut keep = |d: RawDocumentBuf| {
        current.insert(raw_id_key(d.get("_id").ok().flatten()), d);
    };
    match session {
        Some(s) => {
            let mut cursor = coll
                .find(q)
                .batch_size(WHOLE_REPLY)
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
                .batch_size(WHOLE_REPLY)
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
    let mut same = Vec::new();
    for &i in wanted {
        let expected = seen(i);
        match current.remove(&raw_id_key(b.doc(i).get("_id").ok().flatten())) {
            // Gone (deleted, or no longer matching): if that is what we did, fine.
            None => fresh.gone.push(i),
            Some(now) if expected.contains(&Some(now.as_bytes())) => same.push((i, now)),
            Some(now) => changed.push((i, now)),
        }
    }
    // Lookups read again in the same snapshot: a document whose matches
    // changed is transformed again with what they are now.
    let mut fresh_lookups: HashMap<usize, RawDocumentBuf> = HashMap::new();
    if let Some(lookups) = &scope.opts.cross.lookups {
        let all: Vec<&(usize, RawDocumentBuf)> = same.iter().chain(&changed).collect();
        let docs: Vec<&RawDocument> = all.iter().map(|(_, d)| d.as_ref()).collect();
        let found = lookups
            .resolve(target, &docs, session.as_deref_mut())
            .await?;
        for ((i, _), l) in all.iter().zip(found) {
            fresh_lookups.insert(*i, l);
        }
        for (i, now) in same {
            if b.lookups().get(i).map(|l| l.as_bytes())
                != fresh_lookups.get(&i).map(|l| l.as_bytes())
            {
                changed.push((i, now));
            }
        }
        changed.sort_by_key(|(i, _)| *i);
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
        let (outcomes, mut outputs) = if scope.opts.cross.lookups.is_some()
            || !b.lookups().is_empty()
            || !scope.t.outputs.is_empty()
        {
            let lookups: Vec<RawDocumentBuf> = changed
                .iter()
                .map(|(i, _)| fresh_lookups.remove(i).unwrap_or_default())
                .collect();
            rt.retransform_cross(b.seq(), &docs, &lookups)?
        } else {
            (rt.retransform(b.seq(), &docs)?, Vec::new())
        };
        outputs.resize_with(docs.len(), Vec::new);
        for (((i, now), o), out) in changed.into_iter().zip(outcomes).zip(outputs) {
            fresh.changed.insert(i, (now, o, out));
        }
    }
    Ok(fresh)
}
