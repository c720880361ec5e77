//! Distributed runs for people: partitions per migration, live workers, and
//! how `up --distributed` would run each migration.

use mongoshift::migrate::{DistributedPlan, DistributedRow};
use mongoshift::partition::{LiveWorker, PartitionCounts};

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
        "{}: {} done, {} running, {} pending of {} ({} documents done)",
        c.migration, c.done, c.running, c.pending, c.total, c.documents
    )
}

/// `workers`: who holds what now.
pub(crate) fn workers(live: &[LiveWorker], counts: &[PartitionCounts]) {
    if live.is_empty() {
        println!("no live workers");
    }
    for w in live {
        println!(
            "{}: {} ({} documents done; lease until {})",
            w.worker,
            w.partitions.join(", "),
            w.documents,
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
                recorded: true,
            } => format!("shared by workers: {partitions} partitions (recorded)"),
            DistributedPlan::Partitioned { partitions, .. } => {
                format!("shared by workers: about {partitions} partitions")
            }
            DistributedPlan::OneWorker { reason } => format!("on one worker: {reason}"),
            DistributedPlan::Refused { reason } => format!("refused: {reason}"),
            _ => "unknown".into(),
        };
        println!("  {}: {how}", r.id);
    }
}
