//! `up`, `down`, `plan` and `verify` over a fleet.

use super::events::{FleetEvent, FleetProgress};
use super::fleet::Fleet;
use super::outcome::{DatabaseOutcome, DatabaseResult, Tally};
use super::pass::Pass;
use crate::migrate::{DownOptions, DownTarget, Plan, UpOptions, VerifyRow};
use crate::progress::{Direction, Event};
use crate::report::Report;

impl Fleet<'_> {
    /// Applies the pending migrations in every database (see
    /// [`Migrator::up`](crate::Migrator::up)). A failure stays with its
    /// database; the returned outcomes are in the fleet's order.
    pub async fn up(&self, opts: &UpOptions) -> Vec<DatabaseOutcome<Report>> {
        self.run(Direction::Up, |m| async move { m.up(opts).await })
            .await
    }

    /// Rolls back in every database (see
    /// [`Migrator::down_with`](crate::Migrator::down_with)).
    pub async fn down(
        &self,
        target: &DownTarget,
        opts: &DownOptions,
    ) -> Vec<DatabaseOutcome<Report>> {
        self.run(Direction::Down, |m| async move {
            m.down_with(target, opts).await
        })
        .await
    }

    /// The plan of `up` in every database.
    pub async fn plan_up(&self, opts: &UpOptions) -> Vec<DatabaseOutcome<Plan>> {
        self.quietly(|m| async move { m.plan_up(opts).await }).await
    }

    /// The plan of `down` in every database.
    pub async fn plan_down(&self, target: &DownTarget) -> Vec<DatabaseOutcome<Plan>> {
        self.quietly(|m| async move { m.plan_down(target).await })
            .await
    }

    /// Runs `work` with each database's prepared migrator, reporting no
    /// fleet events (plans change nothing).
    async fn quietly<T, W, Fut>(&self, work: W) -> Vec<DatabaseOutcome<T>>
    where
        W: Fn(crate::Migrator) -> Fut,
        Fut: std::future::Future<Output = crate::Result<T>>,
    {
        let pass = Pass::new(self.concurrency(), false, None, self.databases.len());
        pass.run(&self.databases, |db| work(self.migrator(&db)))
            .await
    }

    /// The checksums of every database's applied migrations against disk.
    pub async fn verify(&self) -> Vec<DatabaseOutcome<Vec<VerifyRow>>> {
        let pass = Pass::new(self.read_concurrency(), false, None, self.databases.len());
        pass.run(&self.databases, |db| {
            let m = self.reader(&db);
            async move { m.verify().await }
        })
        .await
    }

    /// Says, for each rewrite a dead run left inside its swap window, what
    /// happened to the collection and what to run, as a single-database
    /// command does before it starts. The run itself reports a ledger it
    /// cannot read.
    async fn warn_interrupted(&self, database: &str, m: &crate::Migrator) {
        for i in m.interrupted().await.unwrap_or_default() {
            self.sink.fleet_event(&FleetEvent::Database {
                database: database.to_string(),
                event: Event::Warning {
                    id: i.id.clone(),
                    message: i.to_string(),
                },
            });
        }
    }

    /// Databases read at once by reports (status, verify): reads are light,
    /// so more than runs.
    pub(super) fn read_concurrency(&self) -> usize {
        self.concurrency().max(32)
    }

    /// Runs `work` over the databases: the canary ones first, when asked,
    /// and the rest only if they all succeeded.
    async fn run<W, Fut>(&self, direction: Direction, work: W) -> Vec<DatabaseOutcome<Report>>
    where
        W: Fn(crate::Migrator) -> Fut,
        Fut: std::future::Future<Output = crate::Result<Report>>,
    {
        let total = self.databases.len();
        let pass = Pass::new(
            self.concurrency(),
            self.options.fail_fast,
            Some(self.sink.clone()),
            total,
        );
        self.sink
            .fleet_event(&FleetEvent::Fleet(FleetProgress::FleetStarted {
                direction,
                databases: total,
                concurrency: pass.concurrency,
            }));
        let canary = self.options.canary.unwrap_or(0).min(total);
        let (first, rest) = self.databases.split_at(canary);
        let work = &work;
        let work = |db: String| async move {
            let m = self.migrator(&db);
            self.warn_interrupted(&db, &m).await;
            work(m).await
        };
        let mut outcomes = pass.run(first, &work).await;
        let canary_failed = outcomes
            .iter()
            .any(|o| !matches!(o.result, DatabaseResult::Done(_)));
        if canary_failed {
            outcomes.extend(pass.skip(rest));
        } else {
            outcomes.extend(pass.run(rest, &work).await);
        }
        let tally = Tally::of(&outcomes);
        self.sink
            .fleet_event(&FleetEvent::Fleet(FleetProgress::FleetFinished {
                finished: tally.done,
                failed: tally.failed,
                skipped: tally.skipped,
            }));
        outcomes
    }
}
