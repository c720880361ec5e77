//! A module with a backward transform as the source of truth: every live
//! document taken back and forward again must come back unchanged, and
//! where a pre-image is kept, the way back must give exactly it.

use std::collections::HashMap;

use bson::RawDocumentBuf;

use super::compare::{fields_that_differ, key_of, same};
use super::report::{DataReport, DiffKind, Difference};
use super::subject::Subject;
use crate::batch::{show_id_of, Outcome};
use crate::error::Result;

/// What a document became by `outcome`; `None`: deleted.
fn applied(doc: &RawDocumentBuf, outcome: Outcome) -> Option<RawDocumentBuf> {
    match outcome {
        Outcome::Keep | Outcome::Fail(_) => Some(doc.clone()),
        Outcome::Replace(bytes) => RawDocumentBuf::from_bytes(bytes).ok(),
        Outcome::Delete => None,
    }
}

impl Subject<'_> {
    /// Backward, then forward, over every document of the collection.
    pub(crate) async fn round_trip(
        &mut self,
        pre_images: Option<&str>,
        report: &mut DataReport,
    ) -> Result<()> {
        let mut last = None;
        loop {
            let (_, live) = self.next_range(&self.collection, &mut last).await?;
            if live.is_empty() {
                return Ok(());
            }
            let kept = match pre_images {
                Some(p) => self.pre_images_of(p, &live).await?,
                None => HashMap::new(),
            };
            let backward = self.backward.as_mut().expect("a round trip has a backward");
            let back: Vec<Option<RawDocumentBuf>> = live
                .iter()
                .zip(backward.run_batch(&live)?)
                .map(|(d, o)| applied(d, o))
                .collect();
            let present: Vec<RawDocumentBuf> = back.iter().flatten().cloned().collect();
            let mut forward = present
                .iter()
                .zip(self.forward.run_batch(&present)?)
                .map(|(d, o)| applied(d, o));
            for (doc, back) in live.iter().zip(back) {
                report.checked += 1;
                let again = back.as_ref().and_then(|_| forward.next().flatten());
                let problem = judge(doc, back.as_ref(), again.as_ref(), kept.get(&key_of(doc)));
                match problem {
                    None => report.equal += 1,
                    Some((kind, fields)) => report.record(
                        Difference {
                            id: show_id_of(doc),
                            kind,
                            fields,
                            changed_since: self.touched.contains(&key_of(doc)),
                        },
                        self.options.show,
                    ),
                }
            }
            if live.len() < self.options.range_docs {
                return Ok(());
            }
        }
    }
}

/// What is wrong with `live`, whose way back is `back` and forward again
/// `again`, and whose pre-image is `kept`: nothing, or the kind of
/// difference and the fields.
fn judge(
    live: &RawDocumentBuf,
    back: Option<&RawDocumentBuf>,
    again: Option<&RawDocumentBuf>,
    kept: Option<&RawDocumentBuf>,
) -> Option<(DiffKind, Vec<String>)> {
    let Some(back) = back else {
        return Some((
            DiffKind::NotRoundTrip,
            vec!["(the backward transform deletes it)".into()],
        ));
    };
    if let Some(kept) = kept.filter(|k| !same(back, k)) {
        return Some((DiffKind::NotPreImage, fields_that_differ(kept, back)));
    }
    match again {
        None => Some((
            DiffKind::NotRoundTrip,
            vec!["(the forward transform deletes it)".into()],
        )),
        Some(a) if same(a, live) => None,
        Some(a) => Some((DiffKind::NotRoundTrip, fields_that_differ(live, a))),
    }
}
