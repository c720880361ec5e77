//! `up` and `down`: taking the lock, running each migration in order and
//! recording it in the ledger.

use crate::throttle::Controls;
use std::time::Instant;

use bson::DateTime;

use crate::error::{MigrateError, Result};
use crate::ledger::{LedgerEntry, State};
use crate::lock::Lease;
use crate::partition;
use crate::progress::{Direction, Event};
use crate::report::{Completed, Report};
use crate::source::Migration;
use crate::update;

use super::migrator::{run_error, Migrator};
use super::options::{DownOptions, DownTarget, UpOptions};
use super::pending::{out_of_order, pending};
use super::python::PyPrepared;
use super::resume;
use super::wasm::Prepared;
use super::work::{One, Work};

impl Migrator {
    /// [`Migrator::up`] without its audit record.
    pub(super) async fn up_unaudited(&self, opts: &UpOptions) -> Result<Report> {
        // Signatures first: a refused migration leaves nothing written.
        let mut this = self.with_signers(self.check_signatures()?);
        let lease = Lease::acquire(&self.target, &self.lock, &self.progress).await?;
        this.on_error = opts.on_error;
        this.controls = Controls::writing(opts.throttle, opts.pause_at);
        let res = this.up_locked(&lease, opts).await;
        let released = lease.release().await;
        let report = res?;
        released?;
        Ok(report)
    }

    pub(super) async fn up_locked(&self, lease: &Lease, opts: &UpOptions) -> Result<Report> {
        let mut entries = self.ledger.entries().await?;
        if self.settle_rollbacks(lease, &entries).await? {
            entries = self.ledger.entries().await?;
        }
        if self.adopt_beanie(lease, &entries).await? {
            entries = self.ledger.entries().await?;
        }
        let todo = pending(&self.migrations, &self.dir, &entries, opts)?;
        // Every migration is judged before the first one runs.
        self.check_policy(&todo, opts).await?;
        let late: Vec<String> = out_of_order(&todo, &entries)
            .into_iter()
            .map(|(m, _)| m.id.clone())
            .collect();
        // Accepted changes: record the new checksum so later runs agree.
        for id in &opts.dangerously_allow_changed {
            if let (Some(e), Some(m)) = (
                entries.iter().find(|e| &e.id == id),
                self.migrations.iter().find(|m| &m.id == id),
            ) {
                if e.state == State::Applied && e.checksum != m.checksum {
                    let mut e = e.clone();
                    e.checksum = m.checksum.clone();
                    self.ledger.write(&e, lease).await?;
                }
            }
        }
        self.progress.event(&Event::RunStarted {
            direction: Direction::Up,
            migrations: todo.iter().map(|m| m.id.clone()).collect(),
        });
        let mut report = Report::default();
        for m in todo {
            let previous = entries.iter().find(|e| e.id == m.id);
            match self
                .run_one(
                    One {
                        lease,
                        m,
                        direction: Direction::Up,
                        work: &Work::forward(m),
                        previous,
                    },
                    opts,
                )
                .await
            {
                Ok(c) => report.completed.push(c),
                Err(e) => return Err(run_error(&m.id, "applying", e, report)),
            }
            if !opts.no_beanie_log {
                self.keep_beanie_log(m, true)
                    .await
                    .map_err(|e| run_error(&m.id, "recording", e, report.clone()))?;
            }
            if late.contains(&m.id) {
                self.mark_out_of_order(&m.id, lease)
                    .await
                    .map_err(|e| run_error(&m.id, "recording", e, report.clone()))?;
            }
        }
        self.progress.event(&Event::RunFinished {
            direction: Direction::Up,
            completed: report.ids().iter().map(|s| s.to_string()).collect(),
        });
        Ok(report)
    }

    /// Records on the entry of `id`, just applied, that it ran out of order.
    async fn mark_out_of_order(&self, id: &str, lease: &Lease) -> Result<()> {
        if let Some(mut e) = self.ledger.get(id).await? {
            e.out_of_order = true;
            self.ledger.write(&e, lease).await?;
        }
        Ok(())
    }

    /// Rolls back applied migrations, newest first, under the lock. Every
    /// chosen migration is checked for a way back before anything runs.
    pub async fn down(&self, target: &DownTarget) -> Result<Report> {
        self.down_with(target, &DownOptions::default()).await
    }

    /// [`Migrator::down_with`] without its audit record.
    pub(super) async fn down_unaudited(
        &self,
        target: &DownTarget,
        opts: &DownOptions,
    ) -> Result<Report> {
        let lease = Lease::acquire(&self.target, &self.lock, &self.progress).await?;
        let mut this = self.clone();
        this.set_aside = opts.set_aside_writes_since_swap;
        let res = this.down_locked(&lease, target, opts).await;
        let released = lease.release().await;
        let report = res?;
        released?;
        Ok(report)
    }

