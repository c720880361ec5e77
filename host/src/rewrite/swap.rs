//! From the end of the copy to `done`: the catch-up, the window (fence,
//! drain, one rename of the shadow over the collection) and the deletes
//! that landed in the window.

use std::time::{Duration, Instant};

use bson::{doc, rawdoc, Binary, Bson, RawArrayBuf};
use mongodb::change_stream::ChangeStream;

use super::apply::{apply_changes, follow, read, Follow, Until};
use super::catalog::{self, db_err};
use super::crossing::Crossing;
use super::fence::{self, mark, Fence};
use super::stream::{open_stream, Backlog, Change, Marker};
use crate::error::{MigrateError, Result};
use crate::failpoint as fp;
use crate::ledger::Checkpoint;
use crate::ledger::{Phase, RewriteState};
use crate::target::Target;

/// Takes a rewrite whose copy is done (`CatchUp`) or that stopped later
/// (`Fenced`, `Swapped`, or a window of an earlier version) to `Done`.
/// `drained`: what the stream reader held when the copy ended.
pub(crate) async fn finish(
    f: &mut Follow<'_>,
    state: &mut RewriteState,
    drained: Option<(ChangeStream<Change>, Backlog)>,
    copy: Duration,
) -> Result<Checkpoint> {
    fence::settle(f.target).await;
    let started = Instant::now();
    let mut cp = Checkpoint::default();
    if state.phase == Phase::LegacySwap {
        cp.changed += super::legacy::settle(f, state).await?;
    }
    let mut stream = None;
    if state.phase == Phase::CatchUp {
        stream = Some(catch_up(f, state, drained, &mut cp, copy).await?);
    }
    let mut refused = None;
    let mut lost = Vec::new();
    if state.phase == Phase::Fenced {
        f.phase(
            4,
            format!(
                "rewrite: swap (writes to {} refused until it is done; catch-up took {:.1} s, {} changes)",
                state.collection,
                started.elapsed().as_secs_f64(),
                cp.changed
            ),
        );
        refused = window(f, state, stream, &mut cp).await?;
    }
    if state.phase == Phase::Swapped {
        let (old, new) = (state.source_uuid.clone(), state.shadow_uuid.clone());
        let backup = state.keep.then(|| state.backup.clone());
        if let Some(from) = state.swap_token.clone() {
            let c = &state.collection;
            lost = window_deletes(f.target, c, &from, old, new, backup.as_deref()).await?;
        }
        fp::hit(fp::SWAP_AFTER_WINDOW_DELETES);
    }
    // Never silent: writes that got past every check before the rename.
    let lost = if lost.is_empty() {
        String::new()
    } else {
        let shown: Vec<String> = lost.iter().take(5).map(ToString::to_string).collect();
        format!(
            "; WARNING: {} write(s) reached {} after the last check before the rename and are \
             not in it (_id {})",
            lost.len(),
            state.collection,
            shown.join(", ")
        )
    };
    let refused = refused.map_or(String::new(), |w: Duration| {
        format!(
            "; writes to {} were refused for {:.1} s",
            state.collection,
            w.as_secs_f64()
        )
    });
    let kept = if state.keep {
        format!("; the originals are kept in {}", state.backup)
    } else {
        String::new()
    };
    f.phase(
        5,
        format!(
            "rewrite: done ({:.1} s after the copy{refused}{kept}{lost})",
            started.elapsed().as_secs_f64()
        ),
    );
    fp::hit(fp::SWAP_BEFORE_DONE);
    state.phase = Phase::Done;
    f.save(state).await?;
    Ok(cp)
}

/// Applies the changes made during the copy, then follows the stream in
/// rounds until a round is short: the window then has little to do. A
/// postponed cut-over then waits for its swap, following the stream, and
/// does the rounds again. Records `Fenced` as next.
async fn catch_up(
    f: &mut Follow<'_>,
    state: &mut RewriteState,
    drained: Option<(ChangeStream<Change>, Backlog)>,
    cp: &mut Checkpoint,
    copy: Duration,
) -> Result<ChangeStream<Change>> {
    let mut stream = match drained {
        Some((stream, backlog)) if !backlog.broken => {
            if let Some(e) = backlog.gone {
                return Err(e);
            }
            f.phase(
                3,
                format!(
                    "rewrite: applying the changes made during the copy ({} changed documents read while it ran; the copy took {:.1} s)",
                    backlog.ids.len(),
                    copy.as_secs_f64()
                ),
            );
            for chunk in backlog.ids.chunks(1000) {
                cp.changed += apply_changes(f, state, chunk.to_vec()).await?;
            }
            state.token = backlog.token;
            f.save(state).await?;
            fp::hit(fp::REWRITE_MID_CATCH_UP);
            stream
        }
        _ => {
            f.phase(
                3,
                "rewrite: applying the changes made during the copy".into(),
            );
            open_stream(f.target, state).await?
        }
    };
    cp.changed += rounds(f, state, &mut stream).await?;
    if state.postponed {
        cp.changed += super::wait::until_swap(f, state, &mut stream).await?;
        cp.changed += rounds(f, state, &mut stream).await?;
    }
    state.phase = Phase::Fenced;
    state.fenced_at.get_or_insert_with(bson::DateTime::now);
    f.save(state).await?;
    Ok(stream)
}

