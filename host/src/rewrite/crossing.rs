//! Reading one name's history across a rename over it: what happened to
//! the collection that had the name before (the deletes that landed in the
//! swap window), then what happened to the one that has it after (the
//! application's writes since the swap).
//!
//! Servers end the old history differently. secantusd-rs shows a `rename`
//! event (from the shadow, `to` the name) and then `invalidate`; MongoDB
//! has shown nothing for the collection a `dropTarget` rename drops
//! (SERVER-53478) and may show `drop` then `invalidate`. So any of these
//! ends it: a rename into or out of the name, a drop of it, an
//! invalidation, or the first event carrying the new collection's UUID.
//! After an invalidation the stream is started again right after it.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bson::{Binary, Bson};
use mongodb::change_stream::ChangeStream;

use super::catalog::db_err;
use super::stream::{token_of, watch, Change, Marker, Start};
use crate::batch::id_key;
use crate::error::{MigrateError, Result};
use crate::target::Target;

/// How long a read waits for the event that ends it (a marker placed just
/// before, or the rename's events) before giving up.
const PATIENCE: Duration = Duration::from_secs(120);

pub(crate) struct Crossing<'a> {
    target: &'a Target,
    collection: String,
    old: Option<Binary>,
    new: Option<Binary>,
    stream: ChangeStream<Change>,
    /// An event of the new collection read while looking for the old one's end.
    pending: Option<Change>,
    /// The invalidation that ends the old history was seen.
    invalidated: bool,
}

