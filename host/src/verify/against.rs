//! The originals as the source of truth: a rewrite's backup, or the
//! pre-images, transformed again and compared with the collection range by
//! range.

use bson::{doc, Bson, RawDocumentBuf};

use super::compare::compare;
use super::report::DataReport;
use super::subject::{id_of, Subject};
use crate::batch::bounded;
use crate::error::{MigrateError, Result};

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
    /// deleted, and only those: the others are unchanged by definition.
    pub(crate) async fn against_pre_images(
        &mut self,
        pre_images: &str,
        report: &mut DataReport,
    ) -> Result<()> {
        let mut last = None;
        loop {
            let (_, kept) = self.next_range(pre_images, &mut last).await?;
            if kept.is_empty() {
                return Ok(());
            }
            let originals = kept
                .iter()
                .map(|p| original(pre_images, p))
                .collect::<Result<Vec<_>>>()?;
            let ids: Vec<Bson> = originals.iter().map(id_of).collect();
            let live = self
                .read(&self.collection, doc! { "_id": { "$in": ids } }, None)
                .await?;
            let expected = self.expect(None, originals).await?;
            compare(&expected, &live, &self.touched, report, self.options.show);
            if kept.len() < self.options.range_docs {
                return Ok(());
            }
        }
    }
}

/// The original a pre-image record keeps (`{_id, op, doc}`).
pub(crate) fn original(pre_images: &str, record: &RawDocumentBuf) -> Result<RawDocumentBuf> {
    match record.get_document("doc") {
        Ok(d) => Ok(d.to_raw_document_buf()),
        Err(e) => Err(MigrateError::Encoding {
            context: format!(
                "pre-image {} in {pre_images} holds no original document",
                crate::batch::show_id_of(record)
            ),
            message: e.to_string(),
        }),
    }
}
