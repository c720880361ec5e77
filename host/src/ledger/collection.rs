//! Where the ledger lives: one collection in the target database, one
//! document per migration (`_id`: the migration's id).

/// The collection holding the ledger.
pub const LEDGER_COLLECTION: &str = "mongoshift_ledger";
