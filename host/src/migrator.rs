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
use crate::pipeline::{self, PipelineOptions, Transformer};
use crate::progress::{Direction, Event, NoProgress, Progress};
use crate::python::{PythonPlan, PythonRuntime};
use crate::report::{Completed, Report};
use crate::source::{Migration, MigrationSource};
use crate::target::Target;
use crate::update;
use crate::wasm::{CompileLimits, SandboxLimits, TransformModule};
use crate::writer::{Destination, Strategy, TxMode, UpdateForm, WriteOptions};

/// Where `down` stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownTarget {
    /// Roll back the last `n` applied migrations.
    Steps(usize),
    /// Roll back every applied migration after this one (it stays applied).
    To(String),
}

/// How `down` runs, besides where it stops.
#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    /// Migrations whose files changed since they ran, to roll back anyway by
    /// the way back in the files on disk (a backward transform, backward
    /// steps), which may not undo what the earlier files did. Pre-images and
    /// a rewrite's backup need no such consent.
    pub dangerously_allow_changed: Vec<String>,
    /// A rewrite rolled back to its originals: restore them even though the
    /// application wrote to the rewritten collection since the swap, keeping
    /// the application's versions (and tombstones of its deletes) in
    /// `mongoshift_conflicts_<id>`. Without it such a rollback is refused.
    pub set_aside_writes_since_swap: bool,
}

/// How `up` runs.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// Stop after this migration (inclusive).
    pub to: Option<String>,
    /// Overrides the manifests' write strategy.
    pub strategy: Option<Strategy>,
    /// Overrides how in-place runs write changed documents.
    pub in_place_writes: Option<UpdateForm>,
    /// Applied migrations whose changed files are accepted; their new checksum
    /// is recorded. Dangerous: the database keeps what the old file did.
    pub dangerously_allow_changed: Vec<String>,
    /// Migrations that stopped part-way and whose files changed since: go on
    /// from the checkpoint with the changed files (both checksums recorded).
    /// Dangerous: the documents done keep what the earlier files did.
    pub dangerously_resume_changed: Vec<String>,
    /// Override every migration's transaction mode.
    pub transactions: Option<TxMode>,
    /// What to do with documents a transform fails.
    pub on_error: OnError,
    /// Override whether pre-images are kept (default: for migrations without a
    /// backward transform).
    pub pre_images: Option<bool>,
}

/// What happens when a transform fails a document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Stop; keep the checkpoint; the migration is `failed` until the cause is
    /// fixed and `up` resumes.
    #[default]
    Abort,
    /// Set the document aside in `mongoshift_quarantine` and go on; the
    /// migration ends `applied_with_errors`.
    Quarantine,
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
    /// What a run of it guarantees on this deployment.
    pub guarantee: String,
    /// What may go wrong on this deployment (e.g. an oplog too short for a
    /// rewrite's copy).
    pub warnings: Vec<String>,
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
    Wasm(Box<WasmSpec>),
    /// A Python file's steps; `None` until the runtime has read the file.
    Python(Option<Arc<PythonPlan>>),
    /// Put back the pre-images kept by the forward run.
    Restore {
        collection: String,
        backup: String,
    },
    /// Undo a rewrite: drop an unfinished one, or go back from a finished
    /// one by the backward transform (in place) or to the originals it kept.
    SwapBack {
        state: Box<crate::rewrite::RewriteState>,
        /// The migration's spec when its module has a backward transform.
        backward: Option<Box<WasmSpec>>,
    },
}

impl Work {
    fn forward(m: &Migration) -> Work {
        match &m.manifest.body {
            Body::Update(b) => Work::Steps(b.forward.clone()),
            Body::Wasm(spec) => Work::Wasm(spec.clone()),
            Body::Python(_) => Work::Python(None),
        }
    }

    fn steps(&self) -> usize {
        match self {
            Work::Steps(s) => s.len(),
            Work::Python(Some(p)) => p.steps.len(),
            Work::Wasm(_) | Work::Restore { .. } | Work::SwapBack { .. } | Work::Python(None) => 1,
        }
    }
}

/// What `up --dry-run` found.
#[derive(Debug, Clone, Serialize)]
pub struct DryRunReport {
    /// One entry per pending migration.
    pub migrations: Vec<DryRunMigration>,
}

/// The dry run of one migration.
#[derive(Debug, Clone, Serialize)]
pub struct DryRunMigration {
    /// The migration.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// Documents it would read in a real run.
    pub total: u64,
    /// Documents transformed in this dry run.
    pub sampled: u64,
    /// Of those: kept.
    pub kept: u64,
    /// Replaced.
    pub replaced: u64,
    /// Deleted.
    pub deleted: u64,
    /// Failed.
    pub failed: u64,
    /// A few before/after examples.
    pub diffs: Vec<DryRunDiff>,
    /// Read-and-transform rate measured.
    pub docs_per_sec: Option<f64>,
    /// `total` at that rate.
    pub estimated_seconds: Option<f64>,
    /// Anything to know.
    pub note: Option<String>,
}

impl DryRunMigration {
    /// The entry of a migration the dry run does not sample (server-side
    /// steps, Python): only a total and a note.
    fn unsampled(m: &Migration, total: u64, note: String) -> Self {
        DryRunMigration {
            id: m.id.clone(),
            kind: m.manifest.kind.to_string(),
            total,
            sampled: 0,
            kept: 0,
            replaced: 0,
            deleted: 0,
            failed: 0,
            diffs: Vec::new(),
            docs_per_sec: None,
            estimated_seconds: None,
            note: Some(note),
        }
    }
}

