//! `up --distributed`: every worker goes through the pending migrations in
//! order; a migration that can be split is shared by partitions (see
//! `partitioned` and [`crate::partition`]; a rewrite shares its copy, then
//! one worker catches up and swaps), any other runs once, on the worker
//! that takes the lock first, while the others wait for it.

use std::time::Duration;

use crate::error::{MigrateError, Result};
use crate::ledger::{LedgerEntry, State};
use crate::lock::Lease;
use crate::manifest::{Body, WasmSpec};
use crate::options::{Strategy, TxMode};
use crate::partition::DistributedOptions;
use crate::progress::{Direction, Event};
use crate::report::{Completed, Report};
use crate::source::Migration;

use super::migrator::{run_error, Migrator};
use super::options::UpOptions;
use super::pending::pending;
use super::work::{One, Work};

/// A migration shared by the workers of a distributed run.
#[derive(Clone, Copy)]
pub(super) struct Shared<'m> {
    /// What runs.
    pub(super) spec: &'m WasmSpec,
    /// A copy and swap: the copy is shared, its catch-up and swap run on
    /// the one worker that takes the lock once every partition is copied.
    pub(super) rewrite: bool,
}

/// How often a worker with nothing to claim looks again.
pub(super) const POLL: Duration = Duration::from_millis(500);

impl Migrator {
    /// [`Migrator::up_distributed`] without its audit record.
    pub(super) async fn up_distributed_unaudited(
        &self,
        opts: &UpOptions,
        dist: &DistributedOptions,
    ) -> Result<Report> {
        let mut this = self.with_signers(self.check_signatures()?);
        this.on_error = opts.on_error;
        this.controls = crate::throttle::Controls::writing(opts.throttle, opts.pause_at);
        let entries = self.ledger.entries().await?;
        let todo = pending(&self.migrations, &self.dir, &entries, opts)?;
        self.check_policy(&todo, opts).await?;
        // Refuse what cannot be split before anything runs.
        let mut plan = Vec::new();
        for m in &todo {
            plan.push((*m, this.distributable(m, opts, dist)?));
        }
        self.progress.event(&Event::RunStarted {
            direction: Direction::Up,
            migrations: todo.iter().map(|m| m.id.clone()).collect(),
        });
        let mut report = Report::default();
        for (m, spec) in plan {
            let res = match spec {
                Some(shared) => this.run_partitioned(m, shared, opts, dist).await,
                None => this.run_alone(m, opts, false).await,
            };
            match res {
                Ok(c) => report.completed.push(c),
                Err(e) => return Err(run_error(&m.id, "applying", e, report)),
            }
        }
        self.progress.event(&Event::RunFinished {
            direction: Direction::Up,
            completed: report.ids().iter().map(|s| s.to_string()).collect(),
        });
        Ok(report)
    }

    /// How `m` is shared when its run is shared by partitions (a rewrite
    /// shares its copy); `None` when it runs once, on one worker
    /// (server-side updates, Python); an error when it cannot run in a
    /// distributed run at all.
    pub(super) fn distributable<'m>(
        &self,
        m: &'m Migration,
        opts: &UpOptions,
        dist: &DistributedOptions,
    ) -> Result<Option<Shared<'m>>> {
        let Body::Wasm(spec) = &m.manifest.body else {
            return Ok(None);
        };
        let refuse = |reason: &str| MigrateError::NotDistributable {
            id: m.id.clone(),
            reason: reason.into(),
        };
        if let Some(p) = dist.pinned {
            if p.index >= p.of {
                return Err(MigrateError::PartitionChoice {
                    id: m.id.clone(),
                    index: p.index,
                    of: p.of,
                    reason: "partitions are numbered from 0, so K must be below N".into(),
                });
            }
        }
        let rewrite = opts.strategy.or(spec.strategy) == Some(Strategy::Rewrite);
        match self.tx_mode(opts.transactions.or(spec.transactions)) {
            TxMode::Batch => Ok(Some(Shared { spec, rewrite })),
            TxMode::Migration => Err(refuse(
                "`transactions = \"migration\"` commits the whole migration in one transaction, \
                 which one process holds; run it with `mongoshift up`, or with \
                 `--transactions batch`",
            )),
            _ => Err(refuse(
                "each batch commits with its partition's checkpoint in a transaction, and this \
                 run has none (`--transactions none`, or a standalone server); run it on a \
                 replica set or sharded cluster with transactions, or with `mongoshift up`",
            )),
        }
    }

    /// Runs `m` once, on whichever worker takes the lock first; the others
    /// wait for the lock and then find it applied. `after_partitions`: what
    /// is left of a shared run (a rewrite's catch-up and swap), refused when
    /// another run took the migration back meanwhile.
    pub(super) async fn run_alone(
        &self,
        m: &Migration,
        opts: &UpOptions,
        after_partitions: bool,
    ) -> Result<Completed> {
        let lock = self.lock.clone().wait(Duration::from_secs(24 * 3600));
        let lease = Lease::acquire(&self.target, &lock, &self.progress).await?;
        let res = async {
            let previous = self.ledger.get(&m.id).await?;
            if let Some(done) = previous.as_ref().filter(|e| is_applied(e)) {
                return Ok(completed(done));
            }
            let running =
                |e: &LedgerEntry| e.state == State::Running && e.direction == Some(Direction::Up);
            if after_partitions && !previous.as_ref().is_some_and(running) {
                return Err(taken_back(m, previous.as_ref()));
            }
            let one = One {
                lease: &lease,
                m,
                direction: Direction::Up,
                work: &Work::forward(m),
                previous: previous.as_ref(),
            };
            self.run_one(one, opts).await
        }
        .await;
        let released = lease.release().await;
        let c = res?;
        released?;
        Ok(c)
    }
}

/// The refusal of a worker whose migration another run took back (rolled
/// back, or removed its entry) while it was running.
pub(super) fn taken_back(m: &Migration, e: Option<&LedgerEntry>) -> MigrateError {
    let now = match e {
        Some(e) if e.direction == Some(Direction::Down) => format!("down, {}", e.state.as_str()),
        Some(e) => e.state.as_str().to_string(),
        None => "removed".into(),
    };
    MigrateError::NotDistributable {
        id: m.id.clone(),
        reason: format!(
            "another run took it back while this worker was running (its ledger entry is now \
             {now}); this worker wrote nothing after that"
        ),
    }
}

/// Whether the entry says applied.
pub(super) fn is_applied(e: &LedgerEntry) -> bool {
    e.state.is_applied()
}

/// What the report says of a migration another worker finished.
pub(super) fn completed(e: &LedgerEntry) -> Completed {
    Completed {
        id: e.id.clone(),
        direction: Direction::Up,
        matched: e.matched.max(0) as u64,
        modified: e.modified.max(0) as u64,
        duration_ms: e.duration_ms.max(0) as u64,
    }
}
