//! [`Fleet`]: the same migrations over many databases of one deployment.

use std::sync::Arc;

use super::events::{DatabaseSink, FleetEvent, FleetProgressSink};
use super::options::{default_concurrency, FleetOptions};
use crate::migrate::Migrator;

/// What makes each database's migrator ready (e.g. attaching a Python
/// runtime made for that database).
pub type Prepare<'a> = Arc<dyn Fn(Migrator) -> Migrator + Send + Sync + 'a>;

/// Runs the migrations of one [`Migrator`] over many databases of its
/// deployment, each database through its own migrator, ledger and lock:
/// exactly as a single-database run of it would.
#[derive(Clone)]
pub struct Fleet<'a> {
    pub(super) base: Migrator,
    pub(super) databases: Vec<String>,
    pub(super) options: FleetOptions,
    pub(super) prepare: Prepare<'a>,
    pub(super) sink: FleetProgressSink,
}

impl std::fmt::Debug for Fleet<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("databases", &self.databases.len())
            .field("options", &self.options)
            .finish()
    }
}

impl<'a> Fleet<'a> {
    /// The migrations and settings of `base` over `databases` (in the order
    /// given: [`Selection::resolve`](super::Selection::resolve) sorts them).
    /// `base`'s own database is not part of the fleet unless listed.
    pub fn new(base: Migrator, databases: Vec<String>) -> Fleet<'a> {
        Fleet {
            base,
            databases,
            options: FleetOptions::default(),
            prepare: Arc::new(|m| m),
            sink: Arc::new(|_: &FleetEvent| {}),
        }
    }

    /// Sets how the run goes through the databases.
    pub fn options(mut self, options: FleetOptions) -> Self {
        self.options = options;
        self
    }

    /// Prepares each database's migrator before it runs migrations.
    pub fn prepare(mut self, prepare: impl Fn(Migrator) -> Migrator + Send + Sync + 'a) -> Self {
        self.prepare = Arc::new(prepare);
        self
    }

    /// Sends the fleet's events, and each database's wrapped, to `sink`.
    pub fn progress(mut self, sink: FleetProgressSink) -> Self {
        self.sink = sink;
        self
    }

    /// The databases, in run order.
    pub fn databases(&self) -> &[String] {
        &self.databases
    }

    /// Databases run at once: the option, else the deployment's default.
    pub fn concurrency(&self) -> usize {
        self.options
            .concurrency
            .unwrap_or_else(|| default_concurrency(self.base.target()))
            .max(1)
    }

    /// The migrator of `database`, reporting to the fleet's sink, prepared
    /// to run migrations.
    pub fn migrator(&self, database: &str) -> Migrator {
        let m = self
            .base
            .for_database(database)
            .progress(Arc::new(DatabaseSink {
                database: database.to_string(),
                fleet: self.sink.clone(),
            }));
        (self.prepare)(m)
    }

    /// The migrator of `database` for reading only (status, verify): no
    /// progress, no preparation.
    pub fn reader(&self, database: &str) -> Migrator {
        self.base.for_database(database)
    }
}
