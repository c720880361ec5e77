//! [`Gate`]: what the writer stage passes before each batch commit. It
//! waits while the migration is paused, while a secondary lags too much,
//! while commits are slow and for the rate limit, and tells the run's
//! progress (and the ledger, for `status`) whenever that changes.

use std::time::{Duration, Instant};

use super::controls::Controls;
use super::lag::{self, Lag};
use super::latency::LatencyGuard;
use super::pace::Pace;
use super::state::{Reason, ThrottleState};
use crate::error::Result;
use crate::ledger::Ledger;
use crate::progress::{Event, Progress};
use crate::target::Target;

/// How often the pause flag is read from the ledger.
const PAUSE_EVERY: Duration = Duration::from_secs(1);
/// How often the replica set's status is read.
const LAG_EVERY: Duration = Duration::from_secs(2);
/// A state change shorter than this is not news (the rate limit comes and
/// goes between batches).
const SETTLE: Duration = Duration::from_secs(1);

/// Where the run is, for the gate.
#[derive(Clone)]
pub(crate) struct GateRun {
    pub(crate) target: Target,
    pub(crate) migration: String,
    pub(crate) progress: Progress,
    /// Documents the run expects to read in all, when known.
    pub(crate) total: Option<u64>,
}

/// The checks before each commit of one run.
pub(crate) struct Gate {
    run: GateRun,
    ledger: Ledger,
    controls: Controls,
    pace: Pace,
    latency: Option<LatencyGuard>,
    next_lag_read: Option<Instant>,
    next_pause_read: Option<Instant>,
    pause_at_done: bool,
    paused: Duration,
    published: ThrottleState,
    published_at: Option<Instant>,
    last_commit: Option<Instant>,
    measured_rate: f64,
}

impl Gate {
    /// A gate for `run` under `controls`; `None` when there is nothing to
    /// watch.
    pub(crate) fn new(run: GateRun, controls: Controls) -> Option<Gate> {
        if !controls.any() {
            return None;
        }
        Some(Gate {
            ledger: Ledger::new(&run.target),
            run,
            latency: controls.throttle.max_latency.map(LatencyGuard::new),
            controls,
            pace: Pace::new(),
            next_lag_read: None,
            next_pause_read: None,
            pause_at_done: false,
            paused: Duration::ZERO,
            published: ThrottleState::Running,
            published_at: None,
            last_commit: None,
            measured_rate: 0.0,
        })
    }

    /// Time spent paused so far, left out of rates and ETAs.
    pub(crate) fn paused(&self) -> Duration {
        self.paused
    }

    /// Waits until a batch of `docs` documents may commit; `done` is how
    /// many the run has read so far.
    pub(crate) async fn before_commit(&mut self, done: u64, docs: u64) -> Result<()> {
        self.pause_at(done).await?;
        self.wait_while_paused(false).await;
        self.wait_while_lagging().await;
        let mut state = ThrottleState::Running;
        if let Some(g) = &self.latency {
            if g.backoff() > Duration::ZERO {
                tokio::time::sleep(g.backoff()).await;
            }
        }
        let configured = self.controls.throttle.max_rate.map(f64::from);
        let held = self.latency.as_ref().and_then(LatencyGuard::rate);
        let rate = match (configured, held) {
            (Some(c), Some(h)) => Some(c.min(h)),
            (c, h) => c.or(h),
        };
        if let Some(rate) = rate {
            let wait = self.pace.book(docs, rate, Instant::now());
            if wait > Duration::ZERO {
                tokio::time::sleep(wait).await;
            }
            if let (Some(limit), true) = (self.controls.throttle.max_rate, wait > Duration::ZERO) {
                state = ThrottleState::Throttled(Reason::Rate { limit });
            }
        }
        if let Some(g) = self
            .latency
            .as_ref()
            .filter(|g| g.above() || g.rate().is_some())
        {
            state = ThrottleState::Throttled(Reason::Latency {
                measured: g.average().unwrap_or_default(),
                limit: g.limit(),
                rate: g.rate().unwrap_or_default() as u64,
            });
        }
        self.publish(state, false).await;
        Ok(())
    }

    /// After a batch of `docs` documents committed in `took`.
    pub(crate) fn after_commit(&mut self, docs: u64, took: Duration) {
        let now = Instant::now();
        // The run's rate: between commits; before there are two, what the
        // first commit alone would allow.
        let secs = match self.last_commit {
            Some(last) => now.duration_since(last),
            None => took,
        };
        self.measured_rate = docs as f64 / secs.as_secs_f64().max(0.001);
        self.last_commit = Some(now);
        let ceiling = self.controls.throttle.max_rate.map(f64::from);
        let current = ceiling.map_or(self.measured_rate, |c| c.min(self.measured_rate.max(1.0)));
        if let Some(g) = &mut self.latency {
            g.after_commit(took, current.max(1.0), ceiling);
        }
    }

