//! Windows recorded by earlier versions, which swapped with two renames
//! (the source to the backup, then the shadow to the source) and recorded
//! the whole window as one phase, `swap`. Each is settled into a phase of
//! this version before anything else: never renamed away, it goes back to
//! the catch-up (the originals then copied into a backup as this version
//! keeps them); renamed away, the old swap is finished as it would have
//! been, which leaves it `Done` with the original collection as the backup.

use bson::{doc, rawdoc, RawArrayBuf, RawDocumentBuf};
use futures_util::TryStreamExt;

use super::apply::{apply_changes, Follow};
use super::catalog::{self, db_err};
use super::crossing::Crossing;
use super::fence::{self, Fence, FENCE_TAG};
use super::state::{Phase, RewriteState};
use crate::error::{MigrateError, Result};
use crate::target::Target;

/// `up` of a `swap` recorded by an earlier version. Returns the documents
/// done again.
pub(crate) async fn settle(f: &mut Follow<'_>, state: &mut RewriteState) -> Result<i64> {
    let t = f.target;
    if !catalog::exists(t, &state.backup).await? {
        back_to_catch_up(t, state).await?;
        f.save(state).await?;
        return Ok(0);
    }
    let mut n = 0;
    if catalog::exists(t, &state.shadow).await? {
        if catalog::exists(t, &state.collection).await? {
            // Inserts re-created the collection between the two renames:
            // hold them off, carry its documents over, replace it.
            let own = catalog::validation(t, &state.collection).await?;
            Fence::raise(t, &state.collection, &own).await?;
            let ids: Vec<bson::Bson> = t
                .db()
                .collection::<bson::Document>(&state.collection)
                .distinct("_id", doc! {})
                .await
                .map_err(db_err(format!("cannot read {}", state.collection)))?;
            // They are writes made after the original was set aside, not
            // originals: into the shadow only.
            let mut into_shadow = state.clone();
            into_shadow.keep = false;
            for chunk in ids.chunks(1000) {
                n += apply_changes(f, &into_shadow, chunk.to_vec()).await?;
            }
            catalog::rename(t, &state.shadow, &state.collection, true).await?;
        } else {
            catalog::rename(t, &state.shadow, &state.collection, false).await?;
        }
    }
    finish_old_swap(t, state).await?;
    f.save(state).await?;
    Ok(n)
}

/// `down` of a `swap` recorded by an earlier version: settled so that the
/// rollback of this version can go on.
pub(crate) async fn settle_down(t: &Target, state: &mut RewriteState) -> Result<()> {
    if !catalog::exists(t, &state.backup).await? {
        // Never renamed away: undone like a catch-up.
        state.phase = Phase::CatchUp;
        return Ok(());
    }
    if catalog::exists(t, &state.shadow).await? {
        if catalog::exists(t, &state.collection).await? {
            return Err(MigrateError::Refused {
                reason: format!(
                    "{c} was re-created by application writes while an earlier mongoshift \
                     version was between the two renames of its swap: the original is in {b}, \
                     the transformed copy in {s}. Run `mongoshift up` first (it carries those \
                     writes over and finishes the swap), then `mongoshift down`",
                    c = state.collection,
                    b = state.backup,
                    s = state.shadow
                ),
            });
        }
        catalog::rename(t, &state.shadow, &state.collection, false).await?;
    }
    finish_old_swap(t, state).await
}

/// A copy or catch-up recorded by an earlier version: what this version
/// records before the copy, and, as that version kept the original, a
/// backup of it (the stream keeps it exact from the recorded position).
pub(crate) async fn adopt(t: &Target, state: &mut RewriteState) -> Result<()> {
    let c = state.collection.clone();
    if state.validation.is_none() {
        state.validation = Some(catalog::validation(t, &c).await?);
    }
    state.indexes = catalog::index_specs(t, &c).await?;
    state.source_uuid = catalog::uuid(t, &c).await?;
    state.shadow_uuid = catalog::uuid(t, &state.shadow).await?;
    state.keep = true;
    let options = catalog::options(t, &c).await?;
    state.backup_uuid = catalog::create_like(t, &state.backup, &options, false).await?;
    copy_all(t, &c, &state.backup).await?;
    state.run = Some(bson::oid::ObjectId::new());
    Ok(())
}

