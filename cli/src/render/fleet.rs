//! What fleet commands found or did: the run summary, the status tables,
//! plans and checksums per database, on stdout.

use mongoshift::fleet::{DatabaseOutcome, DatabaseResult, FleetStatus, Tally};
use mongoshift::{Plan, Report, VerifyRow};

use super::fleet_progress::first_line;
use super::results::{self, table};
use crate::args::ProgressMode;

/// The end of a fleet `up` or `down`: how many databases did it, failed and
/// were skipped, each failed one named with its error's first line.
pub(crate) fn summary(outcomes: &[DatabaseOutcome<Report>], verb: &str, mode: ProgressMode) {
    let t = Tally::of(outcomes);
    if mode == ProgressMode::Json {
        let failures: Vec<serde_json::Value> = outcomes
            .iter()
            .filter_map(|o| {
                o.error()
                    .map(|e| serde_json::json!({ "database": o.database, "error": e.to_string() }))
            })
            .collect();
        let line = serde_json::json!({
            "event": "fleet_summary",
            "done": t.done,
            "failed": t.failed,
            "skipped": t.skipped,
            "failures": failures,
        });
        println!("{line}");
        return;
    }
    let migrations: usize = outcomes
        .iter()
        .map(|o| match &o.result {
            DatabaseResult::Done(r) => r.completed.len(),
            _ => 0,
        })
        .sum();
    println!(
        "fleet: {verb} {migrations} migration(s) over {} database(s): {} done, {} failed, {} skipped",
        outcomes.len(),
        t.done,
        t.failed,
        t.skipped
    );
    for o in outcomes {
        if let Some(e) = o.error() {
            println!("failed: {}: {}", o.database, first_line(&e.to_string()));
        }
    }
    if t.skipped > 0 {
        let skipped: Vec<&str> = outcomes
            .iter()
            .filter(|o| matches!(o.result, DatabaseResult::Skipped))
            .map(|o| o.database.as_str())
            .collect();
        println!("skipped (not started): {}", skipped.join(", "));
    }
}

/// The fleet's status: one table of databases, one of migrations.
pub(crate) fn status(s: &FleetStatus) {
    if s.databases.is_empty() {
        println!("no databases selected");
        return;
    }
    let rows: Vec<Vec<String>> = s
        .databases
        .iter()
        .map(|d| {
            vec![
                d.database.clone(),
                d.applied.to_string(),
                d.pending.to_string(),
                d.failed.to_string(),
                d.running.to_string(),
                d.newest_applied.clone().unwrap_or_else(|| "-".into()),
                d.lock_holder.clone().unwrap_or_else(|| "-".into()),
                d.error
                    .as_deref()
                    .map_or("-".into(), |e| first_line(e).to_string()),
            ]
        })
        .collect();
    table(
        &[
            "DATABASE",
            "APPLIED",
            "PENDING",
            "FAILED",
            "RUNNING",
            "NEWEST APPLIED",
            "LOCK",
            "ERROR",
        ],
        &rows,
    );
    println!();
    let rows: Vec<Vec<String>> = s
        .migrations
        .iter()
        .map(|m| {
            vec![
                m.id.clone(),
                m.applied.to_string(),
                m.pending.to_string(),
                m.failed.to_string(),
                m.running.to_string(),
            ]
        })
        .collect();
    table(
        &["MIGRATION", "APPLIED", "PENDING", "FAILED", "RUNNING"],
        &rows,
    );
}

/// Each database's plan, under its name.
pub(crate) fn plans(outcomes: &[DatabaseOutcome<Plan>], concurrency: usize) {
    println!(
        "fleet of {} database(s), {concurrency} at once",
        outcomes.len()
    );
    for o in outcomes {
        println!("\n== {} ==", o.database);
        match &o.result {
            DatabaseResult::Done(p) => results::plan(p),
            DatabaseResult::Failed(e) => println!("cannot plan: {e}"),
            DatabaseResult::Skipped => println!("skipped"),
        }
    }
}

/// Each database's checksums, under its name; returns how many databases
/// differ from disk (or could not be read).
pub(crate) fn verify(outcomes: &[DatabaseOutcome<Vec<VerifyRow>>]) -> usize {
    let mut bad = 0;
    for o in outcomes {
        println!("== {} ==", o.database);
        match &o.result {
            DatabaseResult::Done(rows) => {
                if results::verify(rows) > 0 {
                    bad += 1;
                }
            }
            DatabaseResult::Failed(e) => {
                println!("cannot verify: {e}");
                bad += 1;
            }
            DatabaseResult::Skipped => {}
        }
    }
    bad
}