    /// `--pause-at`: sets the pause flag once the run is that far.
    async fn pause_at(&mut self, done: u64) -> Result<()> {
        let (Some(pct), Some(total)) = (self.controls.pause_at, self.run.total) else {
            return Ok(());
        };
        if self.pause_at_done || (done as f64) < pct / 100.0 * total as f64 {
            return Ok(());
        }
        self.pause_at_done = true;
        let by = format!("--pause-at {pct} ({} of {total} documents)", done);
        self.ledger
            .set_paused(&self.run.migration, true, &by)
            .await?;
        self.next_pause_read = None;
        Ok(())
    }

    /// Waits while the migration's pause flag is set (read at most every
    /// [`PAUSE_EVERY`], unless `now`). The lease's heartbeat goes on
    /// meanwhile, so the run keeps its lock.
    async fn wait_while_paused(&mut self, now: bool) {
        if !self.controls.obey_pause {
            return;
        }
        if !now && self.next_pause_read.is_some_and(|t| Instant::now() < t) {
            return;
        }
        self.next_pause_read = Some(Instant::now() + PAUSE_EVERY);
        // A read that fails is not a pause: the next commit finds out
        // whether the server is there.
        let Ok(Some(by)) = self.ledger.pause_flag(&self.run.migration).await else {
            return;
        };
        let started = Instant::now();
        self.run.progress.event(&Event::Paused {
            id: self.run.migration.clone(),
            by,
        });
        loop {
            tokio::time::sleep(PAUSE_EVERY / 2).await;
            if matches!(self.ledger.pause_flag(&self.run.migration).await, Ok(None)) {
                break;
            }
        }
        let this = started.elapsed();
        self.paused += this;
        self.pace.reset();
        self.run.progress.event(&Event::Resumed {
            id: self.run.migration.clone(),
            paused_ms: this.as_millis() as u64,
        });
    }

    /// `--max-lag`: waits while a secondary lags more than the limit.
    async fn wait_while_lagging(&mut self) {
        let Some(limit) = self.controls.throttle.max_lag else {
            return;
        };
        if self.next_lag_read.is_some_and(|t| Instant::now() < t) {
            return;
        }
        loop {
            self.next_lag_read = Some(Instant::now() + LAG_EVERY);
            match lag::read(&self.run.target).await {
                Lag::Behind(measured) if measured > limit => {
                    let reason = Reason::Lag { measured, limit };
                    self.publish(ThrottleState::Throttled(reason), true).await;
                    tokio::time::sleep(LAG_EVERY / 2).await;
                    self.wait_while_paused(false).await;
                }
                Lag::Behind(_) => return,
                Lag::NoSecondaries => {
                    return self.lag_off(
                        "--max-lag is accepted but has nothing to measure: the deployment has \
                         no secondaries",
                    )
                }
                Lag::Unreadable(why) => {
                    return self.lag_off(&format!(
                        "--max-lag is accepted but not applied: the replica set's status \
                         (replSetGetStatus) cannot be read ({why})"
                    ))
                }
            }
        }
    }

    /// Stops measuring lag for this run, saying why.
    fn lag_off(&mut self, message: &str) {
        self.controls.throttle.max_lag = None;
        self.run.progress.event(&Event::Warning {
            id: self.run.migration.clone(),
            message: message.to_string(),
        });
    }

    /// Tells progress and the ledger of a new state; a change that did not
    /// last [`SETTLE`] since the last one waits, unless `now`.
    async fn publish(&mut self, state: ThrottleState, now: bool) {
        if state.same_as(&self.published) {
            return;
        }
        let settled = self.published_at.is_none_or(|t| t.elapsed() >= SETTLE);
        if !(now || settled || matches!(state, ThrottleState::Throttled(_))) {
            return;
        }
        self.run.progress.event(&Event::Throttle {
            id: self.run.migration.clone(),
            state: state.name().to_string(),
            reason: state.reason(),
            kind: state.kind().map(str::to_string),
        });
        // Only what `status` shows: a failed write is not worth stopping for.
        let _ = self
            .ledger
            .set_throttle(&self.run.migration, &state.ledger_text())
            .await;
        self.published = state;
        self.published_at = Some(Instant::now());
    }
}
