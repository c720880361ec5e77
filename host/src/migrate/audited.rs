//! Every command that changes a deployment, recorded in its audit trail
//! (see [`crate::audit`]): `up`, `down`, `up --distributed`, `swap`,
//! `pause`, `resume` and `baseline` all run through [`Migrator::audited`], which the
//! command line, the Python package and fleets share.
//!
//! The record is written before the command takes the lock (so a refusal,
//! the lock held by another run included, is recorded), renewed every third
//! of the lease while it runs, and rewritten when it ends with what it
//! changed and how it ended. A record that cannot be written does not stop
//! the run: the run is what the operator asked for (a `down` in an incident
//! must not wait on the audit collection), so the failure is reported as a
//! warning event, which the command line prints on stderr.

use std::future::Future;
use std::sync::{Arc, Mutex};

use bson::{doc, DateTime};

use crate::audit::{change_of, AuditError, AuditLog, AuditRecord, AuditStatus, AUDIT_COLLECTION};
use crate::error::{MigrateError, Result};
use crate::ledger::LedgerEntry;
use crate::progress::{Direction, Event, ProgressSink};
use crate::report::Report;

use super::migrator::Migrator;
use super::options::{DownOptions, DownTarget, UpOptions};
use crate::partition::DistributedOptions;

/// The most bytes of the cause a warning quotes.
const MAX_WARNING_CAUSE_BYTES: usize = 200;

/// What a command returns that the audit trail reads.
pub(super) trait Ran {
    /// The report of what ran, if the command runs migrations.
    fn report(&self) -> Option<&Report>;
}

impl Ran for Report {
    fn report(&self) -> Option<&Report> {
        Some(self)
    }
}

impl Ran for Vec<String> {
    fn report(&self) -> Option<&Report> {
        None
    }
}

impl Ran for LedgerEntry {
    fn report(&self) -> Option<&Report> {
        None
    }
}

/// Remembers the migrations a run announces, and records them at once (a
/// run killed later still names them).
struct Announced {
    ids: Mutex<Vec<String>>,
    log: AuditLog,
    record: bson::oid::ObjectId,
}

impl ProgressSink for Announced {
    fn event(&self, event: &Event) {
        let Event::RunStarted { migrations, .. } = event else {
            return;
        };
        *self.ids.lock().unwrap_or_else(|p| p.into_inner()) = migrations.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (log, id, ids) = (self.log.clone(), self.record, migrations.clone());
            // Best effort: the record is written whole when the run ends.
            rt.spawn(async move {
                let _ = log.set(id, doc! { "migrations": ids }).await;
            });
        }
    }
}

impl Migrator {
    /// Applies pending migrations in order, under the lock.
    pub async fn up(&self, opts: &UpOptions) -> Result<Report> {
        self.audited(
            "up",
            Vec::new(),
            |m| async move { m.up_unaudited(opts).await },
        )
        .await
    }

    /// [`Migrator::down`], with options.
    pub async fn down_with(&self, target: &DownTarget, opts: &DownOptions) -> Result<Report> {
        self.audited("down", Vec::new(), |m| async move {
            m.down_unaudited(target, opts).await
        })
        .await
    }

    /// Applies pending migrations in order as one worker of a distributed
    /// run: migrations that can be split are shared with every other worker
    /// running this on the same database, partition by partition; the next
    /// migration starts only once the current one is applied.
    pub async fn up_distributed(
        &self,
        opts: &UpOptions,
        dist: &DistributedOptions,
    ) -> Result<Report> {
        self.audited("up --distributed", Vec::new(), |m| async move {
            m.up_distributed_unaudited(opts, dist).await
        })
        .await
    }

    /// Asks the rewrite `id`, waiting for its cut-over, to swap: its run
    /// drains the change stream and swaps (fence, last catch-up, rename)
    /// within about a second. Refused, naming its state, when no run of it
    /// waits for a swap; nothing is written then.
    pub async fn swap(&self, id: &str) -> Result<LedgerEntry> {
        self.audited("swap", vec![id.to_string()], |m| async move {
            m.swap_unaudited(id).await
        })
        .await
    }

    /// Pauses the running migration `id`: its run commits the batch it is
    /// committing and waits, holding its lock, until [`Migrator::resume`].
    /// Refused when no run is applying it.
    pub async fn pause(&self, id: &str) -> Result<LedgerEntry> {
        self.audited("pause", vec![id.to_string()], |m| async move {
            m.pause_unaudited(id).await
        })
        .await
    }

