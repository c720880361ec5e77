//! [`FleetEvent`]: what a fleet run reports, to a [`FleetSink`]. Each
//! database's own events arrive wrapped with its name; the fleet adds its
//! own, so a front end can draw one overall bar and a line per running
//! database.

use std::sync::Arc;

use serde::Serialize;

use crate::progress::{Direction, Event, ProgressSink};

/// Something a fleet run did. Serialized as one JSON object with an `event`
/// field: a database's own events keep their shape and gain a `database`
/// field.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum FleetEvent {
    /// An event of one database's run.
    Database {
        /// The database.
        database: String,
        /// Its event, as a single-database run reports it.
        #[serde(flatten)]
        event: Event,
    },
    /// An event of the fleet as a whole.
    Fleet(FleetProgress),
}

/// The fleet's own events.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FleetProgress {
    /// The run starts over these databases.
    FleetStarted {
        /// Up or down.
        direction: Direction,
        /// How many databases.
        databases: usize,
        /// How many run at once.
        concurrency: usize,
    },
    /// A database's run starts.
    DatabaseStarted {
        /// The database.
        database: String,
    },
    /// A database's run ended well.
    DatabaseFinished {
        /// The database.
        database: String,
        /// Databases ended so far (finished, failed or skipped).
        done: usize,
        /// Databases in the run.
        total: usize,
    },
    /// A database's run failed; the others go on.
    DatabaseFailed {
        /// The database.
        database: String,
        /// The error.
        error: String,
        /// Databases ended so far (finished, failed or skipped).
        done: usize,
        /// Databases in the run.
        total: usize,
    },
    /// A database was not started (`fail_fast`, or a failed canary).
    DatabaseSkipped {
        /// The database.
        database: String,
    },
    /// The run ended.
    FleetFinished {
        /// Databases whose run ended well.
        finished: usize,
        /// Databases whose run failed.
        failed: usize,
        /// Databases not started.
        skipped: usize,
    },
}

/// Receives fleet events. Called from the databases' tasks; keep it fast.
pub trait FleetSink: Send + Sync {
    /// One event.
    fn fleet_event(&self, event: &FleetEvent);
}

impl<F: Fn(&FleetEvent) + Send + Sync> FleetSink for F {
    fn fleet_event(&self, event: &FleetEvent) {
        self(event)
    }
}

/// A shared fleet sink.
pub type FleetProgressSink = Arc<dyn FleetSink>;

/// One database's progress sink: passes its events on with its name.
pub(crate) struct DatabaseSink {
    pub(crate) database: String,
    pub(crate) fleet: FleetProgressSink,
}

impl ProgressSink for DatabaseSink {
    fn event(&self, event: &Event) {
        self.fleet.fleet_event(&FleetEvent::Database {
            database: self.database.clone(),
            event: event.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::{FleetEvent, FleetProgress};
    use crate::progress::Event;

    #[test]
    fn a_database_event_keeps_its_shape_and_gains_the_database() {
        let e = FleetEvent::Database {
            database: "tenant_a".into(),
            event: Event::LockWaiting {
                owner: "h:1".into(),
            },
        };
        let v: serde_json::Value = serde_json::to_value(&e).expect("json");
        assert_eq!(v["event"], "lock_waiting");
        assert_eq!(v["database"], "tenant_a");
        assert_eq!(v["owner"], "h:1");
        let f = FleetEvent::Fleet(FleetProgress::DatabaseSkipped {
            database: "tenant_b".into(),
        });
        let v: serde_json::Value = serde_json::to_value(&f).expect("json");
        assert_eq!(v["event"], "database_skipped");
    }
}