/// The source was never renamed away: lift the old fence, copy the
/// originals into the backup and catch up again from the recorded position.
async fn back_to_catch_up(t: &Target, state: &mut RewriteState) -> Result<()> {
    let c = state.collection.clone();
    let v = match state.validation.clone() {
        Some(v) => v,
        None => catalog::validation(t, &c).await?,
    };
    if bson::Bson::Document(catalog::validation(t, &c).await?)
        .to_string()
        .contains(FENCE_TAG)
    {
        fence::lift(t, &c, &v).await?;
    }
    state.validation = Some(v);
    state.keep = true;
    state.indexes = catalog::index_specs(t, &c).await?;
    state.source_uuid = catalog::uuid(t, &c).await?;
    state.shadow_uuid = catalog::uuid(t, &state.shadow).await?;
    let options = catalog::options(t, &c).await?;
    state.backup_uuid = catalog::create_like(t, &state.backup, &options, false).await?;
    copy_all(t, &c, &state.backup).await?;
    state.run = Some(bson::oid::ObjectId::new());
    state.phase = Phase::CatchUp;
    Ok(())
}

/// Both renames are done: apply the deletes that landed before the source
/// was renamed away (read up to that rename), give the original its
/// validator back; it is the backup of a `Done` rewrite.
async fn finish_old_swap(t: &Target, state: &mut RewriteState) -> Result<()> {
    if let Some(from) = state.token.clone() {
        if let Some(mut history) = Crossing::open(t, &state.collection, &from, None, None).await? {
            let (deleted, _) = history.old_history().await?;
            if !deleted.is_empty() {
                t.db()
                    .collection::<bson::Document>(&state.collection)
                    .delete_many(doc! { "_id": { "$in": deleted } })
                    .await
                    .map_err(db_err(format!(
                        "cannot apply the window's deletes to {}",
                        state.collection
                    )))?;
            }
        }
    }
    if let Some(v) = &state.validation {
        fence::lift(t, &state.backup, v).await?;
    }
    state.keep = true;
    state.swap_token = None;
    state.phase = Phase::Done;
    Ok(())
}

/// Copies every document of `from` into `to` as it is (documents already
/// there are left alone).
async fn copy_all(t: &Target, from: &str, to: &str) -> Result<()> {
    let mut cursor = t
        .db()
        .collection::<RawDocumentBuf>(from)
        .find(doc! {})
        .await
        .map_err(db_err(format!("cannot read {from}")))?;
    let mut docs = RawArrayBuf::new();
    let mut n = 0;
    loop {
        let next = cursor
            .try_next()
            .await
            .map_err(db_err(format!("cannot read {from}")))?;
        let end = next.is_none();
        if let Some(d) = next {
            docs.push(d);
            n += 1;
        }
        if n > 0 && (n == 1000 || end) {
            let reply = t
                .db()
                .run_raw_command(
                    rawdoc! { "insert": to, "documents": std::mem::take(&mut docs), "ordered": false },
                )
                .await
                .map_err(db_err(format!("cannot copy {from} into {to}")))?;
            let duplicate_only = reply.get_array("writeErrors").map_or(true, |errors| {
                errors
                    .iter()
                    .all(|e| e.as_document().and_then(|d| d.get_i32("code").ok()) == Some(11000))
            });
            if !duplicate_only {
                return Err(MigrateError::Database {
                    context: format!("cannot copy {from} into {to}"),
                    message: format!("{reply}"),
                    labels: vec![],
                });
            }
            n = 0;
        }
        if end {
            return Ok(());
        }
    }
}
