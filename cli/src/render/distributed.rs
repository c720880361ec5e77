//! Distributed runs for people: partitions per migration, live workers, and
//! how `up --distributed` would run each migration.

use mongoshift::migrate::{DistributedPlan, DistributedRow};
use mongoshift::partition::{LiveWorker, PartitionCounts};
use mongoshift::Event;

use super::duration::ms;

/// Under `status`: the partitions of each migration still being shared.
pub(crate) fn partitions(counts: &[PartitionCounts]) {
    let open: Vec<&PartitionCounts> = counts.iter().filter(|c| c.done < c.total).collect();
    if open.is_empty() {
        return;
    }
    println!("\npartitions (distributed runs):");
    for c in open {
        println!("  {}", line(c));
    }
}

fn line(c: &PartitionCounts) -> String {
    format!(
        "{}: {} done, {} running, {} pending of {} ({} documents done{})",
        c.migration,
        c.done,
        c.running,
        c.pending,
        c.total,
        c.documents,
        pace(c.rate, c.eta_seconds)
    )
}

/// `, N docs/s, about T left` (what is known of it).
fn pace(rate: u64, eta_seconds: Option<u64>) -> String {
    let mut s = String::new();
    if rate > 0 {
        s.push_str(&format!(", {rate} docs/s"));
    }
    if let Some(t) = eta_seconds {
        s.push_str(&format!(", about {} left", ms(t * 1000)));
    }
    s
}

/// A progress event's partitions, over every worker, in a line.
pub(crate) fn progress_line(e: &Event) -> String {
    let Event::Partitions {
        done,
        running,
        pending,
        documents,
        rate,
        eta_seconds,
        ..
    } = e
    else {
        return String::new();
    };
    format!(
        "partitions: {done} done, {running} running, {pending} pending; \
         {documents} documents done over every worker{}",
        pace(*rate, *eta_seconds)
    )
}

/// `workers`: who holds what now.
pub(crate) fn workers(live: &[LiveWorker], counts: &[PartitionCounts]) {
    if live.is_empty() {
        println!("no live workers");
    }
    for w in live {
        println!(
            "{}: {} ({} documents done, {} docs/s; lease until {})",
            w.worker,
            w.partitions.join(", "),
            w.documents,
            w.rate,
            w.lease_until.try_to_rfc3339_string().unwrap_or_default()
        );
    }
    for c in counts.iter().filter(|c| c.done < c.total) {
        println!("{}", line(c));
    }
}

/// Under `plan --distributed`.
pub(crate) fn distributed_plan(rows: &[DistributedRow]) {
    if rows.is_empty() {
        return;
    }
    println!("\nwith --distributed:");
    for r in rows {
        let how = match &r.plan {
            DistributedPlan::Partitioned {
                partitions,
                recorded,
                then_one_worker,
            } => {
                let mut s = if *recorded {
                    format!("shared by workers: {partitions} partitions (recorded)")
                } else {
                    format!("shared by workers: about {partitions} partitions")
                };
                if let Some(why) = then_one_worker {
                    s.push_str(&format!("; {why}"));
                }
                s
            }
            DistributedPlan::OneWorker { reason } => format!("on one worker: {reason}"),
            DistributedPlan::Refused { reason } => format!("refused: {reason}"),
            _ => "unknown".into(),
        };
        println!("  {}: {how}", r.id);
    }
}