impl<'a> Crossing<'a> {
    /// Reads `collection`'s history from `from`; `old` and `new`: the UUIDs
    /// of the collections before and after the rename. `None`: that
    /// history is gone from the oplog.
    pub(crate) async fn open(
        target: &'a Target,
        collection: &str,
        from: &Bson,
        old: Option<Binary>,
        new: Option<Binary>,
    ) -> Result<Option<Crossing<'a>>> {
        let Some(stream) = watch(target, collection, Start::After(from)).await? else {
            return Ok(None);
        };
        Ok(Some(Crossing {
            target,
            collection: collection.to_string(),
            old,
            new,
            stream,
            pending: None,
            invalidated: false,
        }))
    }

    fn is_new(&self, ev: &Change) -> bool {
        match (&ev.collection_uuid, &self.new, &self.old) {
            (Some(u), Some(new), _) => u == new,
            (Some(u), None, Some(old)) => u != old,
            _ => false,
        }
    }

    fn is_old(&self, ev: &Change) -> bool {
        match (&ev.collection_uuid, &self.old) {
            (Some(u), Some(old)) => u == old,
            _ => !self.is_new(ev),
        }
    }

    /// The next event, waiting for one; after an invalidation the stream
    /// goes on right after it.
    async fn next(&mut self) -> Result<Change> {
        if let Some(p) = self.pending.take() {
            return Ok(p);
        }
        let started = Instant::now();
        loop {
            let ev = self.stream.next_if_any().await.map_err(db_err(format!(
                "cannot follow changes to {}",
                self.collection
            )))?;
            match ev {
                Some(ev) if ev.operation_type == "invalidate" => {
                    let token = token_of(&self.stream).ok_or_else(|| self.lost())?;
                    self.stream = watch(
                        self.target,
                        &self.collection,
                        Start::AfterInvalidate(&token),
                    )
                    .await?
                    .ok_or_else(|| self.lost())?;
                    return Ok(ev);
                }
                Some(ev) => return Ok(ev),
                None if started.elapsed() > PATIENCE => {
                    return Err(MigrateError::Database {
                        context: format!("cannot follow changes to {}", self.collection),
                        message: format!(
                            "the change stream showed no marker for {} s",
                            PATIENCE.as_secs()
                        ),
                        labels: vec![],
                        cause: crate::error::DbCause::Other,
                    })
                }
                None => {}
            }
        }
    }

    fn lost(&self) -> MigrateError {
        MigrateError::Database {
            context: format!("cannot follow changes to {}", self.collection),
            message: "the change stream cannot go on after the rename".into(),
            labels: vec![],
            cause: crate::error::DbCause::Other,
        }
    }

    /// What happened to the old collection up to the end of its history:
    /// the `_id`s deleted, and those inserted or updated (writes that
    /// reached it after the last check before the rename, lost with it).
    /// The caller marks the new collection first, so an end comes.
    pub(crate) async fn old_history(&mut self) -> Result<(Vec<Bson>, Vec<Bson>)> {
        let name = self.collection.clone();
        let (mut deleted, mut written) = (Vec::new(), Vec::new());
        loop {
            let ev = self.next().await?;
            let ours = ev.coll() == Some(name.as_str());
            match ev.operation_type.as_str() {
                "invalidate" => {
                    self.invalidated = true;
                    return Ok((deleted, written));
                }
                "rename" if ours || ev.to_coll() == Some(name.as_str()) => {
                    return Ok((deleted, written))
                }
                "drop" if ours => return Ok((deleted, written)),
                _ if self.is_new(&ev) => {
                    self.pending = Some(ev);
                    return Ok((deleted, written));
                }
                "delete" if ours && self.is_old(&ev) => deleted.extend(ev.id().cloned()),
                _ if ours && self.is_old(&ev) => written.extend(ev.id().cloned()),
                _ => {}
            }
        }
    }

    /// The `_id`s the application inserted, changed or deleted in the new
    /// collection, up to the `nth` `marker` placed on it after the rename
    /// (empty markers cannot be told apart, so they are counted); and the
    /// stream position there. Call after [`Crossing::old_history`].
    pub(crate) async fn new_changes(
        &mut self,
        marker: &Marker,
        nth: usize,
    ) -> Result<(Vec<Bson>, Bson)> {
        let name = self.collection.clone();
        let mut ids = Vec::new();
        let mut seen = HashSet::new();
        let mut markers = 0;
        loop {
            let ev = self.next().await?;
            let ours = ev.coll() == Some(name.as_str());
            match ev.operation_type.as_str() {
                // The invalidation that follows the rename's own event.
                "invalidate" if !self.invalidated => self.invalidated = true,
                "invalidate" | "drop" | "dropDatabase" => {
                    return Err(MigrateError::Refused {
                        reason: format!("{name} was dropped or renamed during the swap"),
                    })
                }
                "rename" if ours => {
                    return Err(MigrateError::Refused {
                        reason: format!("{name} was renamed during the swap"),
                    })
                }
                "modify" if ours && !self.is_old(&ev) && ev.is_marker(marker) => {
                    markers += 1;
                    if markers == nth {
                        let at = token_of(&self.stream).ok_or_else(|| self.lost())?;
                        return Ok((ids, at));
                    }
                }
                _ if ours && !self.is_old(&ev) => {
                    if let Some(id) = ev.id() {
                        if seen.insert(id_key(id)) {
                            ids.push(id.clone());
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// The `_id`s the application inserted, changed or deleted in the new
    /// collection from the rename up to now: read until the stream has had
    /// nothing for `quiet`. `None` when that takes longer than `limit` or
    /// holds more than `max` documents. A later drop or rename of the
    /// collection ends the history there. Call after
    /// [`Crossing::old_history`].
    pub(crate) async fn new_changes_so_far(
        &mut self,
        quiet: Duration,
        limit: Duration,
        max: usize,
    ) -> Result<Option<Vec<Bson>>> {
        let name = self.collection.clone();
        let started = Instant::now();
        let (mut ids, mut seen) = (Vec::new(), HashSet::new());
        let mut last = Instant::now();
        let mut pending = self.pending.take();
        while last.elapsed() < quiet {
            if started.elapsed() > limit || ids.len() > max {
                return Ok(None);
            }
            let ev = match pending.take() {
                Some(ev) => Some(ev),
                None => self
                    .stream
                    .next_if_any()
                    .await
                    .map_err(db_err(format!("cannot follow changes to {name}")))?,
            };
            let Some(ev) = ev else { continue };
            last = Instant::now();
            let ours = ev.coll() == Some(name.as_str());
            match ev.operation_type.as_str() {
                // The invalidation that follows the rename's own event:
                // the history goes on right after it.
                "invalidate" if !self.invalidated => {
                    self.invalidated = true;
                    let token = token_of(&self.stream).ok_or_else(|| self.lost())?;
                    self.stream = watch(self.target, &name, Start::AfterInvalidate(&token))
                        .await?
                        .ok_or_else(|| self.lost())?;
                }
                "invalidate" | "drop" | "dropDatabase" => break,
                "rename" if ours => break,
                _ if ours && !self.is_old(&ev) => {
                    if let Some(id) = ev.id() {
                        if seen.insert(id_key(id)) {
                            ids.push(id.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(Some(ids))
    }
}
