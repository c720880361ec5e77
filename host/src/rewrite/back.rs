//! `down` of a rewrite. One that never swapped is undone: the fence lifted,
//! the copies dropped; the collection never stopped being the original. One
//! that swapped goes back by the module's backward transform, run in place
//! by the migrator (the application's writes since the swap are kept), or,
//! without one, by renaming the backup over the collection, which would
//! discard what the application wrote since the swap: those writes are
//! counted first and the rollback refused unless told to set them aside.

use bson::{doc, Bson, RawDocumentBuf};

use super::apply::read;
use super::catalog::{self, db_err};
use super::fence::{self, Fence, FENCE_TAG};
use super::since::after_the_swap;
use super::stream::{token_of, watch, Change, Marker, Start};
use crate::batch::id_key;
use crate::error::{MigrateError, Result};
use crate::failpoint as fp;
use crate::ledger::{conflicts_collection, save_rewrite_state, Phase, RewriteState};
use crate::target::Target;

/// Where a rewrite stands once `down` has settled it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Settled {
    /// It never swapped: undone, the collection is the original.
    Undone,
    /// The collection is the rewritten one, complete.
    Swapped,
}

/// What `down` works with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Down<'a> {
    pub target: &'a Target,
    pub migration: &'a str,
    pub fence: i64,
}

impl Down<'_> {
    async fn save(&self, state: &RewriteState) -> Result<()> {
        save_rewrite_state(self.target, self.migration, self.fence, state).await
    }
}

/// Brings a rewrite to one of the two states `down` starts from: a run
/// stopped before its rename is undone; one stopped after it finishes
/// applying the window's deletes.
pub(crate) async fn settle(d: Down<'_>, state: &mut RewriteState) -> Result<Settled> {
    fence::settle(d.target).await;
    if state.phase == Phase::LegacySwap {
        super::legacy::settle_down(d.target, state).await?;
    }
    let renamed = state.shadow_uuid.is_some()
        && catalog::is(d.target, &state.collection, state.shadow_uuid.as_ref()).await?;
    match state.phase {
        Phase::Copy | Phase::CatchUp => undo(d, state).await,
        Phase::Fenced if !renamed => undo(d, state).await,
        Phase::Fenced | Phase::Swapped => {
            if let Some(from) = state.swap_token.clone() {
                let backup = state.keep.then(|| state.backup.clone());
                super::swap::window_deletes(
                    d.target,
                    &state.collection,
                    &from,
                    state.source_uuid.clone(),
                    state.shadow_uuid.clone(),
                    backup.as_deref(),
                )
                .await?;
            }
            state.phase = Phase::Done;
            d.save(state).await?;
            Ok(Settled::Swapped)
        }
        Phase::Done | Phase::Restoring | Phase::LegacySwap => Ok(Settled::Swapped),
    }
}

/// The collection is the original: lift a fence left on it, drop the copies.
async fn undo(d: Down<'_>, state: &RewriteState) -> Result<Settled> {
    let now = catalog::validation(d.target, &state.collection).await?;
    if Bson::Document(now).to_string().contains(FENCE_TAG) {
        let v = state.validation.clone().unwrap_or_default();
        fence::lift(d.target, &state.collection, &v).await?;
    }
    fp::hit(fp::DOWN_AFTER_UNFENCE);
    catalog::drop(d.target, &state.shadow).await?;
    catalog::drop(d.target, &state.backup).await?;
    Ok(Settled::Undone)
}

/// After the backward transform ran in place: the backup is no longer needed.
pub(crate) async fn drop_backup(d: Down<'_>, state: &RewriteState) -> Result<()> {
    fp::hit(fp::DOWN_AFTER_BACKWARD);
    catalog::drop(d.target, &state.backup).await?;
    catalog::drop(d.target, &state.shadow).await
}

/// Puts the originals kept in the backup back over the collection: indexes
/// built on it first, its validator restored, then the collection fenced,
/// what the application did since the swap counted (and set aside when
/// `set_aside`, refused otherwise), and one rename. Returns the documents
/// the collection then holds.
pub(crate) async fn restore(d: Down<'_>, state: &mut RewriteState, set_aside: bool) -> Result<u64> {
    let c = state.collection.clone();
    if state.phase != Phase::Restoring {
        state.phase = Phase::Restoring;
        d.save(state).await?;
    }
    if !restored(d, state).await? {
        let v = state.validation.clone().unwrap_or_default();
        catalog::build_indexes(d.target, &state.backup, &state.indexes, &c).await?;
        fence::lift(d.target, &state.backup, &v).await?;
        // Read from before the fence, to know where its marker is.
        let mut here = watch(d.target, &c, Start::Now)
            .await?
            .ok_or_else(|| lost(&c))?;
        let mut fence = Fence::raise(d.target, &c, &v).await?;
        fp::hit(fp::DOWN_AFTER_FENCE);
        if let Err(e) = hold_and_count(d, state, &mut here, &mut fence, set_aside).await {
            fence::lift(d.target, &c, &v).await?;
            state.phase = Phase::Done;
            d.save(state).await?;
            return Err(e);
        }
        fp::hit(fp::DOWN_BEFORE_RENAME);
        catalog::rename(d.target, &state.backup, &c, true).await?;
        fp::hit(fp::DOWN_AFTER_RENAME);
    }
    if let Some(from) = state.token.clone() {
        super::swap::window_deletes(
            d.target,
            &c,
            &from,
            state.shadow_uuid.clone(),
            state.backup_uuid.clone(),
            None,
        )
        .await?;
    }
    catalog::drop(d.target, &state.shadow).await?;
    fp::hit(fp::DOWN_BEFORE_DONE);
    d.target
        .db()
        .collection::<bson::Document>(&c)
        .estimated_document_count()
        .await
        .map_err(db_err(format!("cannot count {c}")))
}

