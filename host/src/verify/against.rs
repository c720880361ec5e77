//! The originals as the source of truth: a rewrite's backup, or the
//! pre-images, transformed again and compared with the collection range by
//! range.

use std::collections::{HashMap, HashSet};

use bson::{doc, Bson, RawDocumentBuf};
use futures_util::TryStreamExt;

use super::compare::{compare, key_of};
use super::report::DataReport;
use super::subject::{id_of, Subject};
use crate::batch::bounded;
use crate::error::{MigrateError, Result};
use crate::pre_image::{originals, IDS};

impl Subject<'_> {
    /// The backup holds every original: each range of it, transformed, is
    /// the collection's same `_id` range. The first range reaches down to
    /// the lowest `_id` and the last up to the highest, so a document the
    /// application inserted anywhere is found.
    pub(crate) async fn against_backup(
        &mut self,
        backup: &str,
        report: &mut DataReport,
    ) -> Result<()> {
        let mut last = None;
        loop {
            let (from, originals) = self.next_range(backup, &mut last).await?;
            let end = originals.len() < self.options.range_docs;
            let live_range = match &last {
                Some(hi) if !end => bounded(&from, Some(hi)),
                _ => from,
            };
            let live = self.read(&self.collection, live_range, None).await?;
            let expected = self.expect(Some(backup), originals).await?;
            compare(&expected, &live, &self.touched, report, self.options.show);
            if end {
                return Ok(());
            }
        }
    }

    /// The pre-images hold the originals of the documents the run changed or
    /// deleted, and only those: the others are unchanged by definition. Read
    /// a record at a time, compared a range's worth of originals at a time.
    pub(crate) async fn against_pre_images(
        &mut self,
        pre_images: &str,
        report: &mut DataReport,
    ) -> Result<()> {
        let fail = |e| MigrateError::db(format!("cannot read {pre_images}"), e);
        let mut cursor = self
            .target
            .db()
            .collection::<RawDocumentBuf>(pre_images)
            .find(doc! { "op": { "$ne": "output" } })
            .sort(doc! { "_id": 1 })
            .await
            .map_err(fail)?;
        let mut pending = Vec::new();
        loop {
            let record = cursor.try_next().await.map_err(fail)?;
            let end = record.is_none();
            if let Some(record) = record {
                let kept = originals(pre_images, &record)?;
                pending.extend(kept.into_iter().map(|o| o.doc));
            }
            if !pending.is_empty() && (end || pending.len() >= self.options.range_docs) {
                self.compare_originals(std::mem::take(&mut pending), report)
                    .await?;
            }
            if end {
                return Ok(());
            }
        }
    }

    /// Compares `originals`, transformed again, with their documents.
    async fn compare_originals(
        &mut self,
        originals: Vec<RawDocumentBuf>,
        report: &mut DataReport,
    ) -> Result<()> {
        let ids: Vec<Bson> = originals.iter().map(id_of).collect();
        let live = self
            .read(&self.collection, doc! { "_id": { "$in": ids } }, None)
            .await?;
        let expected = self.expect(None, originals).await?;
        compare(&expected, &live, &self.touched, report, self.options.show);
        Ok(())
    }

    /// The originals `pre_images` keeps of `live`, by `_id` key: from
    /// per-document records by `_id`, from batch records by the `_id`s they
    /// list (`ids`, or `docs._id` in an earlier version's).
    pub(crate) async fn pre_images_of(
        &self,
        pre_images: &str,
        live: &[RawDocumentBuf],
    ) -> Result<HashMap<Vec<u8>, RawDocumentBuf>> {
        let ids: Vec<Bson> = live.iter().map(id_of).collect();
        let wanted: HashSet<Vec<u8>> = live.iter().map(|d| key_of(d)).collect();
        let by_id = doc! { "_id": { "$in": ids.clone() }, "op": { "$ne": "output" } };
        let mut records = self.read(pre_images, by_id, None).await?;
        // Batch records: this version's list their `_id`s, earlier ones
        // held their entries uncompressed.
        let by_listed =
            doc! { "$or": [ { IDS: { "$in": ids.clone() } }, { "docs._id": { "$in": ids } } ] };
        records.extend(self.read(pre_images, by_listed, None).await?);
        let mut kept = HashMap::new();
        for r in &records {
            for o in originals(pre_images, r)? {
                let doc = o.doc;
                let key = key_of(&doc);
                if wanted.contains(&key) {
                    kept.entry(key).or_insert(doc);
                }
            }
        }
        Ok(kept)
    }
}
