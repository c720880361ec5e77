//! The migrator: compares the migrations on disk with the ledger and runs them
//! under the lock.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use bson::DateTime;
use serde::Serialize;

use crate::error::{MigrateError, Result};
use crate::ledger::{Ledger, LedgerEntry, State};
use crate::lock::{self, Lease, LockOptions, UnlockOutcome};
use crate::manifest::{Body, UpdateStep, WasmSpec};
use crate::pipeline::{self, PipelineOptions};
use crate::wasm::{SandboxLimits, TransformModule};
use crate::progress::{Direction, Event, NoProgress, Progress};
use crate::report::{Completed, Report};
use crate::source::{Migration, MigrationSource};
use crate::target::Target;
use crate::update;

/// Where `down` stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownTarget {
    /// Roll back the last `n` applied migrations.
    Steps(usize),
    /// Roll back every applied migration after this one (it stays applied).
    To(String),
}

/// How `up` runs.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// Stop after this migration (inclusive).
    pub to: Option<String>,
    /// Applied migrations whose changed files are accepted; their new checksum
    /// is recorded. Dangerous: the database keeps what the old file did.
    pub dangerously_allow_changed: Vec<String>,
}

/// A migration's place in `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// On disk, never applied.
    Pending,
    /// As in the ledger.
    Recorded(State),
    /// In the ledger, not on disk.
    MissingOnDisk(State),
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Pending => f.write_str("pending"),
            Status::Recorded(s) => write!(f, "{s}"),
            Status::MissingOnDisk(s) => write!(f, "{s} (missing on disk)"),
        }
    }
}

/// One row of `status`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusRow {
    /// The migration.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// Where it stands.
    pub status: Status,
    /// Its description.
    pub description: String,
    /// When it was applied, RFC 3339.
    pub applied_at: Option<String>,
    /// Documents matched by its last run.
    pub matched: Option<i64>,
    /// Documents modified by its last run.
    pub modified: Option<i64>,
    /// Wall time of its last run in milliseconds.
    pub duration_ms: Option<i64>,
    /// Whether the file on disk matches the checksum in the ledger (`None`
    /// when not recorded or not on disk).
    pub checksum_ok: Option<bool>,
    /// The last error.
    pub error: Option<String>,
}

/// One migration in a plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedMigration {
    /// The migration.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// Its description.
    pub description: String,
    /// Its state now.
    pub status: Status,
    /// Its steps, with the documents each would touch now.
    pub steps: Vec<PlannedStep>,
}

/// One step in a plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedStep {
    /// What it does.
    pub description: String,
    /// Documents it would touch now, for document steps.
    pub matching: Option<u64>,
}

/// What `up` or `down` would do.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Up or down.
    pub direction: Direction,
    /// What the run guarantees on this deployment.
    pub guarantee: String,
    /// The migrations, in the order they would run.
    pub migrations: Vec<PlannedMigration>,
}

/// One row of `verify`.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyRow {
    /// The migration.
    pub id: String,
    /// Its ledger state.
    pub state: State,
    /// The checksum in the ledger.
    pub recorded: String,
    /// The checksum on disk, `None` when missing.
    pub on_disk: Option<String>,
}

impl VerifyRow {
    /// Whether disk and ledger agree.
    pub fn ok(&self) -> bool {
        self.on_disk.as_deref() == Some(self.recorded.as_str())
    }
}

/// What a migration does in one direction.
#[derive(Debug, Clone)]
enum Work {
    Steps(Vec<UpdateStep>),
    Wasm(WasmSpec),
}

impl Work {
    fn forward(m: &Migration) -> Work {
        match &m.manifest.body {
            Body::Update(b) => Work::Steps(b.forward.clone()),
            Body::Wasm(spec) => Work::Wasm(spec.clone()),
        }
    }

    fn steps(&self) -> usize {
        match self {
            Work::Steps(s) => s.len(),
            Work::Wasm(_) => 1,
        }
    }
}

/// Runs migrations from a source against a target.
#[derive(Clone)]
pub struct Migrator {
    dir: PathBuf,
    migrations: Vec<Migration>,
    target: Target,
    ledger: Ledger,
    lock: LockOptions,
    progress: Progress,
}

impl std::fmt::Debug for Migrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Migrator").field("dir", &self.dir).field("migrations", &self.migrations.len()).finish()
    }
}

