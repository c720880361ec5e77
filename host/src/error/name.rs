//! A stable name for each kind of [`MigrateError`], for records kept
//! outside this process (the audit trail): the variant's name in
//! snake case, which does not change when a message is reworded.

use super::migrate::MigrateError;

impl MigrateError {
    /// The kind of the innermost cause (see [`MigrateError::root`]), as a
    /// stable snake-case name: `checksum_mismatch`, `lock_held`,
    /// `transform`, ...
    pub fn kind_name(&self) -> &'static str {
        match self.root() {
            MigrateError::Source(_) => "source",
            MigrateError::Fixture(_) => "fixture",
            MigrateError::Verify(_) => "verify",
            MigrateError::Signing(_) => "signature",
            MigrateError::Policy(_) => "policy",
            MigrateError::OutOfOrder { .. } => "out_of_order",
            MigrateError::BeanieLog { .. } => "beanie_log",
            MigrateError::AlreadyRecorded { .. } => "already_recorded",
            MigrateError::InvalidUri { .. } => "invalid_uri",
            MigrateError::NoDatabase => "no_database",
            MigrateError::Unreachable { .. } => "unreachable",
            MigrateError::Auth { .. } => "auth",
            MigrateError::Database { .. } => "database",
            MigrateError::Threads { .. } => "threads",
            MigrateError::Task { .. } => "task",
            MigrateError::Encoding { .. } => "encoding",
            MigrateError::ChecksumMismatch { .. } => "checksum_mismatch",
            MigrateError::ChangedPartWay { .. } => "changed_part_way",
            MigrateError::ChangedWayBack { .. } => "changed_way_back",
            MigrateError::MissingOnDisk { .. } => "missing_on_disk",
            MigrateError::Dirty { .. } => "dirty",
            MigrateError::LockHeld { .. } => "lock_held",
            MigrateError::LockAlive { .. } => "lock_alive",
            MigrateError::LockLost { .. } => "lock_lost",
            MigrateError::PartitionLost { .. } => "partition_lost",
            MigrateError::DistributedMismatch { .. } => "distributed_mismatch",
            MigrateError::SplitOutdated { .. } => "split_outdated",
            MigrateError::PartitionsHeld { .. } => "partitions_held",
            MigrateError::DistributedUnfinished { .. } => "distributed_unfinished",
            MigrateError::MetricsAddr { .. } => "metrics_addr",
            MigrateError::PartitionChoice { .. } => "partition_choice",
            MigrateError::NotDistributable { .. } => "not_distributable",
            MigrateError::CrossWithoutTransactions { .. } => "cross_without_transactions",
            MigrateError::OutputUnwritable { .. } => "output_unwritable",
            MigrateError::Lookup { .. } => "lookup",
            MigrateError::Output { .. } => "output",
            MigrateError::UnknownMigration { .. } => "unknown_migration",
            MigrateError::Control { .. } => "control",
            MigrateError::ReplayRefused { .. } => "replay_refused",
            MigrateError::Refused { .. } => "refused",
            MigrateError::Setting { .. } => "setting",
            MigrateError::WritesSinceSwap { .. } => "writes_since_swap",
            MigrateError::Irreversible { .. } => "irreversible",
            MigrateError::Module { .. } => "module",
            MigrateError::Python { .. } => "python",
            MigrateError::Transform { .. } => "transform",
            MigrateError::DocumentFailed { .. } => "document_failed",
            MigrateError::WriteRejected { .. } => "write_rejected",
            MigrateError::TooLargeForTransaction { .. } => "too_large_for_transaction",
            MigrateError::Run { .. } | MigrateError::Unrecorded { .. } => "run",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_look_through_the_run() {
        let e = MigrateError::Run {
            id: "1_a".into(),
            verb: "applying",
            source: Box::new(MigrateError::NoDatabase),
            report: Box::default(),
        };
        assert_eq!(e.kind_name(), "no_database");
    }
}
