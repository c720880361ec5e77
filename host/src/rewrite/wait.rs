//! A postponed cut-over (`up --postpone-swap`, `--swap-at`): after the
//! catch-up the run keeps the copy up to date from the change stream, as
//! the catch-up does, until `mongoshift swap` records a request on the
//! ledger entry (read about once a second, so it works from any machine) or
//! the `--swap-at` time comes. The lease's heartbeat keeps the lock all
//! along; every few seconds the run records how far behind the copy is, for
//! `status`, and reports it.
//!
//! Nothing here is a new phase: the rewrite stays in `catch-up`, whose way
//! forward (resume from the recorded stream position) and way back (drop
//! the copies) already hold; a run killed while waiting resumes, and waits
//! again, from `up`.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bson::{Bson, DateTime};
use mongodb::change_stream::ChangeStream;

use super::apply::{apply_changes, Follow};
use super::catalog::db_err;
use super::stream::{classify, token_of, Change, Seen};
use crate::batch::id_key;
use crate::error::Result;
use crate::failpoint as fp;
use crate::ledger::{swap_requested, RewriteState, SwapWait};
use crate::progress::Event;

/// How often the request is looked for: the longest a `swap` waits to be
/// seen.
const TICK: Duration = Duration::from_secs(1);
/// How often the wait is recorded and reported.
const REPORT: Duration = Duration::from_secs(3);
/// The most changed `_id`s read before they are applied.
const GROUP: usize = 1000;

/// Follows the stream until the swap is asked for or its time comes.
/// Returns the documents done again meanwhile.
pub(crate) async fn until_swap(
    f: &mut Follow<'_>,
    state: &mut RewriteState,
    stream: &mut ChangeStream<Change>,
) -> Result<i64> {
    let now = DateTime::now();
    let mut wait = SwapWait {
        since: now,
        lag_s: 0.0,
        pending: 0,
        applied: 0,
        at: now,
    };
    let mut reported: Option<Instant> = None;
    loop {
        if let Some(by) = asked(f, state).await? {
            f.progress.event(&Event::SwapRequested {
                id: f.migration.to_string(),
                by,
            });
            state.waiting = None;
            f.save(state).await?;
            return Ok(wait.applied);
        }
        let tick = follow_for(f, state, stream, TICK).await?;
        wait.applied += tick.applied;
        wait.pending = tick.pending;
        wait.lag_s = tick.lag_s;
        wait.at = DateTime::now();
        if reported.is_none_or(|r| r.elapsed() >= REPORT) {
            reported = Some(Instant::now());
            state.waiting = Some(wait.clone());
            f.save(state).await?;
            f.progress.event(&Event::SwapWaiting {
                id: f.migration.to_string(),
                lag_s: wait.lag_s,
                pending: wait.pending,
                applied: wait.applied,
                swap_at: state.swap_at.and_then(|t| t.try_to_rfc3339_string().ok()),
            });
            fp::hit(fp::SWAP_WAITING);
        }
    }
}

/// Who asked for the swap: a `mongoshift swap`, or the `--swap-at` time.
async fn asked(f: &Follow<'_>, state: &RewriteState) -> Result<Option<String>> {
    if let Some(at) = state.swap_at {
        if DateTime::now() >= at {
            let t = at.try_to_rfc3339_string().unwrap_or_default();
            return Ok(Some(format!("--swap-at {t}")));
        }
    }
    // Only a run that waits can have been asked: `swap` refuses otherwise.
    if state.waiting.is_none() {
        return Ok(None);
    }
    swap_requested(f.target, f.migration).await
}

/// What one tick of following did.
struct Tick {
    applied: i64,
    /// Changes read and not applied when the reading stopped.
    pending: i64,
    lag_s: f64,
}

/// Reads the stream for about `how_long` (less when it runs dry or
/// [`GROUP`] documents changed), then applies what it read and records the
/// position.
async fn follow_for(
    f: &mut Follow<'_>,
    state: &mut RewriteState,
    stream: &mut ChangeStream<Change>,
    how_long: Duration,
) -> Result<Tick> {
    let until = Instant::now() + how_long;
    let mut ids: Vec<Bson> = Vec::new();
    let mut seen = HashSet::new();
    let mut last: Option<bson::Timestamp> = None;
    let mut dry = false;
    while Instant::now() < until && ids.len() < GROUP {
        let ev = stream.next_if_any().await.map_err(db_err(format!(
            "cannot follow changes to {}",
            state.collection
        )))?;
        let Some(ev) = ev else {
            // Caught up: nothing more to read for now.
            dry = true;
            tokio::time::sleep(until.saturating_duration_since(Instant::now())).await;
            break;
        };
        last = ev.cluster_time.or(last);
        match classify(&ev, state) {
            Seen::Changed(id) => {
                if seen.insert(id_key(&id)) {
                    ids.push(id);
                }
            }
            Seen::Gone(e) => return Err(e),
            Seen::Modify(_) | Seen::Other => {}
        }
    }
    // Behind by the age of the last change read, unless the stream ran dry
    // (then everything read is about to be applied).
    let lag_s = match last {
        Some(t) if !dry => (DateTime::now().timestamp_millis() / 1000 - i64::from(t.time)).max(0),
        _ => 0,
    } as f64;
    let pending = ids.len() as i64;
    let applied = if ids.is_empty() {
        0
    } else {
        apply_changes(f, state, ids).await?
    };
    state.token = token_of(stream);
    if applied > 0 {
        f.save(state).await?;
    }
    Ok(Tick {
        applied,
        pending,
        lag_s,
    })
}
