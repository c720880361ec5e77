//! The migrator: compares the migrations on disk with the ledger and runs them
//! under the lock.
//!
//! - [`Migrator`] (`migrator`): the migrations on disk, the target, how runs
//!   report; `unlock`.
//! - `status`: `status` and `verify`. `plan`: `plan_up` / `plan_down`, and the
//!   pure choice of what is pending and what rolls back, in which order.
//! - `run`: `up` and `down` under the lock, one migration at a time
//!   (`work`: what one takes); `resume`: what a run carries over from the one
//!   before, and what it refuses when files changed.
//! - `wasm`: loading a module, choosing strategy and transactions, driving
//!   the pipeline or the rewrite; `python`: the same for Python migrations;
//!   `swap_back`: rolling a rewrite back; `settings`: how a run writes,
//!   resolved once for both.
//! - `distributed`: `up --distributed`, one worker of many; `partitioned`:
//!   one migration shared by partitions (see [`crate::partition`]);
//!   `distributed_plan`: `plan --distributed`.
//! - `control`: `pause` and `resume` of a running migration, and the
//!   throttle a run gets (flags over the manifest); `cutover`: `swap` of a
//!   rewrite waiting for it, and what `up --postpone-swap` refuses.
//! - `dry_run`: what a run would do, from a sample; `prune`: dropping what
//!   finished rewrites and pre-images keep; `replay`: quarantined documents
//!   run again through fixed files.
//! - `audited`: `up`, `down`, `swap`, `pause` and `resume`, each recorded
//!   in the audit trail (see [`crate::audit`]) around the work above.
//! - `signatures`: the signatures `up` checks before it runs anything
//!   (see [`crate::signing`]), and the signer its ledger entries record.
//! - `policy`: the operator's policy over a run: each migration judged
//!   before anything runs, and the ceilings of documents its writer keeps.
//! - `baseline`: migrations recorded as applied without being run;
//!   `beanie`: Beanie's `migrations_log` adopted and kept current.
//! - `verify_data`: `verify --data`, an applied migration's documents checked
//!   against the source of truth it kept (see [`crate::verify`]).

mod audited;
mod baseline;
mod beanie;
mod control;
mod cutover;
mod distributed;
mod distributed_plan;
mod dry_run;
mod migrator;
mod options;
mod outputs;
mod partitioned;
mod pending;
mod plan;
mod policy;
mod prune;
mod python;
mod replay;
mod resume;
mod run;
mod settings;
mod signatures;
mod status;
mod swap_back;
mod verify_data;
mod wasm;
mod work;

pub use crate::options::OnError;
pub use distributed_plan::{DistributedPlan, DistributedRow};
pub use dry_run::{DryRunDiff, DryRunMigration, DryRunReport};
pub use migrator::Migrator;
pub use options::{DownOptions, DownTarget, UpOptions};
pub use plan::{Plan, PlannedMigration, PlannedStep};
pub use replay::ReplayReport;
pub use settings::PRE_IMAGE_PREFIX;
pub use status::{Status, StatusRow, VerifyRow};
