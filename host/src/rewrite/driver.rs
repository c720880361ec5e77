//! A rewrite as the migrator drives it: [`Rewrite::start`] before the copy
//! (which the pipeline does), [`Rewrite::finish`] after it.

use std::time::Duration;

use super::apply::Follow;
use super::catalog;
use super::stream::{backlog_max, open_stream, token_of, watch, Drain, Start};
use crate::error::Result;
use crate::failpoint as fp;
use crate::ledger::Checkpoint;
use crate::ledger::{save_rewrite_state, Phase, RewriteState};
use crate::options::Cutover;
use crate::progress::{Event, Progress};
use crate::target::Target;
use crate::writer::Destination;

/// A rewrite in progress in this run.
pub(crate) struct Rewrite {
    state: RewriteState,
    drain: Option<Drain>,
    /// The copy starts over from the first document (see [`Rewrite::start`]).
    restarted: bool,
}

/// Who runs the rewrite.
pub(crate) struct Run<'a> {
    pub target: &'a Target,
    pub migration: &'a str,
    pub fence: i64,
    pub progress: &'a Progress,
    /// When the swap happens; a postponed one is recorded in the state.
    pub cutover: Cutover,
}

impl Rewrite {
    /// Picks up the recorded rewrite of `collection`, or starts one that
    /// keeps the originals when `keep`; before the copy, records where the
    /// stream stands and creates the copies.
    pub(crate) async fn start(
        run: Run<'_>,
        collection: &str,
        keep: bool,
        recorded: Option<RewriteState>,
    ) -> Result<Rewrite> {
        let t = run.target;
        let mut state =
            recorded.unwrap_or_else(|| RewriteState::new(run.migration, collection, keep));
        catalog::check_source(t, &state).await?;
        if postpone(&mut state, run.cutover) {
            save_rewrite_state(t, run.migration, run.fence, &state).await?;
        }
        let backlog = backlog_max()?;
        // Checked now, not when the window opens after the copy.
        super::fence::fence_seconds()?;
        if state.run.is_none() && matches!(state.phase, Phase::Copy | Phase::CatchUp) {
            super::legacy::adopt(t, &mut state).await?;
            save_rewrite_state(t, run.migration, run.fence, &state).await?;
        }
        let restarted = history_lost(t, &state).await?;
        if restarted {
            start_over(&run, &mut state).await?;
        }
        let mut drain = None;
        if state.phase == Phase::Copy {
            // Follow changes from before the first document is copied,
            // reading them while the copy runs.
            let stream = open_stream(t, &state).await?;
            if state.token.is_none() {
                if catalog::exists(t, &state.backup).await? {
                    return Err(catalog::unowned_backup(&state));
                }
                // A shadow no entry owns: the partial copy of a run that
                // never recorded it.
                catalog::drop(t, &state.shadow).await?;
                state.token = token_of(&stream);
                state.validation = Some(catalog::validation(t, collection).await?);
                state.indexes = catalog::index_specs(t, collection).await?;
                state.source_uuid = catalog::uuid(t, collection).await?;
                save_rewrite_state(t, run.migration, run.fence, &state).await?;
            }
            let options = catalog::options(t, collection).await?;
            state.shadow_uuid = catalog::create_like(t, &state.shadow, &options, true).await?;
            if state.keep {
                state.backup_uuid = catalog::create_like(t, &state.backup, &options, false).await?;
            }
            save_rewrite_state(t, run.migration, run.fence, &state).await?;
            fp::hit(fp::REWRITE_AFTER_CREATE);
            // Indexes before the copy, kept up batch by batch: a document
            // that breaks a unique index fails its batch with its `_id`
            // (not a whole index build at the end), and no server has to
            // build an index over the whole copy in one go (secantusd-rs
            // does so in one storage transaction, which does not finish
            // past a few hundred thousand documents).
            run.progress.event(&Event::StepStarted {
                id: run.migration.to_string(),
                step: 1,
                description: format!(
                    "rewrite: creating {} with the options and indexes of {collection}",
                    state.shadow
                ),
            });
            catalog::build_indexes(t, &state.shadow, &state.indexes, collection).await?;
            fp::hit(fp::REWRITE_AFTER_INDEXES);
            let kept = if state.keep {
                format!(", the originals into {}", state.backup)
            } else {
                String::new()
            };
            run.progress.event(&Event::StepStarted {
                id: run.migration.to_string(),
                step: 2,
                description: format!(
                    "rewrite: copying {collection} through the transform into {}{kept}",
                    state.shadow
                ),
            });
            drain = Some(Drain::start(stream, &state, backlog));
        }
        Ok(Rewrite {
            state,
            drain,
            restarted,
        })
    }

