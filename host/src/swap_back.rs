//! How the migrator rolls a rewrite back (see `crate::rewrite`): settled
//! first (an unfinished one undone, a swapped one completed), then by the
//! module's backward transform in place, or to the originals the rewrite
//! kept; and how `up` first deals with a rollback that stopped part-way.

use super::{Migrator, Prepared, UpOptions, Work};
use crate::error::{MigrateError, Result};
use crate::ledger::{LedgerEntry, State};
use crate::lock::Lease;
use crate::manifest::WasmSpec;
use crate::progress::Direction;
use crate::rewrite::{Down, Interrupted, Phase, RewriteState, Settled};
use crate::source::Migration;
use crate::update::Counts;

impl Migrator {
    /// Rewrites whose run stopped inside the swap window, with no run
    /// working on them now: what happened and what to run.
    pub async fn interrupted(&self) -> Result<Vec<Interrupted>> {
        let entries = self.ledger.entries().await?;
        crate::rewrite::interrupted(&self.target, &entries).await
    }

    /// The way back from a rewrite recorded as `state`.
    pub(super) fn swap_back_work(
        &self,
        m: &Migration,
        spec: &WasmSpec,
        state: RewriteState,
        way_back: Result<()>,
    ) -> Result<Work> {
        let module = self.load_module(m, spec)?;
        let swapped = matches!(state.phase, Phase::Swapped | Phase::Done);
        let backward = match way_back {
            Ok(()) => module.info().backward.then(|| Box::new(spec.clone())),
            // A module changed since the run: its backward transform only
            // with consent; the kept originals (or an unswapped rewrite's
            // source) need none.
            Err(_) if state.keep || !swapped => None,
            Err(e) if module.info().backward => return Err(e),
            Err(_) => None,
        };
        if swapped && backward.is_none() && !state.keep {
            return Err(MigrateError::Irreversible {
                id: m.id.clone(),
                reason: format!(
                    "its module {} has no backward transform and the rewrite kept no originals \
                     (pre_images = false)",
                    spec.module.display()
                ),
            });
        }
        Ok(Work::SwapBack {
            state: Box::new(state),
            backward,
        })
    }

    /// Rolls a rewrite back. `prepared`: the backward run, when the module
    /// has one.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn swap_back(
        &self,
        m: &Migration,
        work: &Work,
        state: &RewriteState,
        backward: Option<&WasmSpec>,
        prepared: Option<Prepared>,
        entry: &LedgerEntry,
        lease: &Lease,
    ) -> Result<(Counts, i64)> {
        let d = Down {
            target: &self.target,
            migration: &m.id,
            fence: lease.token(),
        };
        let mut state = state.clone();
        let settled = crate::rewrite::settle(d, &mut state).await?;
        let restoring = state.phase == Phase::Restoring;
        let n = match (settled, backward, prepared) {
            (Settled::Undone, _, _) => {
                self.started(m, Direction::Down, work, None);
                super::count_matching(&self.target, &state.collection, &bson::Document::new())
                    .await?
            }
            (Settled::Swapped, Some(spec), Some(p)) if !restoring => {
                let done = self
                    .run_wasm(m, spec, Direction::Down, work, p, entry, lease)
                    .await?;
                crate::rewrite::drop_backup(d, &state).await?;
                return Ok(done);
            }
            (Settled::Swapped, _, _) if state.keep || restoring => {
                self.started(m, Direction::Down, work, None);
                crate::rewrite::restore(d, &mut state, self.set_aside).await?
            }
            (Settled::Swapped, _, _) => {
                return Err(MigrateError::Irreversible {
                    id: m.id.clone(),
                    reason:
                        "its module has no backward transform and the rewrite kept no originals"
                            .into(),
                })
            }
        };
        Ok((
            Counts {
                matched: n,
                modified: n,
            },
            0,
        ))
    }

    /// Before `up`: a rollback of a rewrite that stopped part-way is dealt
    /// with first. One putting the originals back is undone when the backup
    /// was not yet renamed over the collection (its fence lifted: the
    /// migration is applied again), finished otherwise; any other is
    /// finished. Returns whether anything was done.
    pub(super) async fn settle_rollbacks(
        &self,
        lease: &Lease,
        entries: &[LedgerEntry],
    ) -> Result<bool> {
        let mut any = false;
        for e in entries {
            let (Some(r), Some(Direction::Down)) = (&e.rewrite, e.direction) else {
                continue;
            };
            if !matches!(e.state, State::Running | State::Failed) {
                continue;
            }
            let Some(m) = self.migrations.iter().find(|m| m.id == e.id) else {
                continue;
            };
            any = true;
            if r.phase == Phase::Restoring {
                self.cancel_restore(lease, e, r).await?;
                continue;
            }
            let crate::manifest::Body::Wasm(spec) = &m.manifest.body else {
                continue;
            };
            let way_back =
                super::resume::check_way_back(e, m, "its module's backward transform", &[]);
            let work = self.swap_back_work(m, spec, r.clone(), way_back)?;
            self.run_one(
                lease,
                m,
                Direction::Down,
                &work,
                Some(e),
                &UpOptions::default(),
            )
            .await
            .map_err(|err| super::run_error(&m.id, "rolling back", err, Default::default()))?;
        }
        Ok(any)
    }

    async fn cancel_restore(&self, lease: &Lease, e: &LedgerEntry, r: &RewriteState) -> Result<()> {
        let mut entry = e.clone();
        // Take the entry over (its fence) before the rewrite state moves.
        self.ledger.write(&entry, lease).await?;
        let d = Down {
            target: &self.target,
            migration: &e.id,
            fence: lease.token(),
        };
        let mut state = r.clone();
        if crate::rewrite::cancel_restore(d, &mut state).await? {
            entry.state = State::Applied;
            entry.direction = Some(Direction::Up);
            entry.error = None;
            entry.rewrite = Some(state);
        } else {
            entry.state = State::RolledBack;
            entry.rewrite = None;
            entry.checkpoint = None;
        }
        self.ledger.write(&entry, lease).await
    }
}

/// What `plan --down-steps` says a rollback of a rewrite does.
pub(super) fn swap_back_plan(id: &str, r: &RewriteState, backward: bool) -> String {
    let c = &r.collection;
    match r.phase {
        Phase::Copy | Phase::CatchUp => format!(
            "drop the unfinished copy {} (and {}); {c} was never replaced",
            r.shadow, r.backup
        ),
        _ if backward => format!(
            "finish the swap if it stopped part-way, then run the backward transform on {c} in \
             place (what the application wrote since the swap is kept)"
        ),
        _ => format!(
            "undo the swap if it stopped before its rename; otherwise put the originals kept in \
             {} back over {c}, refused if the application wrote to {c} since the swap \
             (`--set-aside-writes-since-swap` restores them anyway and keeps the application's \
             versions in {})",
            r.backup,
            crate::rewrite::conflicts_collection(id)
        ),
    }
}
