//! Fleets: the same migrations over many databases of one deployment (one
//! database per tenant, say).
//!
//! - [`Selection`] (`selection`): which databases, by glob ([`crate::glob`]), the
//!   whole deployment or a list in a file, each name checked (`name`);
//!   resolved into a sorted list, the stable order of every run.
//! - [`Fleet`] (`fleet`): a [`Migrator`](crate::Migrator) made for each
//!   database, with its own ledger and lock, exactly as a single-database
//!   run of it: two fleet runs at once serialise per database on its lock,
//!   and a killed run resumes per database.
//! - `run`: `up`, `down`, `plan` and `verify`, `concurrency` databases at
//!   once (`pass`), [`FleetOptions`] (`options`) for fail-fast and a
//!   canary; each database's [`DatabaseOutcome`] (`outcome`): a failure
//!   stays with its database and the others go on.
//! - `status`: one row per database and one per migration.
//! - [`FleetEvent`] (`events`): each database's progress events with its
//!   name, and the fleet's own.
//!
//! This module sits above [`migrate`](crate::migrate), which knows nothing
//! of fleets.

mod events;
#[allow(clippy::module_inception)]
mod fleet;
mod name;
mod options;
mod outcome;
mod pass;
mod run;
mod selection;
mod status;

pub use events::{FleetEvent, FleetProgress, FleetProgressSink, FleetSink};
pub use fleet::{Fleet, Prepare};
pub use options::{default_concurrency, FleetOptions};
pub use outcome::{DatabaseOutcome, DatabaseResult, Tally};
pub use selection::Selection;
pub use status::{DatabaseStatus, FleetStatus, MigrationStatus};
