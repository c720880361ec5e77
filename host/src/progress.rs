//! Progress events. The library emits them; front ends (the CLI's bars and JSON
//! lines, the Python package's callback) render them. The library never prints.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::batch::LogLevel;

/// Which way a migration is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// `up`.
    Up,
    /// `down`.
    Down,
}

/// Something a run did. Serialized as one JSON object with an `event` field.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// Another run holds the lock; this one waits.
    LockWaiting {
        /// Who holds it.
        owner: String,
    },
    /// The lock was taken.
    LockAcquired {
        /// The fencing token of this run's lease.
        token: i64,
    },
    /// A run starts with this many migrations to do.
    RunStarted {
        /// Up or down.
        direction: Direction,
        /// Migrations to run.
        migrations: Vec<String>,
    },
    /// A migration starts.
    MigrationStarted {
        /// Its id.
        id: String,
        /// Its kind.
        kind: String,
        /// Up or down.
        direction: Direction,
        /// How many steps it has.
        steps: usize,
        /// Documents it will touch, when known.
        total: Option<u64>,
    },
    /// A step of a migration starts.
    StepStarted {
        /// The migration.
        id: String,
        /// 1-based step number.
        step: usize,
        /// What the step does.
        description: String,
    },
    /// A step finished.
    StepFinished {
        /// The migration.
        id: String,
        /// 1-based step number.
        step: usize,
        /// Documents matched.
        matched: u64,
        /// Documents modified (or deleted).
        modified: u64,
    },
    /// Documents processed so far (document-by-document kinds).
    Documents {
        /// The migration.
        id: String,
        /// Documents read and decided.
        done: u64,
        /// Total expected, when known.
        total: Option<u64>,
        /// Replaced so far.
        replaced: u64,
        /// Deleted so far.
        deleted: u64,
        /// Failed so far.
        failed: u64,
        /// Milliseconds this run has spent paused so far: left out of rates
        /// and ETAs.
        paused_ms: u64,
        /// Batches committed so far.
        batches: u64,
        /// Batch commits attempted again so far, by cause (`write_conflict`,
        /// `primary_changed`, `connection`, `transient`, `too_large`,
        /// `conflict_split`).
        retries: BTreeMap<String, u64>,
    },
    /// The run's throttle changed: it writes at will (`running`) or is held
    /// back (`throttled`, and why, with the value measured).
    Throttle {
        /// The migration.
        id: String,
        /// `running` or `throttled`.
        state: String,
        /// Why it is throttled.
        reason: Option<String>,
        /// What holds it back: `rate`, `lag` or `latency`.
        kind: Option<String>,
    },
    /// The run found the migration paused (`mongoshift pause`, or
    /// `--pause-at`): its last batch committed, it waits, holding the lock.
    Paused {
        /// The migration.
        id: String,
        /// Who paused it.
        by: String,
    },
    /// The pause was lifted (`mongoshift resume`); the run goes on.
    Resumed {
        /// The migration.
        id: String,
        /// How long it was paused, in milliseconds.
        paused_ms: u64,
    },
    /// A rewrite with a postponed cut-over waits for `mongoshift swap` (or
    /// its `--swap-at` time), following the change stream: sent when it
    /// starts waiting and every few seconds after.
    SwapWaiting {
        /// The migration.
        id: String,
        /// Seconds between the last change applied to the copy and now (0:
        /// the copy has every change the stream holds).
        lag_s: f64,
        /// Changes read from the stream and not yet applied when measured.
        pending: i64,
        /// Changes applied to the copy while waiting.
        applied: i64,
        /// When it swaps by itself (RFC 3339), if it does.
        swap_at: Option<String>,
    },
    /// The waiting rewrite was asked to swap (or its time came): it drains
    /// the stream and swaps.
    SwapRequested {
        /// The migration.
        id: String,
        /// Who asked (host and pid), or `--swap-at <time>`.
        by: String,
    },
    /// A migration finished.
    MigrationFinished {
        /// Its id.
        id: String,
        /// Up or down.
        direction: Direction,
        /// Documents matched.
        matched: u64,
        /// Documents modified.
        modified: u64,
        /// Wall time in milliseconds.
        duration_ms: u64,
    },
    /// A migration failed.
    MigrationFailed {
        /// Its id.
        id: String,
        /// Up or down.
        direction: Direction,
        /// The error.
        error: String,
    },
    /// Something the user should know that does not stop the run (e.g. a
    /// cached compiled module that was not run and was compiled again).
    Warning {
        /// The migration it concerns.
        id: String,
        /// What happened and what to do.
        message: String,
    },
    /// How far a distributed migration's partitions are, over every
    /// worker: sent by a worker when it claims or finishes one.
    Partitions {
        /// The migration.
        id: String,
        /// Partitions done.
        done: usize,
        /// Held by a live worker.
        running: usize,
        /// Waiting for a worker.
        pending: usize,
        /// Documents done, over every partition.
        documents: i64,
        /// Documents per second, over the workers holding partitions now.
        rate: u64,
        /// Seconds left at that rate, when there is one.
        eta_seconds: Option<u64>,
    },
    /// A line the transform logged (its `log` helper, stdout or stderr, a
    /// panic or abort message, a Python transform's `logging` record),
    /// emitted after its batch was transformed.
    GuestLog {
        /// The migration.
        id: String,
        /// 1-based batch number.
        batch: u64,
        /// `_id` of the document the transform was working on, when known.
        document: Option<String>,
        /// How important it is.
        level: LogLevel,
        /// The line: control characters escaped, cut to 4 KiB.
        message: String,
    },
    /// Lines a transform logged during a batch beyond the batch's bounds
    /// (200 lines, 64 KiB): counted, not kept.
    GuestLogDropped {
        /// The migration.
        id: String,
        /// 1-based batch number.
        batch: u64,
        /// How many lines.
        dropped: u64,
    },
    /// The run ended.
    RunFinished {
        /// Up or down.
        direction: Direction,
        /// Migrations completed.
        completed: Vec<String>,
    },
}

/// Receives progress events. Called from the run's tasks; keep it fast.
pub trait ProgressSink: Send + Sync {
    /// One event.
    fn event(&self, event: &Event);
}

/// Discards events.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn event(&self, _event: &Event) {}
}

impl<F: Fn(&Event) + Send + Sync> ProgressSink for F {
    fn event(&self, event: &Event) {
        self(event)
    }
}

/// A shared sink.
pub type Progress = Arc<dyn ProgressSink>;

/// Sends every event to each sink in turn.
pub struct Tee(pub Vec<Progress>);

impl std::fmt::Debug for Tee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tee({} sinks)", self.0.len())
    }
}

impl ProgressSink for Tee {
    fn event(&self, event: &Event) {
        for sink in &self.0 {
            sink.event(event);
        }
    }
}
