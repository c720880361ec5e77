//! Rendering: what the engine reports, for people (bars, lines, tables) or
//! programs (JSON). The engine never prints; this is where its events and
//! results become output.

mod audit;
mod cutover;
mod distributed;
mod duration;
mod fixtures;
pub(crate) mod fleet;
mod fleet_progress;
mod outcomes;
mod pace;
mod progress;
pub(crate) mod quarantine;
mod results;
mod verify_data;

pub(crate) use audit::audit;
pub(crate) use distributed::{distributed_plan, partitions, workers};
pub(crate) use fixtures::{fixtures, fixtures_json};
pub(crate) use fleet_progress::FleetRenderer;
pub(crate) use outcomes::{outcome_line, Tally};
pub(crate) use progress::ProgressRenderer;
pub(crate) use results::{dry_run, plan, report, status_table, table, verify};
pub(crate) use verify_data::verify_data;
