//! Applying what the change stream reports to the copies: each changed
//! document is read again from the source, transformed again into the
//! shadow and, when the originals are kept, copied as it is into the
//! backup; a document gone from the source goes from both.

use std::collections::HashSet;

use bson::{doc, rawdoc, Bson, Document, RawArrayBuf, RawBson, RawDocumentBuf};
use futures_util::TryStreamExt;
use mongodb::change_stream::ChangeStream;

use super::catalog::db_err;
use super::stream::{classify, token_of, Change, Marker, Seen};
use crate::batch::{id_key, Outcome};
use crate::error::{MigrateError, Result};
use crate::ledger::RewriteState;
use crate::target::Target;
use crate::transform::Retransform;
use crate::writer::QUARANTINE_COLLECTION;

/// What following the stream needs.
pub(crate) struct Follow<'a> {
    pub target: &'a Target,
    pub migration: &'a str,
    pub fence: i64,
    pub quarantine: bool,
    pub retransform: &'a mut dyn Retransform,
    pub progress: &'a crate::progress::Progress,
}

impl Follow<'_> {
    /// Reports a phase of the rewrite as a step of the migration.
    pub(crate) fn phase(&self, step: usize, description: String) {
        self.progress.event(&crate::progress::Event::StepStarted {
            id: self.migration.to_string(),
            step,
            description,
        });
    }

    /// Records `state` in the ledger, fenced by the run's token.
    pub(crate) async fn save(&self, state: &RewriteState) -> Result<()> {
        crate::ledger::save_rewrite_state(self.target, self.migration, self.fence, state).await
    }
}

/// When `follow` stops.
pub(crate) enum Until {
    /// The `modify` event of this marker was seen.
    Marker(Marker),
    /// The same, or the end of the history reached (a catch-up round: it
    /// only needs to get close; the fenced window makes it exact).
    MarkerOrIdle(Marker),
}

/// Reads the stream and applies what it reports to the copies until
/// `until`, saving the position after each group. `point`: the fail point
/// reached after each group applied (and at the end). Returns the number of
/// documents done again.
pub(crate) async fn follow(
    f: &mut Follow<'_>,
    state: &mut RewriteState,
    stream: &mut ChangeStream<Change>,
    until: Until,
    point: &str,
) -> Result<i64> {
    let mut done = 0;
    let mut ids: Vec<Bson> = Vec::new();
    let mut seen = HashSet::new();
    let mut idle_at = None;
    loop {
        let ev = stream.next_if_any().await.map_err(db_err(format!(
            "cannot follow changes to {}",
            state.collection
        )))?;
        let mut stop = false;
        match &ev {
            None => {
                // At the end of the history: the position did not move
                // between two empty answers.
                let token = token_of(stream);
                if matches!(until, Until::MarkerOrIdle(_)) && idle_at.is_some() && idle_at == token
                {
                    stop = true;
                }
                idle_at = token;
            }
            Some(ev) => {
                idle_at = None;
                match classify(ev, state) {
                    Seen::Modify(m) => {
                        stop = match &until {
                            Until::Marker(k) | Until::MarkerOrIdle(k) => m.is_marker(k),
                        }
                    }
                    Seen::Changed(id) => {
                        if seen.insert(id_key(&id)) {
                            ids.push(id);
                        }
                    }
                    Seen::Gone(e) => return Err(e),
                    Seen::Other => {}
                }
            }
        }
        if ids.len() >= 1000 || ((stop || ev.is_none()) && !ids.is_empty()) {
            done += apply_changes(f, state, std::mem::take(&mut ids)).await?;
            seen.clear();
            state.token = token_of(stream);
            f.save(state).await?;
            crate::failpoint::hit(point);
        }
        if stop {
            state.token = token_of(stream);
            crate::failpoint::hit(point);
            return Ok(done);
        }
    }
}

/// Writes to send to one collection.
#[derive(Default)]
struct Writes {
    upserts: RawArrayBuf,
    deletes: RawArrayBuf,
    n_upserts: usize,
    n_deletes: usize,
}

impl Writes {
    fn upsert(&mut self, id: &RawBson, doc: RawDocumentBuf) {
        self.upserts
            .push(rawdoc! { "q": { "_id": id.clone() }, "u": doc, "upsert": true });
        self.n_upserts += 1;
    }

    fn delete(&mut self, id: &RawBson) {
        self.deletes
            .push(rawdoc! { "q": { "_id": id.clone() }, "limit": 1 });
        self.n_deletes += 1;
    }

