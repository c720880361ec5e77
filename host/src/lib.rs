//! # mongoshift
//!
//! Fast, safe MongoDB data migrations.
//!
//! ## Core concepts
//!
//! - A **migration** ([`Migration`]) is an entry in a migrations directory: a TOML
//!   manifest (see [`manifest`]) plus, for some kinds, module files. Its id starts
//!   with a timestamp (`20260115093000_add_status`) and its checksum is SHA-256
//!   over the bytes that define it.
//! - A [`MigrationSource`] discovers the migrations of a directory, in order.
//! - A [`Target`] is the connected database the migrations change.
//! - The **ledger** ([`Ledger`]) records in the target database what was applied,
//!   when, with which checksum, and with what result.
//! - The **lock** ([`Lease`]) makes sure only one run changes the database at a
//!   time. It is a lease with a heartbeat and a fencing token.
//! - The [`Migrator`] puts these together: `status`, `plan`, `up`, `down`,
//!   `verify`, `unlock`.
//! - A **Python migration** is a `.py` file run by the Python package, which
//!   registers a [`python::PythonRuntime`]; see [`python`].
//! - A [`fleet::Fleet`] runs the same migrations over many databases chosen
//!   by a [`fleet::Selection`], each with its own ledger and lock.
//! - The **audit trail** ([`audit`]) records in the target who ran each
//!   `up`, `down`, `swap`, `pause` and `resume`, what it changed and how it
//!   ended; `mongoshift audit` lists it.
//! - Runs emit progress [`Event`]s to a [`ProgressSink`]; the library never prints.
//! - A migration's **fixtures** ([`fixture`]) are input documents and the
//!   outcome its transform must give each; they run with no database, through
//!   [`local::LocalTransform`], which also runs a transform on documents from
//!   a file.
//!
//! ## Where each step of a run lives
//!
//! From the bottom up; a module imports only modules of its own step or
//! of the steps before it, never one after (`scripts/check-structure`
//! refuses an import cycle):
//!
//! 1. Ground floor: [`batch`] (what flows: batches, outcomes, `_id`s),
//!    [`options`] (transactions, strategy, update form, on-error),
//!    [`error`], [`progress`], [`report`], [`text`], [`failpoint`].
//! 2. [`target`] (the connection), [`wasm`] (the sandbox), [`source`] and
//!    [`manifest`] (migrations on disk).
//! 3. [`lock`], then [`ledger`] (every ledger write: entries, checkpoints,
//!    a rewrite's phase).
//! 4. [`transform`] (what decides each document and the checks on what it
//!    returns; [`python`]: the Python runtime's contract), then [`writer`]
//!    (commits), [`throttle`] (what a commit waits for: the rate, lag and
//!    latency limits, the pause flag), then [`pipeline`] (reader → workers → in-order reassembly
//!    → writer) and [`rewrite`] (copy, catch-up, swap).
//! 5. [`local`] (a transform run on documents in memory) and [`fixture`]
//!    (test fixtures run through it), beside the writer: no database.
//! 6. [`audit`] (the audit trail, with counts read from the ledger), then
//!    [`migrate`]: planning, running, dry runs and status, under the lock.
//! 7. [`fleet`]: the same migrations over many databases, each through its
//!    own migrator.
//!
//! ## Example
//!
//! ```no_run
//! # async fn run() -> Result<(), mongoshift::MigrateError> {
//! use mongoshift::{ConnectOptions, MigrationSource, Migrator, Target, UpOptions};
//!
//! let target = Target::connect(&ConnectOptions::new("mongodb://localhost:27017/app")).await?;
//! let migrator = Migrator::new(&MigrationSource::new("migrations"), target)?;
//! let report = migrator.up(&UpOptions::default()).await?;
//! println!("applied {:?}", report.ids());
//! # Ok(()) }
//! ```

pub mod audit;
pub mod batch;
pub mod error;
pub mod export;
pub mod failpoint;
pub mod fixture;
pub mod fleet;
#[cfg(test)]
mod fuzz;
pub(crate) mod glob;
pub mod ledger;
pub mod local;
pub mod lock;
pub(crate) mod lookup;
pub mod manifest;
pub mod metrics;
pub mod migrate;
pub mod options;
pub mod partition;
pub mod pipeline;
pub mod policy;
pub mod pre_image;
pub mod progress;
pub mod python;
pub mod quarantine;
pub mod redact;
pub mod report;
mod restore;
pub mod rewrite;
pub mod sample;
pub mod signing;
pub mod source;
pub mod target;
pub mod text;
pub mod throttle;
pub mod transform;
mod update;
pub mod verify;
pub mod wasm;
pub mod writer;

pub use audit::{AuditFilter, AuditLog, AuditRecord, AuditRow, AuditStatus, Invocation};
pub use batch::Outcome;
pub use error::{redact_uri, FleetError, MigrateError, PartWay, PolicyError, Result, SourceError};
pub use ledger::{
    Checkpoint, Ledger, LedgerEntry, Phase, RewriteState, State, SwapWait, LEDGER_COLLECTION,
};
pub use lock::{Lease, LockOptions, LockState, Owner, UnlockOutcome, LOCK_COLLECTION};
pub use manifest::{
    Body, Kind, Manifest, PythonSpec, UpdateBody, UpdateSpec, UpdateStep, WasmSpec,
};
pub use migrate::{
    DownOptions, DownTarget, DryRunDiff, DryRunMigration, DryRunReport, Migrator, Plan,
    PlannedMigration, PlannedStep, Status, StatusRow, UpOptions, VerifyRow,
};
pub use options::{Cutover, OnError, Strategy, TxMode, UpdateForm};
pub use progress::{Direction, Event, NoProgress, Progress, ProgressSink};
pub use report::{Completed, Report};
pub use source::{Migration, MigrationSource};
pub use target::{ConnectOptions, Target, Topology};
pub use update::Counts;
