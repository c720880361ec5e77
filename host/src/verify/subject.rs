//! What a check works on: the migration's transforms, its collection and
//! filter, the documents written since, and the reads every check makes.

use bson::{doc, Bson, Document, RawDocumentBuf};
use futures_util::TryStreamExt;

use super::compare::{expect, key_of, Expected, Touched};
use super::options::VerifyOptions;
use super::report::{Check, DataReport};
use crate::batch::{after, Outcome};
use crate::error::{MigrateError, Result};
use crate::local::LocalTransform;
use crate::target::Target;

/// One migration to check, with what every check needs.
pub struct Subject<'a> {
    /// The target database.
    pub(crate) target: &'a Target,
    /// The migration id.
    pub(crate) migration: String,
    /// The collection the migration changed.
    pub(crate) collection: String,
    /// The manifest's filter: documents outside it were copied unchanged.
    pub(crate) filter: Document,
    /// The forward transform, as the run used it.
    pub(crate) forward: LocalTransform,
    /// The backward transform, for a round trip.
    pub(crate) backward: Option<LocalTransform>,
    /// The documents the application wrote since the migration.
    pub(crate) touched: Touched,
    /// How much to show and read at once.
    pub(crate) options: VerifyOptions,
}

impl std::fmt::Debug for Subject<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subject")
            .field("migration", &self.migration)
            .field("collection", &self.collection)
            .finish_non_exhaustive()
    }
}

impl Subject<'_> {
    /// Makes `check` and reports what it found.
    pub(crate) async fn run(mut self, check: Check) -> Result<DataReport> {
        let mut report = DataReport::new(&self.migration, &self.collection, check.clone());
        match check {
            Check::Rewrite { backup } => self.against_backup(&backup, &mut report).await?,
            Check::PreImages { pre_images } => {
                self.against_pre_images(&pre_images, &mut report).await?
            }
            Check::RoundTrip { pre_images } => {
                self.round_trip(pre_images.as_deref(), &mut report).await?
            }
        }
        Ok(report)
    }

    /// The documents of `coll` that `filter` matches, in `_id` order, at
    /// most `limit`.
    pub(crate) async fn read(
        &self,
        coll: &str,
        filter: Document,
        limit: Option<usize>,
    ) -> Result<Vec<RawDocumentBuf>> {
        let c = self.target.db().collection::<RawDocumentBuf>(coll);
        let find = c
            .find(filter)
            .sort(doc! { "_id": 1 })
            .limit(limit.map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX)));
        let fail = |e| MigrateError::db(format!("cannot read {coll}"), e);
        find.await.map_err(fail)?.try_collect().await.map_err(fail)
    }

    /// The next range of `coll` after `last` (the `_id` the range before
    /// ended at; `None` at the start), which it moves on: the range's filter
    /// (open above) and up to a range's worth of its documents, in `_id`
    /// order; none when the walk is over.
    pub(crate) async fn next_range(
        &self,
        coll: &str,
        last: &mut Option<Bson>,
    ) -> Result<(Document, Vec<RawDocumentBuf>)> {
        let from = last
            .as_ref()
            .map_or_else(Document::new, |l| after(&doc! {}, l));
        let docs = self
            .read(coll, from.clone(), Some(self.options.range_docs))
            .await?;
        if let Some(d) = docs.last() {
            *last = Some(id_of(d));
        }
        Ok((from, docs))
    }

    /// What `originals` become: those the manifest's filter matches in
    /// `filtered_in` (the collection they were read from; `None`: all of
    /// them, as pre-images were) through the forward transform, the others
    /// unchanged.
    pub(crate) async fn expect(
        &mut self,
        filtered_in: Option<&str>,
        originals: Vec<RawDocumentBuf>,
    ) -> Result<Vec<Expected>> {
        let mut outcomes = vec![Outcome::Keep; originals.len()];
        let source = match filtered_in {
            Some(s) if !self.filter.is_empty() => s,
            _ => "",
        };
        let chosen: Vec<usize> = if source.is_empty() {
            (0..originals.len()).collect()
        } else {
            let ids: Vec<Bson> = originals.iter().map(id_of).collect();
            let filter = doc! { "$and": [ self.filter.clone(), { "_id": { "$in": ids } } ] };
            let matched: Touched = self
                .read(source, filter, None)
                .await?
                .iter()
                .map(|d| key_of(d))
                .collect();
            (0..originals.len())
                .filter(|&i| matched.contains(&key_of(&originals[i])))
                .collect()
        };
        let docs: Vec<RawDocumentBuf> = chosen.iter().map(|&i| originals[i].clone()).collect();
        let decided = self.forward.run_batch(&docs)?;
        for (i, outcome) in chosen.into_iter().zip(decided) {
            outcomes[i] = outcome;
        }
        Ok(expect(originals, outcomes))
    }
}

/// The `_id` of `doc`, parsed (null when it has none).
pub(crate) fn id_of(doc: &RawDocumentBuf) -> Bson {
    doc.get("_id")
        .ok()
        .flatten()
        .and_then(|v| Bson::try_from(v.to_raw_bson()).ok())
        .unwrap_or(Bson::Null)
}