/// What [`Migrator::sample`] runs.
pub(super) struct Sampled<'a> {
    pub collection: &'a str,
    pub filter: &'a bson::Document,
    pub module: Transformer,
    pub options: PipelineOptions,
    pub schema: Option<Arc<jsonschema::Validator>>,
    /// Documents the migration would touch.
    pub total: u64,
}

/// One example of a dry run.
#[derive(Debug, Clone, Serialize)]
pub struct DryRunDiff {
    /// The document's `_id`.
    pub id: String,
    /// `replace`, `delete` or `fail`.
    pub outcome: String,
    /// The document now (relaxed Extended JSON).
    pub before: serde_json::Value,
    /// What it would become.
    pub after: Option<serde_json::Value>,
    /// Why it fails.
    pub error: Option<String>,
}

/// The prefix of pre-image collections: `mongoshift_preimages_<migration id>`.
pub const PRE_IMAGE_PREFIX: &str = "mongoshift_preimages_";

struct Prepared {
    module: Transformer,
    tx: TxMode,
    form: UpdateForm,
    strategy: Strategy,
    /// A rewrite keeps the originals in its backup.
    keep: bool,
    session: Option<mongodb::ClientSession>,
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
    on_error: OnError,
    /// `down --set-aside-writes-since-swap`.
    set_aside: bool,
    /// Runs Python migrations; see [`crate::python`].
    python: Option<Arc<dyn PythonRuntime>>,
    /// Why there is no Python runtime, when known.
    python_missing: Option<String>,
}