/// `up` after a rollback to the originals stopped: lift the fence it left
/// (the rewrite is applied again) unless the backup was already renamed
/// over the collection, in which case the rollback is finished. Returns
/// whether the rewrite is applied.
pub(crate) async fn cancel_restore(d: Down<'_>, state: &mut RewriteState) -> Result<bool> {
    fence::settle(d.target).await;
    if restored(d, state).await? {
        restore(d, state, false).await?;
        return Ok(false);
    }
    let now = catalog::validation(d.target, &state.collection).await?;
    if Bson::Document(now).to_string().contains(FENCE_TAG) {
        let v = state.validation.clone().unwrap_or_default();
        fence::lift(d.target, &state.collection, &v).await?;
    }
    state.phase = Phase::Done;
    d.save(state).await?;
    Ok(true)
}

/// Whether the backup has been renamed over the collection.
async fn restored(d: Down<'_>, state: &RewriteState) -> Result<bool> {
    match &state.backup_uuid {
        Some(u) => catalog::is(d.target, &state.collection, Some(u)).await,
        None => Ok(!catalog::exists(d.target, &state.backup).await?),
    }
}

fn lost(c: &str) -> MigrateError {
    MigrateError::Database {
        context: format!("cannot follow changes to {c}"),
        message: "the change stream cannot start".into(),
        labels: vec![],
        cause: crate::error::DbCause::Other,
    }
}

/// With the collection fenced: counts what the application did since the
/// swap, sets it aside or refuses, and records the stream position at the
/// fence's marker (the window's deletes are read from there). An expiring
/// fence that came close to its deadline is renewed and the count redone.
async fn hold_and_count(
    d: Down<'_>,
    state: &mut RewriteState,
    here: &mut mongodb::change_stream::ChangeStream<Change>,
    fence: &mut Fence,
    set_aside: bool,
) -> Result<()> {
    let c = state.collection.clone();
    for _ in 0..5 {
        let since = since_swap(d.target, state, &fence.marker).await?;
        to_marker(here, &fence.marker, &c).await?;
        let (late, at) = late_writes(d.target, state, here).await?;
        state.token = Some(at);
        let conflicts = match since {
            Some(mut ids) => {
                ids.extend(late);
                Some(classify(d.target, state, &ids).await?)
            }
            None => None,
        };
        let count = conflicts.as_ref().map(|v| v.len() as u64);
        if count != Some(0) {
            if !set_aside {
                return Err(MigrateError::WritesSinceSwap {
                    collection: c.clone(),
                    count,
                    examples: examples(conflicts.as_deref().unwrap_or_default()),
                    conflicts: conflicts_collection(d.migration),
                });
            }
            set_aside_writes(d, state, conflicts).await?;
        }
        if fence.safe_to_rename() {
            return d.save(state).await;
        }
        fence.refresh(d.target).await?;
    }
    Err(MigrateError::Refused {
        reason: format!(
            "the writes to {c} since the swap could not be counted within half the fence's \
             deadline five times in a row; writes are accepted again. Run `mongoshift down` \
             again, or set a longer MONGOSHIFT_FENCE_SECONDS"
        ),
    })
}

/// Writes that passed the validator just before the fence and committed
/// after its event (see `swap::stragglers`): rounds up to fresh markers
/// until one brings no insert or update. Returns their `_id`s and the
/// position after the last round.
async fn late_writes(
    target: &Target,
    state: &RewriteState,
    here: &mut mongodb::change_stream::ChangeStream<Change>,
) -> Result<(Vec<Bson>, Bson)> {
    let mut all = Vec::new();
    for _ in 0..20 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let marker = fence::mark(target, &state.collection).await?;
        let (ids, written) = super::swap::read_round(state, here, &marker).await?;
        all.extend(ids);
        if !written {
            break;
        }
    }
    let at = token_of(here).ok_or_else(|| lost(&state.collection))?;
    Ok((all, at))
}

