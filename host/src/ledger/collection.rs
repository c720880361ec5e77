//! Where the ledger lives: one collection in the target database, one
//! document per migration (`_id`: the migration's id).

/// The collection holding the ledger.
pub const LEDGER_COLLECTION: &str = "mongoshift_ledger";

/// The collection holding the partitions of distributed runs: one document
/// per `_id` range of a migration, with its claim and its checkpoint.
pub const PARTITIONS_COLLECTION: &str = "mongoshift_partitions";
