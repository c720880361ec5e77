//! The fleet's status: one row per database and one per migration.

use serde::Serialize;

use super::fleet::Fleet;
use super::outcome::{DatabaseOutcome, DatabaseResult};
use super::pass::Pass;
use crate::ledger::State;
use crate::lock;
use crate::migrate::{Status, StatusRow};

/// Where one database stands.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseStatus {
    /// The database.
    pub database: String,
    /// Migrations applied (with or without set-aside documents).
    pub applied: usize,
    /// Migrations on disk not applied (never run, or rolled back).
    pub pending: usize,
    /// Migrations whose last attempt failed.
    pub failed: usize,
    /// Migrations a run is applying, or died applying.
    pub running: usize,
    /// The newest applied migration.
    pub newest_applied: Option<String>,
    /// The holder of the database's lock (`host:pid`), when held.
    pub lock_holder: Option<String>,
    /// Why the database could not be read, when it could not.
    pub error: Option<String>,
}

/// Where one migration stands across the fleet: how many databases have it
/// in each state.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationStatus {
    /// The migration.
    pub id: String,
    /// Databases where it is applied.
    pub applied: usize,
    /// Databases where it is pending.
    pub pending: usize,
    /// Databases where it failed.
    pub failed: usize,
    /// Databases where it is running (or a run died in it).
    pub running: usize,
}

/// The fleet's status.
#[derive(Debug, Clone, Serialize)]
pub struct FleetStatus {
    /// One row per database, in the fleet's order.
    pub databases: Vec<DatabaseStatus>,
    /// One row per migration on disk, in order.
    pub migrations: Vec<MigrationStatus>,
}

impl Fleet<'_> {
    /// Reads every database's ledger and lock, concurrently.
    pub async fn status(&self) -> FleetStatus {
        let pass = Pass::new(self.read_concurrency(), false, None, self.databases.len());
        let outcomes = pass
            .run(&self.databases, |db| {
                let m = self.reader(&db);
                async move {
                    let rows = m.status().await?;
                    let held = lock::state(m.target()).await?;
                    let holder = held.filter(|s| s.is_live()).and_then(|s| s.owner);
                    Ok((rows, holder.map(|o| o.to_string())))
                }
            })
            .await;
        let mut migrations: Vec<MigrationStatus> = self
            .base
            .migrations()
            .iter()
            .map(|m| MigrationStatus {
                id: m.id.clone(),
                applied: 0,
                pending: 0,
                failed: 0,
                running: 0,
            })
            .collect();
        let databases = outcomes
            .into_iter()
            .map(|o| database_row(o, &mut migrations))
            .collect();
        FleetStatus {
            databases,
            migrations,
        }
    }
}

type Read = (Vec<StatusRow>, Option<String>);

fn database_row(o: DatabaseOutcome<Read>, migrations: &mut [MigrationStatus]) -> DatabaseStatus {
    let mut row = DatabaseStatus {
        database: o.database,
        applied: 0,
        pending: 0,
        failed: 0,
        running: 0,
        newest_applied: None,
        lock_holder: None,
        error: None,
    };
    let (rows, holder) = match o.result {
        DatabaseResult::Done(r) => r,
        DatabaseResult::Failed(e) => {
            row.error = Some(e.to_string());
            return row;
        }
        DatabaseResult::Skipped => return row,
    };
    row.lock_holder = holder;
    // Rows come in migration order; migrations missing on disk count in
    // the database's row but have no migration row.
    for r in rows {
        let state = match r.status {
            Status::Pending => State::RolledBack,
            Status::Recorded(s) => s,
            Status::MissingOnDisk(s) => s,
        };
        let count = migrations.iter_mut().find(|m| m.id == r.id);
        let (db_n, m_n): (&mut usize, Option<&mut usize>) = match state {
            State::Applied | State::AppliedWithErrors => {
                row.newest_applied = Some(r.id.clone());
                (&mut row.applied, count.map(|c| &mut c.applied))
            }
            State::Failed => (&mut row.failed, count.map(|c| &mut c.failed)),
            State::Running => (&mut row.running, count.map(|c| &mut c.running)),
            // Never applied, or rolled back; not counted when gone from disk.
            _ if matches!(r.status, Status::MissingOnDisk(_)) => continue,
            _ => (&mut row.pending, count.map(|c| &mut c.pending)),
        };
        *db_n += 1;
        if let Some(n) = m_n {
            *n += 1;
        }
    }
    row
}