    async fn send(self, target: &Target, into: &str, of: &str) -> Result<()> {
        let context = || format!("cannot apply changes of {of} to {into}");
        if self.n_upserts > 0 {
            let r = target
                .db()
                .run_raw_command(
                    rawdoc! { "update": into, "updates": self.upserts, "ordered": false },
                )
                .await
                .map_err(db_err(context()))?;
            check(&r, context(), false)?;
        }
        if self.n_deletes > 0 {
            let r = target
                .db()
                .run_raw_command(
                    rawdoc! { "delete": into, "deletes": self.deletes, "ordered": false },
                )
                .await
                .map_err(db_err(context()))?;
            check(&r, context(), false)?;
        }
        Ok(())
    }
}

fn check(reply: &Document, context: String, ignore_duplicates: bool) -> Result<()> {
    let Ok(errors) = reply.get_array("writeErrors") else {
        return Ok(());
    };
    match errors
        .iter()
        .filter_map(|e| e.as_document())
        .find(|e| !(ignore_duplicates && e.get_i32("code") == Ok(11000)))
    {
        None => Ok(()),
        Some(e) => Err(MigrateError::Database {
            context,
            message: e.get_str("errmsg").unwrap_or("write error").to_string(),
            labels: vec![],
            cause: crate::error::DbCause::Other,
        }),
    }
}

/// The documents `ids` as they are in `collection` now.
pub(crate) async fn read(
    target: &Target,
    collection: &str,
    ids: &[Bson],
) -> Result<Vec<RawDocumentBuf>> {
    let context = || format!("cannot read changed documents of {collection}");
    target
        .db()
        .collection::<RawDocumentBuf>(collection)
        .find(doc! { "_id": { "$in": ids.to_vec() } })
        .await
        .map_err(db_err(context()))?
        .try_collect()
        .await
        .map_err(db_err(context()))
}

fn raw_id(doc: &RawDocumentBuf) -> RawBson {
    doc.get("_id")
        .ok()
        .flatten()
        .map_or(RawBson::Null, |v| v.to_raw_bson())
}

/// Transforms the documents `ids` as they are in the source now into the
/// shadow, and copies them as they are into the backup (when kept).
pub(crate) async fn apply_changes(
    f: &mut Follow<'_>,
    state: &RewriteState,
    ids: Vec<Bson>,
) -> Result<i64> {
    let n = ids.len() as i64;
    let current = read(f.target, &state.collection, &ids).await?;
    let outcomes = if current.is_empty() {
        Vec::new()
    } else {
        f.retransform.retransform(0, &current)?
    };
    let (mut shadow, mut backup) = (Writes::default(), Writes::default());
    let mut quarantine = RawArrayBuf::new();
    let mut present = HashSet::new();
    for (doc, o) in current.iter().zip(&outcomes) {
        let id = raw_id(doc);
        present.insert(id_key(&Bson::try_from(id.clone()).unwrap_or(Bson::Null)));
        backup.upsert(&id, doc.clone());
        match o {
            Outcome::Keep => shadow.upsert(&id, doc.clone()),
            Outcome::Replace(r) => {
                shadow.upsert(&id, RawDocumentBuf::from_bytes(r.clone()).expect("checked"))
            }
            Outcome::Delete => shadow.delete(&id),
            Outcome::Fail(msg) => {
                if !f.quarantine {
                    return Err(MigrateError::DocumentFailed {
                        batch: 0,
                        document: crate::batch::show_id(&id),
                        message: msg.clone(),
                        logs: None,
                    });
                }
                quarantine.push(rawdoc! {
                    "_id": { "migration": f.migration, "id": id.clone() },
                    "migration": f.migration,
                    "collection": state.collection.as_str(),
                    "error": msg.as_str(),
                    "original": doc.clone(),
                    "at": bson::DateTime::now(),
                });
                // Set aside, and kept as it is (as in place).
                shadow.upsert(&id, doc.clone());
            }
        }
    }
    // Gone from the source: gone from the copies.
    for id in &ids {
        if !present.contains(&id_key(id)) {
            let raw = RawBson::try_from(id.clone()).unwrap_or(RawBson::Null);
            shadow.delete(&raw);
            backup.delete(&raw);
        }
    }
    if !quarantine.is_empty() {
        let r = f
            .target
            .db()
            .run_raw_command(rawdoc! { "insert": QUARANTINE_COLLECTION, "documents": quarantine, "ordered": false })
            .await
            .map_err(db_err("cannot quarantine documents".into()))?;
        check(&r, "cannot quarantine documents".into(), true)?;
    }
    shadow
        .send(f.target, &state.shadow, &state.collection)
        .await?;
    if state.keep {
        backup
            .send(f.target, &state.backup, &state.collection)
            .await?;
    }
    Ok(n)
}