impl std::fmt::Debug for Migrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Migrator")
            .field("dir", &self.dir)
            .field("migrations", &self.migrations.len())
            .finish()
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
            on_error: OnError::Abort,
            set_aside: false,
            python: None,
            python_missing: None,
        })
    }

    /// Runs Python migrations with `runtime` (registered by the Python package).
    pub fn python_runtime(mut self, runtime: Arc<dyn PythonRuntime>) -> Self {
        self.python = Some(runtime);
        self
    }

    /// Without a runtime, Python migrations fail with this reason (why no
    /// Python could be found, say) before the general advice.
    pub fn python_unavailable(mut self, reason: impl Into<String>) -> Self {
        self.python_missing = Some(reason.into());
        self
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
        let by_id: HashMap<&str, &LedgerEntry> =
            entries.iter().map(|e| (e.id.as_str(), e)).collect();
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
        rows.sort_by_key(|r| order_key(&r.id));
        Ok(rows)
    }

    /// Checks the checksums of recorded migrations against disk.
    pub async fn verify(&self) -> Result<Vec<VerifyRow>> {
        let entries = self.ledger.entries().await?;
        Ok(entries
            .into_iter()
            .filter(|e| e.state != State::RolledBack)
            .map(|e| VerifyRow {
                on_disk: self
                    .migrations
                    .iter()
                    .find(|m| m.id == e.id)
                    .map(|m| m.checksum.clone()),
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
        self.plan(
            Direction::Up,
            &entries,
            todo.iter().map(|m| (*m, Work::forward(m))).collect(),
            opts.strategy,
        )
        .await
    }

    /// What `down` would do now.
    pub async fn plan_down(&self, target: &DownTarget) -> Result<Plan> {
        let entries = self.ledger.entries().await?;
        let todo = self.to_roll_back(&entries, target, &[])?;
        self.plan(Direction::Down, &entries, todo, None).await
    }

    async fn plan(
        &self,
        direction: Direction,
        entries: &[LedgerEntry],
        todo: Vec<(&Migration, Work)>,
        strategy: Option<Strategy>,
    ) -> Result<Plan> {
        let mut migrations = Vec::new();
        for (m, work) in todo {
            let steps: Vec<PlannedStep> = match &work {
                Work::Steps(steps) => {
                    let counts = update::count_steps(&self.target, steps).await?;
                    steps
                        .iter()
                        .zip(counts)
                        .map(|(s, n)| PlannedStep {
                            description: s.describe(),
                            matching: n,
                        })
                        .collect()
                }
                Work::Wasm(spec) => vec![PlannedStep {
                    description: format!(
                        "wasm transform {} ({}) on {} where {}, batches of {} on {} thread(s); {}",
                        spec.module.display(),
                        if direction == Direction::Up {
                            "forward"
                        } else {
                            "backward"
                        },
                        spec.collection,
                        spec.filter,
                        spec.batch_size,
                        PipelineOptions::new(spec.batch_size, spec.threads).threads,
                        if direction == Direction::Up {
                            let (s, why) = self.strategy_for(spec, strategy).await?;
                            format!("strategy {}: {why}", s.as_str())
                        } else {
                            "in place".to_string()
                        }
                    ),
                    matching: Some(self.count(spec).await?),
                }],
                Work::SwapBack { state, backward } => vec![PlannedStep {
                    description: swap_back_plan(&m.id, state, backward.is_some()),
                    matching: None,
                }],
                Work::Python(_) => self.plan_python(m, direction, &work).await?,
                Work::Restore { collection, backup } => vec![PlannedStep {
                    description: format!("restore the pre-images in {backup} into {collection}"),
                    matching: Some(
                        self.target
                            .db()
                            .collection::<bson::Document>(backup)
                            .estimated_document_count()
                            .await
                            .map_err(|e| MigrateError::db("cannot count pre-images", e))?,
                    ),
                }],
            };
            let warnings = match &work {
                Work::Wasm(spec)
                    if direction == Direction::Up
                        && self.strategy_for(spec, strategy).await?.0 == Strategy::Rewrite =>
                {
                    self.rewrite_warnings(m, spec).await?
                }
                _ => Vec::new(),
            };
            migrations.push(PlannedMigration {
                id: m.id.clone(),
                kind: m.manifest.kind.to_string(),
                description: m.manifest.description.clone(),
                status: entries.iter().find(|e| e.id == m.id).map_or(Status::Pending, |e| Status::Recorded(e.state)),
                steps,
                guarantee: match &work {
                    Work::Wasm(spec)
                        if direction == Direction::Up
                            && spec.transactions.is_none()
                            && self.strategy_for(spec, strategy).await?.0 == Strategy::Rewrite =>
                    {
                        "exactly-once: the copy is idempotent (a document inserted again is ignored, changes are followed from the change stream), the phase and stream position are in the ledger, and the swap is a rename".to_string()
                    }
                    Work::Wasm(spec) => self.tx_mode(spec.transactions).guarantee().to_string(),
                    Work::Restore { .. } => "idempotent: restoring pre-images can be repeated until it completes".to_string(),
                    Work::SwapBack { .. } => "each step recorded before it is taken; a run killed anywhere is finished by `down` and undone by `up`; the collection's name always stands for a complete collection".to_string(),
                    Work::Steps(_) => "server-side steps, each atomic per document; a run that dies between steps reruns them".to_string(),
                    Work::Python(_) => self.python_guarantee(),
                },
                warnings,
            });
        }
        Ok(Plan {
            direction,
            guarantee: self.guarantee(),
            migrations,
        })
    }

    /// Whether the oplog looks too short for a rewrite's copy.
    async fn rewrite_warnings(&self, m: &Migration, spec: &WasmSpec) -> Result<Vec<String>> {
        let Some(reach) =
            crate::rewrite::oplog_reach(&self.target, std::time::Duration::from_secs(2)).await
        else {
            return Ok(Vec::new());
        };
        let documents = self.count(spec).await?;
        let average = self
            .target
            .db()
            .run_command(bson::doc! { "collStats": &spec.collection })
            .await
            .ok()
            .and_then(|s| match s.get("avgObjSize") {
                Some(bson::Bson::Int32(n)) => Some(i64::from(*n)),
                Some(bson::Bson::Int64(n)) => Some(*n),
                Some(bson::Bson::Double(n)) => Some(*n as i64),
                _ => None,
            })
            .filter(|n| *n > 0);
        let bytes = average.map(|a| a * documents as i64);
        // The originals are copied too unless the module can recompute them.
        let keep = match spec.pre_images {
            Some(k) => k,
            None => self
                .load_module(m, spec)
                .map_or(true, |module| !module.info().backward),
        };
        Ok(
            crate::rewrite::oplog_too_short(&reach, documents, bytes, keep)
                .into_iter()
                .collect(),
        )
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
    fn pending<'a>(
        &'a self,
        entries: &[LedgerEntry],
        opts: &UpOptions,
    ) -> Result<Vec<&'a Migration>> {
        for e in entries {
            let on_disk = self.migrations.iter().find(|m| m.id == e.id);
            match on_disk {
                None if e.state != State::RolledBack => {
                    return Err(MigrateError::MissingOnDisk {
                        id: e.id.clone(),
                        state: e.state.to_string(),
                        path: self.dir.clone(),
                    })
                }
                Some(m)
                    if e.state == State::Applied
                        && m.checksum != e.checksum
                        && !opts.dangerously_allow_changed.contains(&e.id) =>
                {
                    return Err(MigrateError::ChecksumMismatch {
                        id: e.id.clone(),
                        recorded: e.checksum.clone(),
                        on_disk: m.checksum.clone(),
                    })
                }
                Some(m) => resume::check_up(e, m, opts)?,
                None => {}
            }
        }
        resume::check_named(
            &opts.dangerously_resume_changed,
            &self.migrations,
            &self.dir,
        )?;
        let end = match &opts.to {
            Some(to) => self
                .migrations
                .iter()
                .position(|m| &m.id == to)
                .ok_or_else(|| MigrateError::UnknownMigration {
                    id: to.clone(),
                    path: self.dir.clone(),
                })?,
            None => self.migrations.len().saturating_sub(1),
        };
        Ok(self
            .migrations
            .iter()
            .take(end + 1)
            .filter(|m| {
                entries
                    .iter()
                    .find(|e| e.id == m.id)
                    .is_none_or(|e| e.state != State::Applied)
            })
            .collect())
    }

    /// The migrations `down` rolls back, newest first, each with its backward steps.
    fn to_roll_back<'a>(
        &'a self,
        entries: &[LedgerEntry],
        target: &DownTarget,
        allowed: &[String],
    ) -> Result<Vec<(&'a Migration, Work)>> {
        resume::check_named(allowed, &self.migrations, &self.dir)?;
        let done: Vec<&LedgerEntry> = {
            let mut v: Vec<&LedgerEntry> = entries
                .iter()
                .filter(|e| matches!(e.state, State::Applied | State::Failed | State::Running))
                .collect();
            v.sort_by_key(|e| std::cmp::Reverse(order_key(&e.id)));
            v
        };
        let chosen: Vec<&LedgerEntry> = match target {
            DownTarget::Steps(n) => done.into_iter().take(*n).collect(),
            DownTarget::To(id) => {
                let known = self.migrations.iter().any(|m| &m.id == id)
                    || entries.iter().any(|e| &e.id == id);
                if !known {
                    return Err(MigrateError::UnknownMigration {
                        id: id.clone(),
                        path: self.dir.clone(),
                    });
                }
                done.into_iter()
                    .filter(|e| order_key(&e.id) > order_key(id))
                    .collect()
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
                let work = match &m.manifest.body {
                    Body::Update(b) => {
                        let steps = b.backward.clone().map_err(|reason| MigrateError::Irreversible { id: m.id.clone(), reason })?;
                        resume::check_way_back(e, m, "its backward steps", allowed)?;
                        Work::Steps(steps)
                    }
                    Body::Wasm(spec) if e.rewrite.is_some() => {
                        let state = e.rewrite.clone().expect("checked");
                        // A changed module's backward transform is used only
                        // with consent; kept originals need none.
                        let way_back = resume::check_way_back(e, m, "its module's backward transform", allowed);
                        self.swap_back_work(m, spec, state, way_back)?
                    }
                    // The exact originals beat recomputing them, and need no module.
                    Body::Wasm(spec) if e.pre_images.is_some() => Work::Restore {
                        collection: e.collection.clone().unwrap_or_else(|| spec.collection.clone()),
                        backup: e.pre_images.clone().expect("checked"),
                    },
                    Body::Wasm(spec) => {
                        let module = self.load_module(m, spec)?;
                        if !module.info().backward {
                            return Err(MigrateError::Irreversible {
                                id: m.id.clone(),
                                reason: format!(
                                    "its module {} has no backward transform and no pre-images were kept (pre_images = false, or pruned)",
                                    spec.module.display()
                                ),
                            });
                        }
                        resume::check_way_back(e, m, "its module's backward transform", allowed)?;
                        Work::Wasm(spec.clone())
                    }
                    Body::Python(_) => {
                        if e.pre_images.is_none() {
                            resume::check_way_back(e, m, "its backward migration", allowed)?;
                        }
                        self.python_down(m, e)?
                    }
                };
                Ok((m, work))
            })
            .collect()
    }

    /// Applies pending migrations in order, under the lock.
    pub async fn up(&self, opts: &UpOptions) -> Result<Report> {
        let lease = Lease::acquire(&self.target, &self.lock, &self.progress).await?;
        let mut this = self.clone();
        this.on_error = opts.on_error;
        let res = this.up_locked(&lease, opts).await;
        let released = lease.release().await;
        let report = res?;
        released?;
        Ok(report)
    }

    async fn up_locked(&self, lease: &Lease, opts: &UpOptions) -> Result<Report> {
        let mut entries = self.ledger.entries().await?;
        if self.settle_rollbacks(lease, &entries).await? {
            entries = self.ledger.entries().await?;
        }
        let todo = self.pending(&entries, opts)?;
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
                .run_one(lease, m, Direction::Up, &Work::forward(m), previous, opts)
                .await
            {
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

    /// Rolls back applied migrations, newest first, under the lock. Every
    /// chosen migration is checked for a way back before anything runs.
    pub async fn down(&self, target: &DownTarget) -> Result<Report> {
        self.down_with(target, &DownOptions::default()).await
    }

    /// [`Migrator::down`], with options.
    pub async fn down_with(&self, target: &DownTarget, opts: &DownOptions) -> Result<Report> {
        let lease = Lease::acquire(&self.target, &self.lock, &self.progress).await?;
        let mut this = self.clone();
        this.set_aside = opts.set_aside_writes_since_swap;
        let res = this.down_locked(&lease, target, opts).await;
        let released = lease.release().await;
        let report = res?;
        released?;
        Ok(report)
    }

    async fn down_locked(
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
                .run_one(lease, m, Direction::Down, work, previous, &run_opts)
                .await
            {
                Ok(c) => report.completed.push(c),
                Err(e) => return Err(run_error(&m.id, "rolling back", e, report)),
            }
        }
        self.progress.event(&Event::RunFinished {
            direction: Direction::Down,
            completed: report.ids().iter().map(|s| s.to_string()).collect(),
        });
        Ok(report)
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_one(
        &self,
        lease: &Lease,
        m: &Migration,
        direction: Direction,
        work: &Work,
        previous: Option<&LedgerEntry>,
        opts: &UpOptions,
    ) -> Result<Completed> {
        let started = Instant::now();
        let mut entry = LedgerEntry::new(
            &m.id,
            &m.manifest.description,
            m.manifest.kind.as_str(),
            &m.checksum,
        );
        entry.started_at = Some(DateTime::now());
        entry.applied_at = previous.and_then(|p| p.applied_at);
        entry.direction = Some(direction);
        // A run that stopped part-way resumes from its checkpoint, with its
        // pre-images; a rollback undoes what the forward run committed.
        let uses_files = !matches!(
            work,
            Work::Restore { .. } | Work::SwapBack { backward: None, .. }
        );
        resume::carry_over(&mut entry, previous, m, direction, opts, uses_files);
        entry.session = previous
            .filter(|p| p.state == State::Running || p.state == State::Failed)
            .and_then(|p| p.session.clone());
        let prepared = match work {
            Work::Wasm(spec)
            | Work::SwapBack {
                backward: Some(spec),
                ..
            } => Some(
                self.prepare_wasm(m, spec, direction, opts, &mut entry)
                    .await?,
            ),
            _ => None,
        };
        // A Python file that cannot be read fails the run like a failing
        // batch: recorded in the ledger with its traceback.
        let mut python = match work {
            Work::Python(plan) => Some(
                self.prepare_python(m, plan.clone(), direction, opts, &mut entry)
                    .await,
            ),
            _ => None,
        };
        // A dead run's open transaction holds the entry (its checkpoint):
        // end it before writing the entry (document runs do so when they
        // prepare their writes).
        if prepared.is_none() && python.is_none() {
            if let Some(lsid) = entry.session.take() {
                let _ = self
                    .target
                    .client()
                    .database("admin")
                    .run_command(bson::doc! { "killSessions": [lsid] })
                    .await;
            }
        }
        self.ledger.write(&entry, lease).await?;
        let res = match (work, prepared) {
            (Work::Steps(steps), _) => {
                self.started(m, direction, work, None);
                update::run_steps(&self.target, &m.id, steps, &self.progress)
                    .await
                    .map(|c| (c, 0))
            }
            (Work::Wasm(spec), Some(p)) => {
                self.run_wasm(m, spec, direction, work, p, &entry, lease)
                    .await
            }
            (Work::Restore { collection, backup }, _) => {
                self.started(m, direction, work, None);
                crate::restore::restore(&self.target, collection, backup, &m.id, &self.progress)
                    .await
                    .map(|n| {
                        (
                            update::Counts {
                                matched: n,
                                modified: n,
                            },
                            0,
                        )
                    })
            }
            (Work::SwapBack { state, backward }, p) => {
                self.swap_back(m, work, state, backward.as_deref(), p, &entry, lease)
                    .await
            }
            (Work::Python(_), _) => match python.take().expect("prepared above") {
                Ok(p) => self.run_python(m, direction, p, &entry, lease).await,
                Err(e) => Err(e),
            },
            (Work::Wasm(_), None) => unreachable!("prepared above"),
        };
        let elapsed = started.elapsed();
        // The batches committed their checkpoints into the ledger: start from it.
        let mut entry = self.ledger.get(&m.id).await?.unwrap_or(entry);
        entry.finished_at = Some(DateTime::now());
        entry.duration_ms = elapsed.as_millis() as i64;
        match res {
            Ok((counts, quarantined)) => {
                entry.matched = counts.matched as i64;
                entry.modified = counts.modified as i64;
                entry.quarantined = quarantined;
                entry.error = None;
                match direction {
                    Direction::Up => {
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
                        if matches!(work, Work::Restore { .. }) {
                            entry.pre_images = None;
                        }
                        if matches!(work, Work::SwapBack { .. }) {
                            entry.rewrite = None;
                        }
                    }
                }
                self.ledger.write(&entry, lease).await?;
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
            // Refused before anything changed: the entry stays as it was.
            Err(err @ MigrateError::WritesSinceSwap { .. }) => {
                self.progress.event(&Event::MigrationFailed {
                    id: m.id.clone(),
                    direction,
                    error: err.to_string(),
                });
                if let Some(p) = previous {
                    self.ledger.write(p, lease).await?;
                }
                Err(err)
            }
            Err(err) => {
                entry.state = State::Failed;
                entry.error = Some(match direction {
                    Direction::Up => err.to_string(),
                    Direction::Down => format!("rollback failed: {err}"),
                });
                self.progress.event(&Event::MigrationFailed {
                    id: m.id.clone(),
                    direction,
                    error: err.to_string(),
                });
                match self.record_failure(&mut entry, lease).await {
                    None => Err(err),
                    Some(record) => Err(MigrateError::Unrecorded {
                        source: Box::new(err),
                        record: Box::new(record),
                    }),
                }
            }
        }
    }

    /// Writes a failed run's entry. A write that fails (an entry over the
    /// server's 16 MiB, say) is tried again with the error cut short; what
    /// stops even that is returned, to be reported with the failure.
    async fn record_failure(&self, entry: &mut LedgerEntry, lease: &Lease) -> Option<MigrateError> {
        if self.ledger.write(entry, lease).await.is_ok() {
            return None;
        }
        entry.error = entry.error.as_deref().map(crate::text::message);
        self.ledger.write(entry, lease).await.err()
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
        let module = CompileLimits::from_env().and_then(|compile| {
            let limits = SandboxLimits::default()
                .deadline(std::time::Duration::from_millis(spec.deadline_ms))
                .memory_bytes(spec.memory_limit_mb << 20)
                .compile(compile);
            TransformModule::load(&path, limits)
        });
        let module = module.map_err(|source| MigrateError::Module {
            migration: m.id.clone(),
            source: Box::new(source),
        })?;
        if let Some(message) = module.cache_warning() {
            self.progress.event(&Event::Warning {
                id: m.id.clone(),
                message,
            });
        }
        Ok(module)
    }

    async fn count(&self, spec: &WasmSpec) -> Result<u64> {
        count_matching(&self.target, &spec.collection, &spec.filter).await
    }

    /// Loads the module and settles how the run writes; records the settings
    /// in the ledger entry.
    async fn prepare_wasm(
        &self,
        m: &Migration,
        spec: &WasmSpec,
        direction: Direction,
        opts: &UpOptions,
        entry: &mut LedgerEntry,
    ) -> Result<Prepared> {
        let module = {
            let (this, m2, spec2) = (self.clone(), m.clone(), spec.clone());
            tokio::task::spawn_blocking(move || this.load_module(&m2, &spec2))
                .await
                .map_err(|e| MigrateError::Database {
                    context: "module loading failed".into(),
                    message: e.to_string(),
                    labels: vec![],
                })??
        };
        if direction == Direction::Down && !module.info().backward {
            return Err(MigrateError::Irreversible {
                id: m.id.clone(),
                reason: "its module has no backward transform".into(),
            });
        }
        let tx = self.tx_mode(opts.transactions.or(spec.transactions));
        let strategy = match direction {
            Direction::Down => Strategy::InPlace,
            // A rewrite that stopped part-way goes on as a rewrite.
            Direction::Up if entry.rewrite.is_some() => Strategy::Rewrite,
            Direction::Up => self.strategy_for(spec, opts.strategy).await?.0,
        };
        // A rewrite's copy needs no transactions: inserting a document again
        // is refused as a duplicate (ignored), and a document that changed in
        // between is redone from the change stream anyway.
        let tx =
            if strategy == Strategy::Rewrite && opts.transactions.or(spec.transactions).is_none() {
                TxMode::None
            } else {
                tx
            };
        // A rewrite keeps the originals (in its backup) by the rule of
        // pre-images; one already started keeps what it chose.
        let keep = match &entry.rewrite {
            Some(r) => r.keep,
            None => opts
                .pre_images
                .or(spec.pre_images)
                .unwrap_or(!module.info().backward),
        };
        if strategy == Strategy::Rewrite {
            entry.pre_images = None;
        } else if direction == Direction::Up
            && entry.pre_images.is_none()
            && !resume::resumes(entry)
            && opts
                .pre_images
                .or(spec.pre_images)
                .unwrap_or(!module.info().backward)
        {
            entry.pre_images = Some(format!("{PRE_IMAGE_PREFIX}{}", m.id));
        }
        if direction == Direction::Down {
            entry.pre_images = None;
        }
        entry
            .collection
            .get_or_insert_with(|| spec.collection.clone());
        let session = self
            .prepare_writes(entry, tx, self.on_error == OnError::Quarantine)
            .await?;
        Ok(Prepared {
            module: Transformer::Wasm(module),
            tx,
            form: opts
                .in_place_writes
                .or(spec.in_place_writes)
                .unwrap_or_default(),
            strategy,
            keep,
            session,
        })
    }

    /// The strategy a forward run of `spec` gets (asked: the flag's), and why.
    async fn strategy_for(
        &self,
        spec: &WasmSpec,
        asked: Option<Strategy>,
    ) -> Result<(Strategy, String)> {
        let asked = asked.or(spec.strategy).unwrap_or_default();
        let refusal = crate::rewrite::refusal(&self.target, &spec.collection, &spec.filter).await?;
        Ok(match (asked, refusal) {
            (Strategy::InPlace, _) => (Strategy::InPlace, "asked for".into()),
            (Strategy::Rewrite, None) => (Strategy::Rewrite, "asked for".into()),
            (Strategy::Rewrite, Some(reason)) => return Err(MigrateError::Refused { reason }),
            (Strategy::Auto, None) => (
                Strategy::Rewrite,
                "auto: a whole-collection migration on a replica set, so copy and swap".into(),
            ),
            (Strategy::Auto, Some(reason)) => (
                Strategy::InPlace,
                format!("auto: in place because {reason}"),
            ),
        })
    }

    /// What a document-by-document run needs before its first batch: its side
    /// collections (pre-images, quarantine) created, the session of a dead
    /// earlier run ended, and its own session (recorded in `entry`).
    async fn prepare_writes(
        &self,
        entry: &mut LedgerEntry,
        tx: TxMode,
        quarantine: bool,
    ) -> Result<Option<mongodb::ClientSession>> {
        // Create the side collections now: creating them implicitly inside a
        // batch's transaction is restricted on some servers.
        for coll in entry
            .pre_images
            .iter()
            .map(String::as_str)
            .chain(quarantine.then_some(crate::writer::QUARANTINE_COLLECTION))
        {
            match self.target.db().create_collection(coll).await {
                Ok(()) => {}
                Err(e) if matches!(&*e.kind, mongodb::error::ErrorKind::Command(c) if c.code == 48) =>
                    {}
                Err(e) => return Err(MigrateError::db(format!("cannot create {coll}"), e)),
            }
        }
        // A run that died inside a transaction leaves it open, holding its
        // documents until the server times it out: end it now.
        if let Some(lsid) = entry.session.take() {
            let _ = self
                .target
                .client()
                .database("admin")
                .run_command(bson::doc! { "killSessions": [lsid] })
                .await;
        }
        if tx == TxMode::None {
            return Ok(None);
        }
        let s = self
            .target
            .client()
            .start_session()
            .await
            .map_err(|e| MigrateError::db("cannot start a session", e))?;
        entry.session = Some(s.id().clone());
        Ok(Some(s))
    }

    /// The transaction mode a run gets on this deployment.
    fn tx_mode(&self, asked: Option<TxMode>) -> TxMode {
        if self.target.supports_transactions() {
            asked.unwrap_or_default()
        } else {
            TxMode::None
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_wasm(
        &self,
        m: &Migration,
        spec: &WasmSpec,
        direction: Direction,
        work: &Work,
        prepared: Prepared,
        entry: &LedgerEntry,
        lease: &Lease,
    ) -> Result<(update::Counts, i64)> {
        let total = self.count(spec).await?;
        self.started(m, direction, work, Some(total));
        let opts = PipelineOptions::new(spec.batch_size, spec.threads);
        let schema = compile_schema(spec);
        let undo_through = entry
            .undo_through
            .as_ref()
            .filter(|_| direction == Direction::Down);
        let filter = crate::id_order::bounded(&spec.filter, undo_through);
        let mut rewrite = None;
        let destination = if prepared.strategy == Strategy::Rewrite {
            let run = crate::rewrite::Run {
                target: &self.target,
                migration: &m.id,
                fence: lease.token(),
                progress: &self.progress,
            };
            let r = crate::rewrite::Rewrite::start(
                run,
                &spec.collection,
                prepared.keep,
                entry.rewrite.clone(),
            )
            .await?;
            let d = r.destination();
            rewrite = Some(r);
            d
        } else {
            Destination::InPlace {
                form: prepared.form,
                reread: true,
            }
        };
        let copying = rewrite.as_ref().is_none_or(|r| r.copying());
        let resume_from = match &rewrite {
            Some(r) if r.restarted() => None,
            _ => entry.checkpoint.clone(),
        };
        let copy_started = Instant::now();
        let mut cp = if copying {
            pipeline::run(pipeline::Job {
                target: &self.target,
                migration: &m.id,
                collection: &spec.collection,
                filter: filter.clone(),
                direction,
                module: prepared.module.clone(),
                options: opts,
                total: Some(total),
                progress: &self.progress,
                resume: resume_from,
                write: WriteOptions {
                    tx: prepared.tx,
                    fence: lease.token(),
                    pre_images: entry.pre_images.clone(),
                    quarantine: self.on_error == OnError::Quarantine,
                    max_attempts: 30,
                    destination,
                    filter,
                },
                dry_run: None,
                limit: None,
                session: prepared.session,
                schema: schema.clone(),
            })
            .await?
        } else {
            entry.checkpoint.clone().unwrap_or_default()
        };
        if let Some(r) = rewrite {
            let mut again = pipeline::again(prepared.module, &m.id, direction, schema);
            let mut follow = crate::rewrite::Follow {
                target: &self.target,
                migration: &m.id,
                fence: lease.token(),
                quarantine: self.on_error == OnError::Quarantine,
                retransform: &mut again,
                progress: &self.progress,
            };
            cp.changed += r.finish(&mut follow, copy_started.elapsed()).await?.changed;
        }
        Ok((
            update::Counts {
                matched: cp.read as u64,
                modified: (cp.replaced + cp.deleted) as u64,
            },
            cp.failed,
        ))
    }

    /// Runs the transforms of pending migrations without writing anything, on
    /// the first `sample` documents of each (or all), and reports what would
    /// change. Each migration sees the data as it is now (earlier pending
    /// migrations are not applied first).
    pub async fn dry_run(&self, opts: &UpOptions, sample: Option<u64>) -> Result<DryRunReport> {
        let entries = self.ledger.entries().await?;
        let todo = self.pending(&entries, opts)?;
        let mut report = DryRunReport {
            migrations: Vec::new(),
        };
        for m in todo {
            let one = self
                .dry_run_one(m, opts, sample)
                .await
                .map_err(|e| run_error(&m.id, "sampling", e, Report::default()))?;
            report.migrations.push(one);
        }
        Ok(report)
    }

    async fn dry_run_one(
        &self,
        m: &Migration,
        opts: &UpOptions,
        sample: Option<u64>,
    ) -> Result<DryRunMigration> {
        Ok(match &m.manifest.body {
            Body::Update(b) => {
                let counts = update::count_steps(&self.target, &b.forward).await?;
                DryRunMigration::unsampled(
                    m,
                    counts.iter().flatten().copied().max().unwrap_or(0),
                    format!(
                        "server-side steps; documents matching now: {}",
                        b.forward
                            .iter()
                            .zip(&counts)
                            .map(|(s, n)| format!(
                                "{} ({})",
                                s.describe(),
                                n.map_or("-".into(), |n| n.to_string())
                            ))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                )
            }
            Body::Python(_) => self.dry_run_python(m, sample).await?,
            Body::Wasm(spec) => {
                let mut entry = LedgerEntry::new(&m.id, "", "wasm", &m.checksum);
                let prepared = self
                    .prepare_wasm(m, spec, Direction::Up, opts, &mut entry)
                    .await?;
                let total = self.count(spec).await?;
                self.sample(
                    m,
                    Sampled {
                        collection: &spec.collection,
                        filter: &spec.filter,
                        module: prepared.module,
                        options: PipelineOptions::new(spec.batch_size, spec.threads),
                        schema: compile_schema(spec),
                        total,
                    },
                    sample,
                )
                .await?
            }
        })
    }

    /// Runs a migration's transform over the first `sample` documents (or
    /// all) without writing, and reports what would change.
    pub(super) async fn sample(
        &self,
        m: &Migration,
        what: Sampled<'_>,
        sample: Option<u64>,
    ) -> Result<DryRunMigration> {
        let Sampled {
            collection,
            filter,
            module,
            options,
            schema,
            total,
        } = what;
        // The first three examples of each outcome (a failure after many
        // replacements is what the dry run is for).
        let mut diffs: Vec<DryRunDiff> = Vec::new();
        let mut collect = |before: &bson::RawDocument, o: &crate::wasm::Outcome| {
            let kind = match o {
                crate::wasm::Outcome::Keep => return,
                crate::wasm::Outcome::Replace(_) => "replace",
                crate::wasm::Outcome::Delete => "delete",
                crate::wasm::Outcome::Fail(_) => "fail",
            };
            if diffs.iter().filter(|d| d.outcome == kind).count() >= 3 {
                return;
            }
            let json = |r: &bson::RawDocument| {
                bson::Document::try_from(r)
                    .map(|d| bson::Bson::Document(d).into_relaxed_extjson())
                    .unwrap_or_default()
            };
            let id = before
                .get("_id")
                .ok()
                .flatten()
                .map(|v| crate::pipeline::show_id(&v.to_raw_bson()))
                .unwrap_or_default();
            diffs.push(match o {
                crate::wasm::Outcome::Replace(b) => DryRunDiff {
                    id,
                    outcome: "replace".into(),
                    before: json(before),
                    after: bson::RawDocument::from_bytes(b).ok().map(json),
                    error: None,
                },
                crate::wasm::Outcome::Delete => DryRunDiff {
                    id,
                    outcome: "delete".into(),
                    before: json(before),
                    after: None,
                    error: None,
                },
                crate::wasm::Outcome::Fail(e) => DryRunDiff {
                    id,
                    outcome: "fail".into(),
                    before: json(before),
                    after: None,
                    error: Some(e.clone()),
                },
                crate::wasm::Outcome::Keep => unreachable!("skipped above"),
            });
        };
        let started = Instant::now();
        let cp = pipeline::run(pipeline::Job {
            target: &self.target,
            migration: &m.id,
            collection,
            filter: filter.clone(),
            direction: Direction::Up,
            module,
            options,
            total: Some(sample.map_or(total, |s| s.min(total))),
            progress: &self.progress,
            resume: None,
            write: WriteOptions {
                tx: TxMode::None,
                fence: 0,
                pre_images: None,
                quarantine: true,
                max_attempts: 1,
                destination: Destination::InPlace {
                    form: UpdateForm::Set,
                    reread: false,
                },
                filter: filter.clone(),
            },
            dry_run: Some(&mut collect),
            limit: sample,
            session: None,
            schema,
        })
        .await?;
        let secs = started.elapsed().as_secs_f64().max(1e-6);
        let rate = cp.read as f64 / secs;
        Ok(DryRunMigration {
            id: m.id.clone(),
            kind: m.manifest.kind.to_string(),
            total,
            sampled: cp.read as u64,
            kept: cp.kept as u64,
            replaced: cp.replaced as u64,
            deleted: cp.deleted as u64,
            failed: cp.failed as u64,
            diffs,
            docs_per_sec: Some(rate),
            estimated_seconds: (rate > 0.0).then(|| total as f64 / rate),
            note: Some(
                "the estimate counts reading and transforming; writing usually dominates a real run"
                    .into(),
            ),
        })
    }

    /// Drops pre-images of applied migrations (all, or `only`), of migrations
    /// applied at least `older_than` ago. Returns `(migration, collection)` pairs.
    pub async fn prune(
        &self,
        only: Option<&str>,
        older_than: std::time::Duration,
    ) -> Result<Vec<(String, String)>> {
        let lease = Lease::acquire(&self.target, &self.lock, &self.progress).await?;
        let res = async {
            let cutoff = DateTime::now().timestamp_millis() - older_than.as_millis() as i64;
            let mut pruned = Vec::new();
            for mut e in self.ledger.entries().await? {
                // Pre-images, or the original a rewrite kept.
                let rewritten = e
                    .rewrite
                    .as_ref()
                    .filter(|r| r.phase == crate::rewrite::Phase::Done && r.keep)
                    .map(|r| r.backup.clone());
                let Some(backup) = e.pre_images.clone().or(rewritten) else {
                    continue;
                };
                let applied = matches!(e.state, State::Applied | State::AppliedWithErrors);
                let old_enough = e.applied_at.is_some_and(|t| t.timestamp_millis() <= cutoff);
                if !applied || !old_enough || only.is_some_and(|id| id != e.id) {
                    continue;
                }
                self.target
                    .db()
                    .collection::<bson::Document>(&backup)
                    .drop()
                    .await
                    .map_err(|err| MigrateError::db(format!("cannot drop {backup}"), err))?;
                if e.pre_images.take().is_none() {
                    e.rewrite = None;
                }
                self.ledger.write(&e, &lease).await?;
                pruned.push((e.id.clone(), backup));
            }
            Ok::<_, MigrateError>(pruned)
        }
        .await;
        let released = lease.release().await;
        let pruned = res?;
        released?;
        Ok(pruned)
    }

    /// Clears a lease left by a dead run (see [`lock::unlock`]).
    pub async fn unlock(&self, force: bool) -> Result<UnlockOutcome> {
        lock::unlock(&self.target, force).await
    }
}

#[path = "python_run.rs"]
mod python_run;
#[path = "resume.rs"]
mod resume;

#[path = "swap_back.rs"]
mod swap_back;
use swap_back::swap_back_plan;

fn compile_schema(spec: &WasmSpec) -> Option<Arc<jsonschema::Validator>> {
    // Checked when the manifest was parsed.
    spec.schema
        .as_ref()
        .and_then(|s| jsonschema::validator_for(s).ok())
        .map(Arc::new)
}

fn run_error(id: &str, verb: &'static str, e: MigrateError, report: Report) -> MigrateError {
    MigrateError::Run {
        id: id.into(),
        verb,
        source: Box::new(e),
        report: Box::new(report),
    }
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

/// How many documents of `collection` match `filter`, for progress totals and
/// plans. Without a filter, the collection's metadata count: counting by
/// filter scans the collection (over a second per million documents on the
/// local server).
pub(crate) async fn count_matching(
    target: &Target,
    collection: &str,
    filter: &bson::Document,
) -> Result<u64> {
    let coll = target.db().collection::<bson::Document>(collection);
    let counted = if filter.is_empty() {
        coll.estimated_document_count().await
    } else {
        coll.count_documents(filter.clone()).await
    };
    counted.map_err(|e| MigrateError::db(format!("cannot count documents in {collection}"), e))
}
