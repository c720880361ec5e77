//! A fleet run's progress: one overall bar (databases done/total,
//! documents/s, ETA) with a line per running database; one plain line per
//! database ending; or JSON lines carrying the database.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use mongoshift::fleet::{FleetEvent, FleetProgress, FleetSink};
use mongoshift::Event;

use super::progress::resolve;
use crate::args::ProgressMode;

/// Renders fleet events as bars, plain lines or JSON.
pub(crate) struct FleetRenderer {
    mode: ProgressMode,
    multi: MultiProgress,
    overall: Mutex<Option<ProgressBar>>,
    /// A spinner per running database.
    running: Mutex<HashMap<String, ProgressBar>>,
    /// The last document count of each (database, migration), to sum what
    /// the whole fleet processed.
    counted: Mutex<HashMap<(String, String), u64>>,
    documents: AtomicU64,
    started: Instant,
}

impl FleetRenderer {
    pub(crate) fn new(mode: ProgressMode) -> Self {
        let (mode, multi) = resolve(mode);
        FleetRenderer {
            mode,
            multi,
            overall: Mutex::new(None),
            running: Mutex::new(HashMap::new()),
            counted: Mutex::new(HashMap::new()),
            documents: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    /// How progress is shown (`auto` resolved for this terminal).
    pub(crate) fn mode(&self) -> ProgressMode {
        self.mode
    }

    /// Clears the bars.
    pub(crate) fn finish(&self) {
        for (_, b) in lock(&self.running).drain() {
            b.finish_and_clear();
        }
        if let Some(b) = lock(&self.overall).take() {
            b.finish();
        }
    }

    fn docs_per_sec(&self) -> f64 {
        self.documents.load(Ordering::Relaxed) as f64
            / self.started.elapsed().as_secs_f64().max(0.001)
    }

    /// Adds what a document count says since the last one of its migration.
    fn count(&self, database: &str, event: &Event) {
        if let Event::Documents { id, done, .. } = event {
            let mut counted = lock(&self.counted);
            let last = counted
                .entry((database.to_string(), id.clone()))
                .or_insert(0);
            self.documents
                .fetch_add(done.saturating_sub(*last), Ordering::Relaxed);
            *last = (*last).max(*done);
        }
    }

    fn bar(&self, e: &FleetEvent) {
        match e {
            FleetEvent::Fleet(FleetProgress::FleetStarted { databases, .. }) => {
                let b = self.multi.add(ProgressBar::new(*databases as u64));
                b.set_style(
                    ProgressStyle::with_template(
                        "{prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} databases, eta {eta} {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                b.set_prefix("fleet");
                *lock(&self.overall) = Some(b);
            }
            FleetEvent::Fleet(FleetProgress::DatabaseStarted { database }) => {
                let b = self.multi.add(ProgressBar::new_spinner());
                b.set_style(
                    ProgressStyle::with_template("  {spinner} {prefix} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                b.set_prefix(database.clone());
                b.enable_steady_tick(Duration::from_millis(120));
                lock(&self.running).insert(database.clone(), b);
            }
            FleetEvent::Fleet(
                FleetProgress::DatabaseFinished { database, .. }
                | FleetProgress::DatabaseFailed { database, .. }
                | FleetProgress::DatabaseSkipped { database },
            ) => {
                if let Some(b) = lock(&self.running).remove(database) {
                    b.finish_and_clear();
                }
                if let FleetEvent::Fleet(FleetProgress::DatabaseFailed { error, .. }) = e {
                    let _ = self
                        .multi
                        .println(format!("{database}: FAILED: {}", first_line(error)));
                }
                if let Some(b) = &*lock(&self.overall) {
                    b.inc(1);
                    b.set_message(format!("{:.0} docs/s", self.docs_per_sec()));
                }
            }
            FleetEvent::Database { database, event } => self.database_bar(database, event),
            _ => {}
        }
    }

    fn database_bar(&self, database: &str, event: &Event) {
        match event {
            Event::Documents {
                id, done, total, ..
            } => {
                if let Some(b) = lock(&self.running).get(database) {
                    let of = total.map_or(String::new(), |t| format!("/{t}"));
                    b.set_message(format!("{id}: {done}{of} docs"));
                }
                if let Some(b) = &*lock(&self.overall) {
                    b.set_message(format!("{:.0} docs/s", self.docs_per_sec()));
                }
            }
            Event::MigrationStarted { id, .. } => {
                if let Some(b) = lock(&self.running).get(database) {
                    b.set_message(id.clone());
                }
            }
            Event::LockWaiting { owner } => {
                let _ = self.multi.println(format!(
                    "{database}: waiting for the migration lock held by {owner}"
                ));
            }
            Event::Warning { id, message } => {
                let _ = self
                    .multi
                    .println(format!("warning: {database}: {id}: {message}"));
            }
            _ => {}
        }
    }
}

impl FleetSink for FleetRenderer {
    fn fleet_event(&self, e: &FleetEvent) {
        if let FleetEvent::Database { database, event } = e {
            self.count(database, event);
        }
        match self.mode {
            ProgressMode::Bar => self.bar(e),
            ProgressMode::Plain => plain(e),
            ProgressMode::Json => {
                if let Ok(line) = serde_json::to_string(e) {
                    // A reader that went away does not stop the run.
                    let _ = writeln!(std::io::stdout().lock(), "{line}");
                }
            }
            ProgressMode::None | ProgressMode::Auto => {}
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The first line of an error: the summary line of a database.
pub(crate) fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// One line per database ending, and what a user must know meanwhile; no
/// per-migration lines (hundreds of databases would bury them).
fn plain(e: &FleetEvent) {
    let line = match e {
        FleetEvent::Fleet(FleetProgress::FleetStarted {
            direction,
            databases,
            concurrency,
        }) => format!(
            "{} over {databases} database(s), {concurrency} at once",
            match direction {
                mongoshift::Direction::Up => "up",
                mongoshift::Direction::Down => "down",
            }
        ),
        FleetEvent::Fleet(FleetProgress::DatabaseFinished {
            database,
            done,
            total,
        }) => format!("[{done}/{total}] {database}: done"),
        FleetEvent::Fleet(FleetProgress::DatabaseFailed {
            database,
            error,
            done,
            total,
        }) => format!("[{done}/{total}] {database}: FAILED: {}", first_line(error)),
        FleetEvent::Fleet(FleetProgress::DatabaseSkipped { database }) => {
            format!("{database}: skipped")
        }
        FleetEvent::Database {
            database,
            event: Event::LockWaiting { owner },
        } => format!("{database}: waiting for the migration lock held by {owner}"),
        FleetEvent::Database {
            database,
            event: Event::Warning { id, message },
        } => format!("warning: {database}: {id}: {message}"),
        _ => return,
    };
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