    pub(super) async fn down_locked(
        &self,
        lease: &Lease,
        target: &DownTarget,
        opts: &DownOptions,
    ) -> Result<Report> {
        let entries = self.ledger.entries().await?;
        let todo = self.to_roll_back(&entries, target, &opts.dangerously_allow_changed)?;
        let run_opts = UpOptions {
            dangerously_allow_changed: opts.dangerously_allow_changed.clone(),
            ..UpOptions::default()
        };
        self.progress.event(&Event::RunStarted {
            direction: Direction::Down,
            migrations: todo.iter().map(|(m, _)| m.id.clone()).collect(),
        });
        let mut report = Report::default();
        for (m, work) in &todo {
            let previous = entries.iter().find(|e| e.id == m.id);
            match self
                .run_one(
                    One {
                        lease,
                        m,
                        direction: Direction::Down,
                        work,
                        previous,
                    },
                    &run_opts,
                )
                .await
            {
                Ok(c) => report.completed.push(c),
                Err(e) => return Err(run_error(&m.id, "rolling back", e, report)),
            }
            if !opts.no_beanie_log {
                self.keep_beanie_log(m, false)
                    .await
                    .map_err(|e| run_error(&m.id, "recording", e, report.clone()))?;
            }
        }
        self.progress.event(&Event::RunFinished {
            direction: Direction::Down,
            completed: report.ids().iter().map(|s| s.to_string()).collect(),
        });
        Ok(report)
    }

    /// Runs one migration in one direction and records it in the ledger:
    /// the entry is written before anything changes and again with the
    /// result.
    pub(super) async fn run_one(&self, one: One<'_>, opts: &UpOptions) -> Result<Completed> {
        let started = Instant::now();
        // Workers of a distributed run hold partitions, not the lock.
        match one.direction {
            Direction::Up => partition::check_unshared(&self.target, &one.m.id).await?,
            Direction::Down => {
                let by = format!("rollback by {}", one.lease.owner());
                partition::withdraw(&self.target, &one.m.id, &by, self.lock.ttl).await?
            }
        }
        let mut entry = self.fresh_entry(one, opts);
        let ready = self.prepare(one, opts, &mut entry).await?;
        self.ledger.write(&entry, one.lease).await?;
        let res = self.execute(one, ready, &entry).await;
        let elapsed = started.elapsed();
        // The batches committed their checkpoints into the ledger: start from it.
        let mut entry = self.ledger.get(&one.m.id).await?.unwrap_or(entry);
        entry.finished_at = Some(DateTime::now());
        entry.duration_ms = elapsed.as_millis() as i64;
        match res {
            Ok((counts, quarantined)) => {
                self.succeeded(one, entry, counts, quarantined, elapsed)
                    .await
            }
            Err(err) => self.failed(one, entry, err).await,
        }
    }

    /// The entry a run starts from: a run that stopped part-way resumes from
    /// its checkpoint, with its pre-images; a rollback undoes what the
    /// forward run committed.
    fn fresh_entry(&self, one: One<'_>, opts: &UpOptions) -> LedgerEntry {
        let (m, previous) = (one.m, one.previous);
        let mut entry = LedgerEntry::new(
            &m.id,
            &m.manifest.description,
            m.manifest.kind.as_str(),
            &m.checksum,
        );
        entry.started_at = Some(DateTime::now());
        entry.signer = self.signer_of(&m.id);
        entry.applied_at = previous.and_then(|p| p.applied_at);
        entry.direction = Some(one.direction);
        let uses_files = !matches!(
            one.work,
            Work::Restore { .. } | Work::SwapBack { backward: None, .. }
        );
        resume::carry_over(&mut entry, previous, m, one.direction, opts, uses_files);
        entry.session = previous
            .filter(|p| p.state == State::Running || p.state == State::Failed)
            .and_then(|p| p.session.clone());
        entry
    }

    /// Loads what the run needs (a module, a Python file) and prepares its
    /// writes. A Python file that cannot be read fails the run like a
    /// failing batch: recorded in the ledger with its traceback.
    async fn prepare(
        &self,
        one: One<'_>,
        opts: &UpOptions,
        entry: &mut LedgerEntry,
    ) -> Result<Ready> {
        let (m, direction) = (one.m, one.direction);
        if direction == Direction::Up && opts.cutover.postponed() {
            if let Some(kind) = one.work.in_place_kind() {
                return Err(super::cutover::not_a_rewrite(&m.id, kind));
            }
        }
        match one.work {
            Work::Wasm(spec)
            | Work::SwapBack {
                backward: Some(spec),
                ..
            } => Ok(Ready::Wasm(
                self.prepare_wasm(m, spec, direction, opts, entry).await?,
            )),
            Work::Python(plan) => Ok(Ready::Python(
                self.prepare_python(m, plan.clone(), direction, opts, entry)
                    .await,
            )),
            _ => {
                // A dead run's open transaction holds the entry (its
                // checkpoint): end it before writing the entry (document
                // runs do so when they prepare their writes).
                self.end_dead_session(entry).await;
                Ok(Ready::Nothing)
            }
        }
    }