    /// Stops following the change stream without finishing: the copy of a
    /// distributed run is shared by its workers, and whoever finishes reads
    /// the changes from the position recorded in the ledger.
    pub(crate) async fn leave(mut self) {
        if let Some(d) = self.drain.take() {
            d.stop().await;
        }
    }

    /// Whether the copy starts over from the first document, whatever the
    /// checkpoint says.
    pub(crate) fn restarted(&self) -> bool {
        self.restarted
    }

    /// Where the copy writes.
    pub(crate) fn destination(&self) -> Destination {
        Destination::Shadow {
            shadow: self.state.shadow.clone(),
            backup: self.state.keep.then(|| self.state.backup.clone()),
        }
    }

    /// Whether the copy is still to do.
    pub(crate) fn copying(&self) -> bool {
        self.state.phase == Phase::Copy
    }

    /// After the copy (`copy`: how long this run's part of it took): the
    /// catch-up, the window, the swap.
    pub(crate) async fn finish(mut self, f: &mut Follow<'_>, copy: Duration) -> Result<Checkpoint> {
        if self.state.phase == Phase::Copy {
            fp::hit(fp::REWRITE_AFTER_COPY);
            self.state.phase = Phase::CatchUp;
            f.save(&self.state).await?;
        }
        let drained = match self.drain.take() {
            Some(d) => d.stop().await,
            None => None,
        };
        super::swap::finish(f, &mut self.state, drained, copy).await
    }
}

/// Records a postponed cut-over (a plain `up` that resumes the rewrite
/// postpones it too; `--swap-at` sets a new time); a wait recorded by a run
/// that died is over. Returns whether the state changed.
fn postpone(state: &mut RewriteState, cutover: Cutover) -> bool {
    let before = (state.postponed, state.swap_at, state.waiting.is_some());
    state.postponed |= cutover.postponed();
    state.swap_at = cutover.swap_at.or(state.swap_at);
    state.waiting = None;
    before != (state.postponed, state.swap_at, false)
}

/// Whether a rewrite stopped before its swap can no longer follow changes
/// from its recorded position: the oplog has rolled past it.
async fn history_lost(t: &Target, state: &RewriteState) -> Result<bool> {
    let Some(token) = &state.token else {
        return Ok(false);
    };
    if !matches!(state.phase, Phase::Copy | Phase::CatchUp) {
        return Ok(false);
    }
    Ok(watch(t, &state.collection, Start::After(token))
        .await?
        .is_none())
}

/// Nothing is swapped before the window, so a copy whose change history is
/// gone is started over: the partial copies are dropped (the source was
/// never touched) and the rewrite begins again, saying why.
async fn start_over(run: &Run<'_>, state: &mut RewriteState) -> Result<()> {
    let t = run.target;
    let reach = super::oplog::reach(t, Duration::from_secs(5))
        .await
        .map_or_else(
            || "how far the oplog reaches could not be read".to_string(),
            |r| r.describe(),
        );
    run.progress.event(&Event::Warning {
        id: run.migration.to_string(),
        message: format!(
            "the oplog no longer reaches back to where the copy of {} started ({reach}): \
             the copy starts over from the first document; a larger oplog lets a stopped \
             copy resume",
            state.collection
        ),
    });
    catalog::drop(t, &state.shadow).await?;
    if state.keep {
        catalog::drop(t, &state.backup).await?;
    }
    let (postponed, swap_at) = (state.postponed, state.swap_at);
    *state = RewriteState::new(run.migration, &state.collection, state.keep);
    (state.postponed, state.swap_at) = (postponed, swap_at);
    save_rewrite_state(t, run.migration, run.fence, state).await
}