impl Migrator {
    /// Loads the migrations of `source` for `target`.
    pub fn new(source: &MigrationSource, target: Target) -> Result<Migrator> {
        let migrations = source.load()?;
        Ok(Migrator {
            dir: source.dir().to_path_buf(),
            migrations,
            ledger: Ledger::new(&target),
            target,
            lock: LockOptions::default(),
            progress: Arc::new(NoProgress),
        })
    }

    /// Sends progress events to `progress`.
    pub fn progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Sets how the lock is taken.
    pub fn lock_options(mut self, lock: LockOptions) -> Self {
        self.lock = lock;
        self
    }

    /// The migrations on disk, in order.
    pub fn migrations(&self) -> &[Migration] {
        &self.migrations
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Every migration on disk or in the ledger, in order.
    pub async fn status(&self) -> Result<Vec<StatusRow>> {
        let entries = self.ledger.entries().await?;
        let by_id: HashMap<&str, &LedgerEntry> = entries.iter().map(|e| (e.id.as_str(), e)).collect();
        let mut rows: Vec<StatusRow> = self
            .migrations
            .iter()
            .map(|m| match by_id.get(m.id.as_str()) {
                Some(e) => row(e, Status::Recorded(e.state), Some(e.checksum == m.checksum)),
                None => StatusRow {
                    id: m.id.clone(),
                    kind: m.manifest.kind.to_string(),
                    status: Status::Pending,
                    description: m.manifest.description.clone(),
                    applied_at: None,
                    matched: None,
                    modified: None,
                    duration_ms: None,
                    checksum_ok: None,
                    error: None,
                },
            })
            .collect();
        for e in &entries {
            if !self.migrations.iter().any(|m| m.id == e.id) {
                rows.push(row(e, Status::MissingOnDisk(e.state), None));
            }
        }
        rows.sort_by(|a, b| order_key(&a.id).cmp(&order_key(&b.id)));
        Ok(rows)
    }

    /// Checks the checksums of recorded migrations against disk.
    pub async fn verify(&self) -> Result<Vec<VerifyRow>> {
        let entries = self.ledger.entries().await?;
        Ok(entries
            .into_iter()
            .filter(|e| e.state != State::RolledBack)
            .map(|e| VerifyRow {
                on_disk: self.migrations.iter().find(|m| m.id == e.id).map(|m| m.checksum.clone()),
                id: e.id,
                state: e.state,
                recorded: e.checksum,
            })
            .collect())
    }

    /// What `up` would do now, with the documents each step would touch.
    pub async fn plan_up(&self, opts: &UpOptions) -> Result<Plan> {
        let entries = self.ledger.entries().await?;
        let todo = self.pending(&entries, opts)?;
        self.plan(Direction::Up, &entries, todo.iter().map(|m| (*m, Work::forward(m))).collect()).await
    }

    /// What `down` would do now.
    pub async fn plan_down(&self, target: &DownTarget) -> Result<Plan> {
        let entries = self.ledger.entries().await?;
        let todo = self.to_roll_back(&entries, target)?;
        self.plan(Direction::Down, &entries, todo).await
    }

    async fn plan(&self, direction: Direction, entries: &[LedgerEntry], todo: Vec<(&Migration, Work)>) -> Result<Plan> {
        let mut migrations = Vec::new();
        for (m, work) in todo {
            let steps: Vec<PlannedStep> = match &work {
                Work::Steps(steps) => {
                    let counts = update::count_steps(&self.target, steps).await?;
                    steps.iter().zip(counts).map(|(s, n)| PlannedStep { description: s.describe(), matching: n }).collect()
                }
                Work::Wasm(spec) => vec![PlannedStep {
                    description: format!(
                        "wasm transform {} ({}) on {} where {}, batches of {} on {} thread(s)",
                        spec.module.display(),
                        if direction == Direction::Up { "forward" } else { "backward" },
                        spec.collection,
                        spec.filter,
                        spec.batch_size,
                        PipelineOptions::new(spec.batch_size, spec.threads).threads
                    ),
                    matching: Some(self.count(spec).await?),
                }],
            };
            migrations.push(PlannedMigration {
                id: m.id.clone(),
                kind: m.manifest.kind.to_string(),
                description: m.manifest.description.clone(),
                status: entries.iter().find(|e| e.id == m.id).map_or(Status::Pending, |e| Status::Recorded(e.state)),
                steps,
            });
        }
        Ok(Plan { direction, guarantee: self.guarantee(), migrations })
    }

    fn guarantee(&self) -> String {
        let tx = if self.target.supports_transactions() {
            "ledger writes are fenced by the lock in transactions"
        } else {
            "standalone server: no transactions; ledger writes are fenced by token only"
        };
        format!(
            "update migrations run as server-side operations, each atomic per document; a run that dies between steps is recorded as failed or running and its steps rerun on the next `up` ({tx})"
        )
    }

    /// Checks the ledger against disk and returns the migrations `up` applies.
    fn pending<'a>(&'a self, entries: &[LedgerEntry], opts: &UpOptions) -> Result<Vec<&'a Migration>> {
        for e in entries {
            let on_disk = self.migrations.iter().find(|m| m.id == e.id);
            match on_disk {
                None if e.state != State::RolledBack => {
                    return Err(MigrateError::MissingOnDisk { id: e.id.clone(), state: e.state.to_string(), path: self.dir.clone() })
                }
                Some(m) if e.state == State::Applied && m.checksum != e.checksum && !opts.dangerously_allow_changed.contains(&e.id) => {
                    return Err(MigrateError::ChecksumMismatch { id: e.id.clone(), recorded: e.checksum.clone(), on_disk: m.checksum.clone() })
                }
                _ => {}
            }
        }
        let end = match &opts.to {
            Some(to) => self
                .migrations
                .iter()
                .position(|m| &m.id == to)
                .ok_or_else(|| MigrateError::UnknownMigration { id: to.clone(), path: self.dir.clone() })?,
            None => self.migrations.len().saturating_sub(1),
        };
        Ok(self
            .migrations
            .iter()
            .take(end + 1)
            .filter(|m| entries.iter().find(|e| e.id == m.id).is_none_or(|e| e.state != State::Applied))
            .collect())
    }

    /// The migrations `down` rolls back, newest first, each with its backward steps.
    fn to_roll_back<'a>(&'a self, entries: &[LedgerEntry], target: &DownTarget) -> Result<Vec<(&'a Migration, Work)>> {
        let done: Vec<&LedgerEntry> = {
            let mut v: Vec<&LedgerEntry> = entries
                .iter()
                .filter(|e| matches!(e.state, State::Applied | State::Failed | State::Running))
                .collect();
            v.sort_by(|a, b| order_key(&b.id).cmp(&order_key(&a.id)));
            v
        };
        let chosen: Vec<&LedgerEntry> = match target {
            DownTarget::Steps(n) => done.into_iter().take(*n).collect(),
            DownTarget::To(id) => {
                let known = self.migrations.iter().any(|m| &m.id == id) || entries.iter().any(|e| &e.id == id);
                if !known {
                    return Err(MigrateError::UnknownMigration { id: id.clone(), path: self.dir.clone() });
                }
                done.into_iter().filter(|e| order_key(&e.id) > order_key(id)).collect()
            }
        };
        chosen
            .into_iter()
            .map(|e| {
                let m = self.migrations.iter().find(|m| m.id == e.id).ok_or_else(|| MigrateError::MissingOnDisk {
                    id: e.id.clone(),
                    state: e.state.to_string(),
                    path: self.dir.clone(),
                })?;
                if m.checksum != e.checksum {
                    return Err(MigrateError::ChecksumMismatch { id: e.id.clone(), recorded: e.checksum.clone(), on_disk: m.checksum.clone() });
                }
                let work = match &m.manifest.body {
                    Body::Update(b) => Work::Steps(
                        b.backward.clone().map_err(|reason| MigrateError::Irreversible { id: m.id.clone(), reason })?,
                    ),
                    Body::Wasm(spec) => {
                        let module = self.load_module(m, spec)?;
                        if !module.info().backward {
                            return Err(MigrateError::Irreversible {
                                id: m.id.clone(),
                                reason: format!("its module {} has no backward transform (describe says backward = false)", spec.module.display()),
                            });
                        }
                        Work::Wasm(spec.clone())
                    }
                };
                Ok((m, work))
            })
            .collect()
    }

    /// Applies pending migrations in order, under the lock.
    pub async fn up(&self, opts: &UpOptions) -> Result<Report> {
        let lease = Lease::acquire(&self.target, &self.lock, &self.progress).await?;
        let res = self.up_locked(&lease, opts).await;
        let released = lease.release().await;
        let report = res?;
        released?;
        Ok(report)
    }

    async fn up_locked(&self, lease: &Lease, opts: &UpOptions) -> Result<Report> {
        let entries = self.ledger.entries().await?;
        let todo = self.pending(&entries, opts)?;
        // Accepted changes: record the new checksum so later runs agree.
        for id in &opts.dangerously_allow_changed {
            if let (Some(e), Some(m)) = (entries.iter().find(|e| &e.id == id), self.migrations.iter().find(|m| &m.id == id)) {
                if e.state == State::Applied && e.checksum != m.checksum {
                    let mut e = e.clone();
                    e.checksum = m.checksum.clone();
                    self.ledger.write(&e, lease).await?;
                }
            }
        }
        self.progress.event(&Event::RunStarted { direction: Direction::Up, migrations: todo.iter().map(|m| m.id.clone()).collect() });
        let mut report = Report::default();
        for m in todo {
            let previous = entries.iter().find(|e| e.id == m.id);
            match self.run_one(lease, m, Direction::Up, &Work::forward(m), previous).await {
                Ok(c) => report.completed.push(c),
                Err(e) => return Err(run_error(&m.id, "applying", e, report)),
            }
        }
        self.progress.event(&Event::RunFinished { direction: Direction::Up, completed: report.ids().iter().map(|s| s.to_string()).collect() });
        Ok(report)
    }

    /// Rolls back applied migrations, newest first, under the lock. Every
    /// chosen migration is checked for a way back before anything runs.
    pub async fn down(&self, target: &DownTarget) -> Result<Report> {
        let lease = Lease::acquire(&self.target, &self.lock, &self.progress).await?;
        let res = self.down_locked(&lease, target).await;
        let released = lease.release().await;
        let report = res?;
        released?;
        Ok(report)
    }

    async fn down_locked(&self, lease: &Lease, target: &DownTarget) -> Result<Report> {
        let entries = self.ledger.entries().await?;
        let todo = self.to_roll_back(&entries, target)?;
        self.progress.event(&Event::RunStarted { direction: Direction::Down, migrations: todo.iter().map(|(m, _)| m.id.clone()).collect() });
        let mut report = Report::default();
        for (m, work) in &todo {
            let previous = entries.iter().find(|e| e.id == m.id);
            match self.run_one(lease, m, Direction::Down, work, previous).await {
                Ok(c) => report.completed.push(c),
                Err(e) => return Err(run_error(&m.id, "rolling back", e, report)),
            }
        }
        self.progress.event(&Event::RunFinished { direction: Direction::Down, completed: report.ids().iter().map(|s| s.to_string()).collect() });
        Ok(report)
    }

    async fn run_one(
        &self,
        lease: &Lease,
        m: &Migration,
        direction: Direction,
        work: &Work,
        previous: Option<&LedgerEntry>,
    ) -> Result<Completed> {
        let started = Instant::now();
        let now = DateTime::now();
        let mut entry = LedgerEntry {
            id: m.id.clone(),
            description: m.manifest.description.clone(),
            kind: m.manifest.kind.to_string(),
            checksum: m.checksum.clone(),
            state: State::Running,
            started_at: Some(now),
            finished_at: None,
            applied_at: previous.and_then(|p| p.applied_at),
            matched: 0,
            modified: 0,
            duration_ms: 0,
            error: None,
            fence: 0,
            run_by: String::new(),
            tool_version: String::new(),
        };
        self.ledger.write(&entry, lease).await?;
        let res = match work {
            Work::Steps(steps) => {
                self.started(m, direction, work, None);
                update::run_steps(&self.target, &m.id, steps, &self.progress).await
            }
            Work::Wasm(spec) => self.run_wasm(m, spec, direction, work).await,
        };
        let elapsed = started.elapsed();
        entry.finished_at = Some(DateTime::now());
        entry.duration_ms = elapsed.as_millis() as i64;
        match res {
            Ok(counts) => {
                entry.matched = counts.matched as i64;
                entry.modified = counts.modified as i64;
                match direction {
                    Direction::Up => {
                        entry.state = State::Applied;
                        entry.applied_at = entry.finished_at;
                    }
                    Direction::Down => entry.state = State::RolledBack,
                }
                self.ledger.write(&entry, lease).await?;
                self.progress.event(&Event::MigrationFinished {
                    id: m.id.clone(),
                    direction,
                    matched: counts.matched,
                    modified: counts.modified,
                    duration_ms: elapsed.as_millis() as u64,
                });
                Ok(Completed { id: m.id.clone(), direction, matched: counts.matched, modified: counts.modified, duration_ms: elapsed.as_millis() as u64 })
            }
            Err(err) => {
                entry.state = State::Failed;
                entry.error = Some(match direction {
                    Direction::Up => err.to_string(),
                    Direction::Down => format!("rollback failed: {err}"),
                });
                self.progress.event(&Event::MigrationFailed { id: m.id.clone(), direction, error: err.to_string() });
                // Record the failure; if even that fails, the original error matters more.
                let _ = self.ledger.write(&entry, lease).await;
                Err(err)
            }
        }
    }

    fn started(&self, m: &Migration, direction: Direction, work: &Work, total: Option<u64>) {
        self.progress.event(&Event::MigrationStarted {
            id: m.id.clone(),
            kind: m.manifest.kind.to_string(),
            direction,
            steps: work.steps(),
            total,
        });
    }

    fn load_module(&self, m: &Migration, spec: &WasmSpec) -> Result<TransformModule> {
        let path = m.base_dir.join(&spec.module);
        let limits = SandboxLimits::default()
            .deadline(std::time::Duration::from_millis(spec.deadline_ms))
            .memory_bytes(spec.memory_limit_mb << 20);
        TransformModule::load(&path, limits).map_err(|source| MigrateError::Module { migration: m.id.clone(), source })
    }

    async fn count(&self, spec: &WasmSpec) -> Result<u64> {
        self.target
            .db()
            .collection::<bson::Document>(&spec.collection)
            .count_documents(spec.filter.clone())
            .await
            .map_err(|e| MigrateError::db(format!("cannot count documents in {}", spec.collection), e))
    }

    async fn run_wasm(&self, m: &Migration, spec: &WasmSpec, direction: Direction, work: &Work) -> Result<update::Counts> {
        let module = {
            let (this, m2, spec2) = (self.clone(), m.clone(), spec.clone());
            tokio::task::spawn_blocking(move || this.load_module(&m2, &spec2))
                .await
                .map_err(|e| MigrateError::Database { context: "module loading failed".into(), message: e.to_string(), labels: vec![] })??
        };
        if direction == Direction::Down && !module.info().backward {
            return Err(MigrateError::Irreversible { id: m.id.clone(), reason: "its module has no backward transform".into() });
        }
        let total = self.count(spec).await?;
        self.started(m, direction, work, Some(total));
        let counts = pipeline::run(pipeline::Job {
            target: &self.target,
            migration: &m.id,
            collection: &spec.collection,
            filter: spec.filter.clone(),
            direction,
            module,
            options: PipelineOptions::new(spec.batch_size, spec.threads),
            total: Some(total),
            progress: &self.progress,
        })
        .await?;
        Ok(update::Counts { matched: counts.read, modified: counts.replaced + counts.deleted })
    }

    /// Clears a lease left by a dead run (see [`lock::unlock`]).
    pub async fn unlock(&self, force: bool) -> Result<UnlockOutcome> {
        lock::unlock(&self.target, force).await
    }
}

fn run_error(id: &str, verb: &'static str, e: MigrateError, report: Report) -> MigrateError {
    MigrateError::Run { id: id.into(), verb, source: Box::new(e), report: Box::new(report) }
}

fn row(e: &LedgerEntry, status: Status, checksum_ok: Option<bool>) -> StatusRow {
    let recorded = e.state != State::Running;
    StatusRow {
        id: e.id.clone(),
        kind: e.kind.clone(),
        status,
        description: e.description.clone(),
        applied_at: e.applied_at.and_then(|t| t.try_to_rfc3339_string().ok()),
        matched: recorded.then_some(e.matched),
        modified: recorded.then_some(e.modified),
        duration_ms: recorded.then_some(e.duration_ms),
        checksum_ok,
        error: e.error.clone(),
    }
}

/// Orders ids by numeric version, then by name.
fn order_key(id: &str) -> (usize, String, String) {
    let (v, rest) = id.split_once('_').unwrap_or((id, ""));
    let v = v.trim_start_matches('0');
    (v.len(), v.to_string(), rest.to_string())
}