/// Reads `stream` to `marker`; returns the position there.
async fn to_marker(
    stream: &mut mongodb::change_stream::ChangeStream<Change>,
    marker: &Marker,
    c: &str,
) -> Result<Bson> {
    loop {
        let ev = stream
            .next_if_any()
            .await
            .map_err(db_err(format!("cannot follow changes to {c}")))?;
        if ev.is_some_and(|e| e.coll() == Some(c) && e.is_marker(marker)) {
            return token_of(stream).ok_or_else(|| lost(c));
        }
    }
}

/// The `_id`s the application touched since the swap, up to `marker`;
/// `None` when the stream no longer reaches back to the swap.
async fn since_swap(
    target: &Target,
    state: &RewriteState,
    marker: &Marker,
) -> Result<Option<Vec<Bson>>> {
    let Some(mut history) = after_the_swap(target, state).await? else {
        return Ok(None);
    };
    Ok(Some(history.new_changes(marker, 1).await?.0))
}

/// One document the rollback would change back.
#[derive(Debug)]
pub(crate) struct Conflict {
    id: Bson,
    change: &'static str,
    current: Option<RawDocumentBuf>,
}

/// Of the touched `_id`s, those whose restore would discard an application
/// write: inserted or changed (there now), or deleted (an original to come
/// back). A document gone from both was only deleted in the window.
async fn classify(target: &Target, state: &RewriteState, ids: &[Bson]) -> Result<Vec<Conflict>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(1000) {
        let by_id = |docs: Vec<RawDocumentBuf>| {
            docs.into_iter()
                .filter_map(|d| {
                    let id = Bson::try_from(d.get("_id").ok()??.to_raw_bson()).ok()?;
                    Some((id_key(&id), d))
                })
                .collect::<std::collections::HashMap<_, _>>()
        };
        let mut now = by_id(read(target, &state.collection, chunk).await?);
        let was = by_id(read(target, &state.backup, chunk).await?);
        for id in chunk {
            let k = id_key(id);
            let (current, original) = (now.remove(&k), was.contains_key(&k));
            let change = match (&current, original) {
                (Some(_), true) => "changed",
                (Some(_), false) => "inserted",
                (None, true) => "deleted",
                (None, false) => continue,
            };
            out.push(Conflict {
                id: id.clone(),
                change,
                current,
            });
        }
    }
    Ok(out)
}

fn examples(conflicts: &[Conflict]) -> String {
    if conflicts.is_empty() {
        return String::new();
    }
    let shown: Vec<String> = conflicts
        .iter()
        .take(3)
        .map(|c| format!("_id {} {}", c.id, c.change))
        .collect();
    format!(" ({})", shown.join(", "))
}

/// Keeps what the rollback discards in `mongoshift_conflicts_<id>`: the
/// application's version of each inserted or changed document, a tombstone
/// for each deleted one; when the count is unknown, every document.
async fn set_aside_writes(
    d: Down<'_>,
    state: &RewriteState,
    conflicts: Option<Vec<Conflict>>,
) -> Result<()> {
    let coll = d
        .target
        .db()
        .collection::<bson::Document>(&conflicts_collection(d.migration));
    let run = state.run.map_or(Bson::Null, Bson::ObjectId);
    let at = bson::DateTime::now();
    let entries: Vec<bson::Document> = match conflicts {
        Some(v) => v
            .into_iter()
            .map(|c| {
                let mut e = doc! { "_id": { "id": c.id, "run": run.clone() }, "change": c.change, "at": at };
                if let Some(cur) = c.current.and_then(|r| bson::Document::try_from(r).ok()) {
                    e.insert("current", cur);
                }
                e
            })
            .collect(),
        None => read_all(d.target, &state.collection)
            .await?
            .into_iter()
            .map(|cur| {
                let id = cur.get("_id").cloned().unwrap_or(Bson::Null);
                doc! { "_id": { "id": id, "run": run.clone() }, "change": "unknown", "current": cur, "at": at }
            })
            .collect(),
    };
    for e in entries {
        let id = e.get("_id").cloned().unwrap_or(Bson::Null);
        coll.replace_one(doc! { "_id": id }, e)
            .upsert(true)
            .await
            .map_err(db_err(format!(
                "cannot set aside writes in {}",
                conflicts_collection(d.migration)
            )))?;
    }
    Ok(())
}

async fn read_all(target: &Target, c: &str) -> Result<Vec<bson::Document>> {
    use futures_util::TryStreamExt;
    target
        .db()
        .collection::<bson::Document>(c)
        .find(doc! {})
        .await
        .map_err(db_err(format!("cannot read {c}")))?
        .try_collect()
        .await
        .map_err(db_err(format!("cannot read {c}")))
}
