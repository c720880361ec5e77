//! What a run did.

use serde::Serialize;

use crate::progress::Direction;

/// One migration completed by a run.
#[derive(Debug, Clone, Serialize)]
pub struct Completed {
    /// The migration.
    pub id: String,
    /// Up or down.
    pub direction: Direction,
    /// Documents matched.
    pub matched: u64,
    /// Documents modified or deleted.
    pub modified: u64,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
}

/// What a run did, also when it failed part-way (see
/// [`MigrateError::report`](crate::MigrateError::report)).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Migrations completed, in order.
    pub completed: Vec<Completed>,
}

impl Report {
    /// The ids completed.
    pub fn ids(&self) -> Vec<&str> {
        self.completed.iter().map(|c| c.id.as_str()).collect()
    }
}