/// Follows the stream in rounds, each up to a marker written when it
/// starts, until a round is short. Returns the documents done again.
async fn rounds(
    f: &mut Follow<'_>,
    state: &mut RewriteState,
    stream: &mut ChangeStream<Change>,
) -> Result<i64> {
    let mut changed = 0;
    for _round in 0..20 {
        let started = Instant::now();
        let marker = mark(f.target, &state.collection).await?;
        let n = follow(
            f,
            state,
            stream,
            Until::MarkerOrIdle(marker),
            fp::REWRITE_MID_CATCH_UP,
        )
        .await?;
        changed += n;
        if n < 1000 || started.elapsed() < Duration::from_millis(500) {
            break;
        }
    }
    Ok(changed)
}

/// Whether the shadow has been renamed over the collection.
async fn renamed(target: &Target, state: &RewriteState) -> Result<bool> {
    Ok(state.shadow_uuid.is_some()
        && catalog::is(target, &state.collection, state.shadow_uuid.as_ref()).await?)
}

/// The window: fence the source, drain the stream to the fence's marker
/// into the copies, then rename the shadow over the source in one step, so
/// the name never stands for no collection. Records `Swapped`. Returns how
/// long writes were refused, when this run fenced.
async fn window(
    f: &mut Follow<'_>,
    state: &mut RewriteState,
    stream: Option<ChangeStream<Change>>,
    cp: &mut Checkpoint,
) -> Result<Option<Duration>> {
    let target = f.target;
    let mut refused = None;
    if !renamed(target, state).await? {
        let mut stream = match stream {
            Some(s) => s,
            None => open_stream(target, state).await?,
        };
        let started = Instant::now();
        let own = state.validation.clone().unwrap_or_default();
        let mut fence = Fence::raise(target, &state.collection, &own).await?;
        fp::hit(fp::SWAP_AFTER_FENCE);
        let res = drain_and_rename(f, state, &mut stream, &mut fence).await;
        match res {
            Ok(n) => cp.changed += n,
            Err(e) => {
                if !renamed(target, state).await.unwrap_or(true) {
                    let v = state.validation.clone().unwrap_or_default();
                    let _ = fence::lift(target, &state.collection, &v).await;
                }
                return Err(e);
            }
        }
        fp::hit(fp::SWAP_AFTER_RENAME);
        let took = started.elapsed();
        state.swap_window_ms = Some(took.as_millis() as i64);
        refused = Some(took);
    }
    state.phase = Phase::Swapped;
    f.save(state).await?;
    Ok(refused)
}

async fn drain_and_rename(
    f: &mut Follow<'_>,
    state: &mut RewriteState,
    stream: &mut ChangeStream<Change>,
    fence: &mut Fence,
) -> Result<i64> {
    let mut n = follow(
        f,
        state,
        stream,
        Until::Marker(fence.marker.clone()),
        fp::SWAP_MID_DRAIN,
    )
    .await?;
    n += stragglers(f, state, stream).await?;
    // An expiring fence: set a fresh deadline, drain what its lapse may
    // have let in, and rename only well inside the new deadline.
    let mut attempts = 0;
    while fence.expires() {
        fence.refresh(f.target).await?;
        n += follow(
            f,
            state,
            stream,
            Until::Marker(fence.marker.clone()),
            fp::SWAP_MID_DRAIN,
        )
        .await?;
        if fence.safe_to_rename() {
            break;
        }
        attempts += 1;
        if attempts == 5 {
            return Err(MigrateError::Refused {
                reason: format!(
                    "the stream of {} could not be drained within half the fence's deadline five \
                     times in a row; writes are accepted again. Run `mongoshift up` again, or set \
                     a longer MONGOSHIFT_FENCE_SECONDS",
                    state.collection
                ),
            });
        }
    }
    state.swap_token = state.token.clone();
    f.save(state).await?;
    fp::hit(fp::SWAP_BEFORE_RENAME);
    catalog::rename(f.target, &state.shadow, &state.collection, true).await?;
    Ok(n)
}

