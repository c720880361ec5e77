//! [`DatabaseOutcome`]: what a fleet run did in one database.

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::error::MigrateError;

/// What happened in one database.
#[derive(Debug)]
pub enum DatabaseResult<T> {
    /// Its run ended well.
    Done(T),
    /// Its run failed (what was applied before is in the error's
    /// [`report`](MigrateError::report)).
    Failed(MigrateError),
    /// It was not started: `fail_fast` after a failure, or a failed canary.
    Skipped,
}

/// One database of a fleet run and what happened there.
#[derive(Debug)]
pub struct DatabaseOutcome<T> {
    /// The database.
    pub database: String,
    /// What happened.
    pub result: DatabaseResult<T>,
}

impl<T> DatabaseOutcome<T> {
    /// The error, when its run failed.
    pub fn error(&self) -> Option<&MigrateError> {
        match &self.result {
            DatabaseResult::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// `done`, `failed` or `skipped`.
    pub fn state(&self) -> &'static str {
        match self.result {
            DatabaseResult::Done(_) => "done",
            DatabaseResult::Failed(_) => "failed",
            DatabaseResult::Skipped => "skipped",
        }
    }
}

/// Serialized as `{database, state, result, error}`: `result` when done,
/// `error` (the message) when failed.
impl<T: Serialize> Serialize for DatabaseOutcome<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("DatabaseOutcome", 4)?;
        st.serialize_field("database", &self.database)?;
        st.serialize_field("state", self.state())?;
        match &self.result {
            DatabaseResult::Done(r) => st.serialize_field("result", r)?,
            _ => st.serialize_field("result", &None::<()>)?,
        }
        st.serialize_field("error", &self.error().map(|e| e.to_string()))?;
        st.end()
    }
}

/// How many databases ended well, failed and were skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Ended well.
    pub done: usize,
    /// Failed.
    pub failed: usize,
    /// Not started.
    pub skipped: usize,
}

impl Tally {
    /// Counts `outcomes`.
    pub fn of<T>(outcomes: &[DatabaseOutcome<T>]) -> Tally {
        let mut t = Tally::default();
        for o in outcomes {
            match o.result {
                DatabaseResult::Done(_) => t.done += 1,
                DatabaseResult::Failed(_) => t.failed += 1,
                DatabaseResult::Skipped => t.skipped += 1,
            }
        }
        t
    }
}
