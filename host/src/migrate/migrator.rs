//! [`Migrator`]: the migrations on disk, the target, and how runs report.

use crate::throttle::{Controls, ThrottleOptions};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::audit::Invocation;
use crate::error::{MigrateError, Result};
use crate::ledger::{Ledger, LedgerEntry};
use crate::lock::{self, LockOptions, UnlockOutcome};
use crate::options::OnError;
use crate::policy::Policy;
use crate::progress::{NoProgress, Progress, Tee};
use crate::python::PythonRuntime;
use crate::report::Report;
use crate::source::{Migration, MigrationSource};
use crate::target::Target;
use crate::wasm::TransformModule;

/// Runs migrations from a source against a target.
#[derive(Clone)]
pub struct Migrator {
    pub(super) dir: PathBuf,
    pub(super) migrations: Vec<Migration>,
    pub(super) target: Target,
    pub(super) ledger: Ledger,
    pub(super) lock: LockOptions,
    pub(super) progress: Progress,
    pub(super) on_error: OnError,
    /// What holds the run's writes back: `up`'s throttle flags and
    /// `--pause-at`; the pause flag is always obeyed.
    pub(super) controls: Controls,
    /// `down --set-aside-writes-since-swap`.
    pub(super) set_aside: bool,
    /// Runs Python migrations; see [`crate::python`].
    pub(super) python: Option<Arc<dyn PythonRuntime>>,
    /// Why there is no Python runtime, when known.
    pub(super) python_missing: Option<String>,
    /// The operator's policy, when one is given.
    pub(super) policy: Option<Arc<Policy>>,
    /// Wasm modules loaded so far, by migration id and checksum; shared by
    /// the copies [`Migrator::for_database`] makes.
    pub(super) modules: Arc<Mutex<HashMap<String, TransformModule>>>,
    /// Who runs the commands, for the audit trail.
    pub(super) invocation: Invocation,
    /// The keys `up` checks signatures against, when given.
    pub(super) signatures: Option<Arc<crate::signing::SignatureRule>>,
    /// The signer of each migration, by id, as `up` checked them.
    pub(super) signers: Arc<HashMap<String, crate::signing::Signer>>,
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
            controls: Controls::writing(ThrottleOptions::default(), None),
            set_aside: false,
            python: None,
            python_missing: None,
            policy: None,
            modules: Arc::default(),
            invocation: Invocation::default(),
            signatures: None,
            signers: Arc::default(),
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

    /// Records the commands it runs in the audit trail as run by
    /// `invocation` (by default this process, with its own command line).
    pub fn invoked_as(mut self, invocation: Invocation) -> Self {
        self.invocation = invocation;
        self
    }

    /// Runs under the operator's `policy`: `plan` shows its verdicts, and
    /// `up` refuses a migration it refuses before anything runs.
    pub fn policy(mut self, policy: Policy) -> Self {
        // The policy's keys and requirement are the operator's: they replace
        // any given otherwise (the command line refuses both at once).
        if let Some(rule) = policy.signature_rule() {
            self.signatures = Some(Arc::new(rule));
        }
        self.policy = Some(Arc::new(policy));
        self
    }

    /// The operator's policy, when one is given.
    pub fn policy_in_force(&self) -> Option<&Policy> {
        self.policy.as_deref()
    }

    /// Sends progress events to `progress`.
    pub fn progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Sends progress events to `also` as well as where they went so far
    /// (metrics beside the progress display). `also` gets each event first:
    /// whoever reads an event where it went so far (the JSON lines on
    /// stderr) and then asks `also` (the metrics endpoint) finds it there.
    pub fn also_progress(mut self, also: Progress) -> Self {
        self.progress = Arc::new(Tee(vec![also, self.progress]));
        self
    }

    /// Sets how the lock is taken.
    pub fn lock_options(mut self, lock: LockOptions) -> Self {
        self.lock = lock;
        self
    }

    /// The same migrations and settings for database `name` of the same
    /// deployment, with its own ledger and lock. A Python runtime is made
    /// for one database, so the copy has none: attach one for `name`.
    pub fn for_database(&self, name: &str) -> Migrator {
        let target = self.target.for_database(name);
        Migrator {
            ledger: Ledger::new(&target),
            target,
            python: None,
            ..self.clone()
        }
    }

    /// The migrations on disk, in order.
    pub fn migrations(&self) -> &[Migration] {
        &self.migrations
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Clears a lease left by a dead run (see [`lock::unlock`]).
    pub async fn unlock(&self, force: bool) -> Result<UnlockOutcome> {
        lock::unlock(&self.target, force).await
    }

    /// A run that died inside a transaction leaves it open, holding its
    /// documents (and the entry's checkpoint) until the server times it
    /// out: ends the session the entry recorded, if there is one.
    pub(super) async fn end_dead_session(&self, entry: &mut LedgerEntry) {
        if let Some(lsid) = entry.session.take() {
            let _ = self
                .target
                .client()
                .database("admin")
                .run_command(bson::doc! { "killSessions": [lsid] })
                .await;
        }
    }
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

pub(super) fn run_error(
    id: &str,
    verb: &'static str,
    e: MigrateError,
    report: Report,
) -> MigrateError {
    MigrateError::Run {
        id: id.into(),
        verb,
        source: Box::new(e),
        report: Box::new(report),
    }
}