/// A write that passed the validator just before the fence may commit just
/// after the fence's event: secantusd-rs does not order `collMod` with the
/// writes in flight (seen with a few concurrent writers, and once as a lost
/// update in the churn test), while MongoDB's `collMod` waits for them. So
/// rounds follow, each up to a fresh
/// marker, until one brings no insert or update (deletes pass any fence and
/// are applied either way). Returns the documents done again.
async fn stragglers(
    f: &mut Follow<'_>,
    state: &mut RewriteState,
    stream: &mut ChangeStream<Change>,
) -> Result<i64> {
    let mut n = 0;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let marker = mark(f.target, &state.collection).await?;
        let (ids, written) = read_round(state, stream, &marker).await?;
        if !ids.is_empty() {
            n += apply_changes(f, state, ids).await?;
        }
        state.token = super::stream::token_of(stream);
        if !written {
            break;
        }
    }
    f.save(state).await?;
    Ok(n)
}

/// The `_id`s changed up to `marker`, and whether any was inserted or
/// updated (not only deleted).
pub(crate) async fn read_round(
    state: &RewriteState,
    stream: &mut ChangeStream<Change>,
    marker: &Marker,
) -> Result<(Vec<Bson>, bool)> {
    use super::stream::{classify, Seen};
    let (mut ids, mut written) = (Vec::new(), false);
    loop {
        let ev = stream.next_if_any().await.map_err(db_err(format!(
            "cannot follow changes to {}",
            state.collection
        )))?;
        let Some(ev) = ev else { continue };
        match classify(&ev, state) {
            Seen::Modify(m) if m.is_marker(marker) => return Ok((ids, written)),
            Seen::Changed(id) => {
                written |= ev.operation_type != "delete";
                ids.push(id);
            }
            Seen::Gone(e) => return Err(e),
            Seen::Modify(_) | Seen::Other => {}
        }
    }
}

/// Applies to `collection` the deletes that landed in its window (a
/// validator does not stop them) after the collection read from `from`
/// was renamed over: each only where the document is still exactly what
/// the rename put there (a newer application write wins); and to `backup`,
/// which holds the originals as they were at the swap. Returns the `_id`s
/// of inserts and updates that reached the old collection after the last
/// check before the rename (lost with it; only a server that lets writes
/// straddle the fence can have any).
pub(crate) async fn window_deletes(
    target: &Target,
    collection: &str,
    from: &Bson,
    old: Option<Binary>,
    new: Option<Binary>,
    backup: Option<&str>,
) -> Result<Vec<Bson>> {
    // An end for the old history on servers that show no event for it.
    let first = mark(target, collection).await?;
    let Some(mut history) = Crossing::open(target, collection, from, old, new).await? else {
        return Err(MigrateError::Refused {
            reason: format!(
                "the change stream no longer holds the swap window of {collection} \
                 (ChangeStreamHistoryLost): deletes made in it cannot be known"
            ),
        });
    };
    let (deleted, lost) = history.old_history().await?;
    if deleted.is_empty() {
        return Ok(lost);
    }
    let now = read(target, collection, &deleted).await?;
    let second = mark(target, collection).await?;
    debug_assert_eq!(first, second);
    let (touched, _) = history.new_changes(&Marker::Empty, 2).await?;
    let touched: std::collections::HashSet<Vec<u8>> =
        touched.iter().map(crate::batch::id_key).collect();
    let mut deletes = RawArrayBuf::new();
    for d in &now {
        let id = d.get("_id").ok().flatten().map(|v| v.to_raw_bson());
        let key = id
            .and_then(|i| Bson::try_from(i).ok())
            .map(|i| crate::batch::id_key(&i));
        if key.is_some_and(|k| !touched.contains(&k)) {
            deletes.push(rawdoc! { "q": crate::writer::unchanged_filter(d), "limit": 1 });
        }
    }
    if !deletes.is_empty() {
        target
            .db()
            .run_raw_command(rawdoc! { "delete": collection, "deletes": deletes, "ordered": false })
            .await
            .map_err(db_err(format!(
                "cannot apply the window's deletes to {collection}"
            )))?;
    }
    if let Some(b) = backup {
        target
            .db()
            .collection::<bson::Document>(b)
            .delete_many(doc! { "_id": { "$in": deleted.clone() } })
            .await
            .map_err(db_err(format!("cannot apply the window's deletes to {b}")))?;
    }
    Ok(lost)
}