    /// Does the work; the counts and the number of documents set aside.
    async fn execute(
        &self,
        one: One<'_>,
        ready: Ready,
        entry: &LedgerEntry,
    ) -> Result<(update::Counts, i64)> {
        let m = one.m;
        match (one.work, ready) {
            (Work::Steps(steps), _) => {
                self.started(m, one.direction, one.work, None);
                update::run_steps(&self.target, &m.id, steps, &self.progress)
                    .await
                    .map(|c| (c, 0))
            }
            (Work::Wasm(spec), Ready::Wasm(p)) => self.run_wasm(one, spec, p, entry).await,
            (Work::Restore { collection, backup }, _) => {
                self.started(m, one.direction, one.work, None);
                let n = crate::restore::restore(
                    &self.target,
                    collection,
                    backup,
                    &m.id,
                    &self.progress,
                )
                .await?;
                Ok((
                    update::Counts {
                        matched: n,
                        modified: n,
                    },
                    0,
                ))
            }
            (Work::SwapBack { state, backward }, ready) => {
                let prepared = match ready {
                    Ready::Wasm(p) => Some(p),
                    _ => None,
                };
                self.swap_back(one, state, backward.as_deref(), prepared, entry)
                    .await
            }
            (Work::Python(_), Ready::Python(p)) => self.run_python(one, p?, entry).await,
            (Work::Wasm(_) | Work::Python(_), _) => unreachable!("prepared above"),
        }
    }

    /// Records a run that succeeded and reports it.
    async fn succeeded(
        &self,
        one: One<'_>,
        mut entry: LedgerEntry,
        counts: update::Counts,
        quarantined: i64,
        elapsed: std::time::Duration,
    ) -> Result<Completed> {
        let (m, direction) = (one.m, one.direction);
        entry.matched = counts.matched as i64;
        entry.modified = counts.modified as i64;
        entry.quarantined = quarantined;
        entry.error = None;
        match direction {
            Direction::Up => {
                // The batches saved the checkpoint as they committed: keep
                // their last one (its counts of outputs per collection).
                if let Some(saved) = self.ledger.get(&m.id).await? {
                    if saved.checkpoint.is_some() {
                        entry.checkpoint = saved.checkpoint;
                    }
                }
                entry.state = if quarantined > 0 {
                    State::AppliedWithErrors
                } else {
                    State::Applied
                };
                entry.applied_at = entry.finished_at;
            }
            Direction::Down => {
                entry.state = State::RolledBack;
                entry.checkpoint = None;
                if matches!(one.work, Work::Restore { .. }) {
                    entry.pre_images = None;
                }
                if matches!(one.work, Work::SwapBack { .. }) {
                    entry.rewrite = None;
                }
            }
        }
        self.ledger.write(&entry, one.lease).await?;
        self.progress.event(&Event::MigrationFinished {
            id: m.id.clone(),
            direction,
            matched: counts.matched,
            modified: counts.modified,
            duration_ms: elapsed.as_millis() as u64,
        });
        Ok(Completed {
            id: m.id.clone(),
            direction,
            matched: counts.matched,
            modified: counts.modified,
            duration_ms: elapsed.as_millis() as u64,
        })
    }

    /// Records a run that failed (unless it was refused before anything
    /// changed: then the entry stays as it was) and reports it.
    async fn failed(
        &self,
        one: One<'_>,
        mut entry: LedgerEntry,
        err: MigrateError,
    ) -> Result<Completed> {
        self.progress.event(&Event::MigrationFailed {
            id: one.m.id.clone(),
            direction: one.direction,
            error: err.to_string(),
        });
        if let MigrateError::WritesSinceSwap { .. } = err {
            if let Some(p) = one.previous {
                self.ledger.write(p, one.lease).await?;
            }
            return Err(err);
        }
        entry.state = State::Failed;
        entry.error = Some(match one.direction {
            Direction::Up => err.to_string(),
            Direction::Down => format!("rollback failed: {err}"),
        });
        match self.record_failure(&mut entry, one.lease).await {
            None => Err(err),
            Some(record) => Err(MigrateError::Unrecorded {
                source: Box::new(err),
                record: Box::new(record),
            }),
        }
    }

    /// Writes a failed run's entry. A write that fails (an entry over the
    /// server's 16 MiB, say) is tried again with the error cut short; what
    /// stops even that is returned, to be reported with the failure.
    pub(super) async fn record_failure(
        &self,
        entry: &mut LedgerEntry,
        lease: &Lease,
    ) -> Option<MigrateError> {
        if self.ledger.write(entry, lease).await.is_ok() {
            return None;
        }
        entry.error = entry.error.as_deref().map(crate::text::message);
        self.ledger.write(entry, lease).await.err()
    }

    pub(super) fn started(
        &self,
        m: &Migration,
        direction: Direction,
        work: &Work,
        total: Option<u64>,
    ) {
        self.progress.event(&Event::MigrationStarted {
            id: m.id.clone(),
            kind: m.manifest.kind.to_string(),
            direction,
            steps: work.steps(),
            total,
        });
    }
}

/// What a run prepared before its entry is written.
pub(super) enum Ready {
    /// A module loaded and its writes prepared.
    Wasm(Prepared),
    /// A Python file read and its writes prepared, or why it could not be.
    Python(Result<PyPrepared>),
    /// Nothing to prepare (server-side steps, a restore, a rollback without
    /// a module).
    Nothing,
}
