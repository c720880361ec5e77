//! Going through databases concurrently, in a stable order: at most
//! `concurrency` at once, each failure kept for its database, and (with
//! `fail_fast`) no new database started after one failed.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use futures_util::stream::{self, StreamExt};

use super::events::{FleetEvent, FleetProgress, FleetProgressSink};
use super::outcome::{DatabaseOutcome, DatabaseResult};
use crate::error::Result;

/// One fleet run's shared state across its passes (a canary pass, then the
/// rest).
pub(super) struct Pass {
    pub(super) concurrency: usize,
    pub(super) fail_fast: bool,
    /// Whether to report database started/finished/failed events (runs
    /// do; reads such as plan and verify do not).
    pub(super) sink: Option<FleetProgressSink>,
    pub(super) total: usize,
    done: AtomicUsize,
    stop: AtomicBool,
}

impl Pass {
    pub(super) fn new(
        concurrency: usize,
        fail_fast: bool,
        sink: Option<FleetProgressSink>,
        total: usize,
    ) -> Pass {
        Pass {
            concurrency: concurrency.max(1),
            fail_fast,
            sink,
            total,
            done: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        }
    }

    fn emit(&self, e: FleetProgress) {
        if let Some(s) = &self.sink {
            s.fleet_event(&FleetEvent::Fleet(e));
        }
    }

    /// Reports `databases` skipped without running them.
    pub(super) fn skip<T>(&self, databases: &[String]) -> Vec<DatabaseOutcome<T>> {
        databases
            .iter()
            .map(|d| {
                self.done.fetch_add(1, Ordering::SeqCst);
                self.emit(FleetProgress::DatabaseSkipped {
                    database: d.clone(),
                });
                DatabaseOutcome {
                    database: d.clone(),
                    result: DatabaseResult::Skipped,
                }
            })
            .collect()
    }

    /// Runs `work` for each of `databases`, `concurrency` at once; the
    /// outcomes come back in the order of `databases`.
    pub(super) async fn run<T, F, Fut>(
        &self,
        databases: &[String],
        work: F,
    ) -> Vec<DatabaseOutcome<T>>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let work = &work;
        let mut outcomes: Vec<(usize, DatabaseOutcome<T>)> =
            stream::iter(databases.iter().cloned().enumerate())
                .map(|(i, database)| async move {
                    // Checked when the database's turn comes, not when
                    // the stream was built: a failure since stops it.
                    if self.stop.load(Ordering::SeqCst) {
                        let mut skipped = self.skip(std::slice::from_ref(&database));
                        return (i, skipped.remove(0));
                    }
                    self.emit(FleetProgress::DatabaseStarted {
                        database: database.clone(),
                    });
                    let result = match work(database.clone()).await {
                        Ok(v) => DatabaseResult::Done(v),
                        Err(e) => DatabaseResult::Failed(e),
                    };
                    (i, self.finished(database, result))
                })
                .buffer_unordered(self.concurrency)
                .collect()
                .await;
        outcomes.sort_by_key(|(i, _)| *i);
        outcomes.into_iter().map(|(_, o)| o).collect()
    }

    fn finished<T>(&self, database: String, result: DatabaseResult<T>) -> DatabaseOutcome<T> {
        let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        match &result {
            DatabaseResult::Failed(e) => {
                if self.fail_fast {
                    self.stop.store(true, Ordering::SeqCst);
                }
                self.emit(FleetProgress::DatabaseFailed {
                    database: database.clone(),
                    error: e.to_string(),
                    done,
                    total: self.total,
                });
            }
            _ => self.emit(FleetProgress::DatabaseFinished {
                database: database.clone(),
                done,
                total: self.total,
            }),
        }
        DatabaseOutcome { database, result }
    }
}