    /// Lifts the pause of migration `id`; its run goes on. Refused when it
    /// is not paused.
    pub async fn resume(&self, id: &str) -> Result<LedgerEntry> {
        self.audited("resume", vec![id.to_string()], |m| async move {
            m.resume_unaudited(id).await
        })
        .await
    }

    /// Runs `command` (named `name`, about `migrations` when it names them)
    /// with its audit record: written first, renewed while it runs, and
    /// completed with its outcome.
    pub(super) async fn audited<T, F, Fut>(
        &self,
        name: &str,
        migrations: Vec<String>,
        command: F,
    ) -> Result<T>
    where
        T: Ran,
        F: FnOnce(Migrator) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let log = AuditLog::new(&self.target);
        let ttl = self.lock.ttl;
        let mut record = AuditRecord::started(
            name,
            self.target.db().name(),
            self.invocation.clone(),
            i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX),
        );
        record.migrations = migrations;
        if let Err(e) = log.write(&record).await {
            self.audit_warning("record the start of this run", &e);
        }
        let heartbeat = {
            let (log, id) = (log.clone(), record.id);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(ttl / 3).await;
                    let _ = log.alive(id).await;
                }
            })
        };
        let announced = Arc::new(Announced {
            ids: Mutex::new(Vec::new()),
            log: log.clone(),
            record: record.id,
        });
        let res = command(self.clone().also_progress(announced.clone())).await;
        heartbeat.abort();
        let announced = announced
            .ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let started = !announced.is_empty();
        if started {
            record.migrations = announced;
        }
        self.ended(&mut record, &res, started).await;
        record.signer = self.signers_of(&record.migrations);
        record.policy_hash = self.policy_in_force().map(|p| p.sha256.clone());
        if let Err(e) = log.write(&record).await {
            self.audit_warning("record the end of this run", &e);
        }
        res
    }

    /// Fills in how the run ended and what it changed; `started`: whether
    /// it got as far as announcing the migrations it runs.
    async fn ended<T: Ran>(&self, record: &mut AuditRecord, res: &Result<T>, started: bool) {
        record.finished_at = Some(DateTime::now());
        record.alive_at = DateTime::now();
        let (report, failed) = match res {
            Ok(t) => (t.report(), None),
            Err(e) => (e.report(), failed_id(e)),
        };
        record.status = match res {
            Ok(_) => AuditStatus::Ok,
            Err(MigrateError::Run { .. }) => AuditStatus::Failed,
            // Past the announcement (the lock lost at its release, say).
            Err(_) if started => AuditStatus::Failed,
            Err(_) => AuditStatus::Refused,
        };
        record.error = res.as_ref().err().map(AuditError::of);
        // A refusal names the migration it is about.
        if let Some(id) = res.as_ref().err().and_then(MigrateError::migration) {
            if !record.migrations.iter().any(|m| m == id) {
                record.migrations.push(id.to_string());
            }
        }
        let mut ran: Vec<(String, Direction)> = report
            .map(|r| {
                r.completed
                    .iter()
                    .map(|c| (c.id.clone(), c.direction))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(id) = failed {
            let direction = match record.command.as_str() {
                "down" => Direction::Down,
                _ => Direction::Up,
            };
            ran.push((id, direction));
        }
        for (id, direction) in ran {
            if !record.migrations.contains(&id) {
                record.migrations.push(id.clone());
            }
            match self.ledger.get(&id).await {
                Ok(Some(entry)) => {
                    let m = self.migrations.iter().find(|m| m.id == id);
                    record.changes.push(change_of(&entry, m, direction));
                }
                Ok(None) => {}
                Err(e) => self.audit_warning("read what this run changed", &e),
            }
        }
    }

    /// Reports that the audit trail could not be written or read.
    fn audit_warning(&self, what: &str, err: &MigrateError) {
        // A server's refusal may quote the whole command sent: keep the start.
        let why = crate::text::bounded(err.to_string().as_bytes(), MAX_WARNING_CAUSE_BYTES);
        self.progress.event(&Event::Warning {
            id: AUDIT_COLLECTION.to_string(),
            message: format!(
                "cannot {what} in the audit trail ({why}); the run goes on without it"
            ),
        });
    }
}

/// The migration a failed run stopped at.
fn failed_id(e: &MigrateError) -> Option<String> {
    match e {
        MigrateError::Run { id, .. } => Some(id.clone()),
        _ => None,
    }
}
