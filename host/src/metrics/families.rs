//! [`Metrics`]: the metric families of a run, moved by its progress events.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::Instant;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::progress::{Direction, Event, ProgressSink};

type Labels = Vec<(String, String)>;
type Counters = Family<Labels, Counter>;
type Gauges = Family<Labels, Gauge>;
type Rates = Family<Labels, Gauge<f64, AtomicU64>>;

/// What a run is doing, as the `phase` label says it.
const PHASES: [&str; 7] = [
    "applying",
    "rolling_back",
    "paused",
    "waiting_for_swap",
    "swapping",
    "finished",
    "failed",
];

/// The throttle's reasons, as the `reason` label says them.
const REASONS: [&str; 3] = ["rate", "lag", "latency"];

/// The totals so far that a `documents` event carries.
#[derive(Default, Clone)]
struct Totals {
    done: u64,
    replaced: u64,
    deleted: u64,
    failed: u64,
    batches: u64,
    retries: BTreeMap<String, u64>,
    paused_ms: u64,
}

/// What this process saw of a migration: the totals of its last `documents`
/// event (counters move by the difference the next one brings).
#[derive(Default)]
struct Seen {
    direction: &'static str,
    last: Totals,
    /// When this process started on it, and the documents already done then
    /// (a resumed run starts from its checkpoint).
    since: Option<(Instant, u64)>,
}

/// The metrics of one process's runs, fed by its progress events.
pub struct Metrics {
    registry: Registry,
    worker: String,
    read: Counters,
    written: Counters,
    failed: Counters,
    quarantined: Counters,
    batches: Counters,
    retries: Counters,
    migrations: Counters,
    throttled: Gauges,
    phase: Gauges,
    step: Gauges,
    rate: Rates,
    partitions: Gauges,
    partition_rate: Rates,
    backlog: Gauges,
    lag: Rates,
    seen: Mutex<HashMap<String, Seen>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("worker", &self.worker)
            .finish()
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn direction(d: Direction) -> &'static str {
    match d {
        Direction::Up => "up",
        Direction::Down => "down",
    }
}

impl Metrics {
    /// Metrics for a process named `worker` (a distributed run's
    /// `--worker`; the host name when empty), labelled so on its rates.
    pub fn new(worker: &str) -> Metrics {
        let host = crate::lock::hostname();
        let worker = if worker.is_empty() {
            host.as_str()
        } else {
            worker
        };
        let mut r = Registry::with_prefix("mongoshift");
        let counter = |r: &mut Registry, name: &str, help: &str| {
            let f = Counters::default();
            r.register(name, help, f.clone());
            f
        };
        let gauge = |r: &mut Registry, name: &str, help: &str| {
            let f = Gauges::default();
            r.register(name, help, f.clone());
            f
        };
        let rate = |r: &mut Registry, name: &str, help: &str| {
            let f = Rates::default();
            r.register(name, help, f.clone());
            f
        };
        r.register(
            "build",
            "The mongoshift version and worker of this process",
            Info::new(labels(&[
                ("version", env!("CARGO_PKG_VERSION")),
                ("worker", worker),
            ])),
        );
        Metrics {
            read: counter(&mut r, "documents_read", "Documents read and decided"),
            written: counter(
                &mut r,
                "documents_written",
                "Documents written, by operation (replaced, deleted)",
            ),
            failed: counter(
                &mut r,
                "documents_failed",
                "Documents whose transform failed (set aside under --on-error quarantine)",
            ),
            quarantined: counter(
                &mut r,
                "documents_quarantined",
                "Documents set aside in mongoshift_quarantine",
            ),
            batches: counter(&mut r, "batches", "Batches committed"),
            retries: counter(&mut r, "retries", "Batch commits attempted again, by cause"),
            migrations: counter(
                &mut r,
                "migrations",
                "Migrations finished by this process, by outcome",
            ),
            throttled: gauge(
                &mut r,
                "throttled",
                "1 while the run is held back, by reason (rate, lag, latency)",
            ),
            phase: gauge(&mut r, "phase", "1 for the phase a migration is in"),
            step: gauge(
                &mut r,
                "step",
                "The step a migration is at (a rewrite: 1 create, 2 copy, 3 catch-up, 4 swap)",
            ),
            rate: rate(
                &mut r,
                "documents_per_second",
                "Documents this worker did per second, paused time left out",
            ),
            partitions: gauge(
                &mut r,
                "partitions",
                "Partitions of a distributed migration, by state, over every worker",
            ),
            partition_rate: rate(
                &mut r,
                "partitions_documents_per_second",
                "Documents per second of a distributed migration, over every worker",
            ),
            backlog: gauge(
                &mut r,
                "change_stream_backlog",
                "Changes read from a waiting rewrite's change stream and not yet applied to its copy",
            ),
            lag: rate(
                &mut r,
                "change_stream_lag_seconds",
                "How far a waiting rewrite's copy is behind its collection, in seconds",
            ),
            registry: r,
            worker: worker.to_string(),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Everything, in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String does not fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    fn set_phase(&self, id: &str, phase: &str) {
        for p in PHASES {
            let g = self
                .phase
                .get_or_create(&labels(&[("migration", id), ("phase", p)]));
            g.set(i64::from(p == phase));
        }
    }

    fn documents(&self, id: &str, now: Totals) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let seen = seen.entry(id.to_string()).or_default();
        let m = [("migration", id), ("direction", seen.direction)];
        let up = |c: &Counters, extra: &[(&str, &str)], then: u64, now: u64| {
            if now > then {
                let mut l = labels(&m);
                l.extend(labels(extra));
                c.get_or_create(&l).inc_by(now - then);
            }
        };
        let last = &seen.last;
        up(&self.read, &[], last.done, now.done);
        up(
            &self.written,
            &[("op", "replaced")],
            last.replaced,
            now.replaced,
        );
        up(
            &self.written,
            &[("op", "deleted")],
            last.deleted,
            now.deleted,
        );
        up(&self.failed, &[], last.failed, now.failed);
        up(&self.quarantined, &[], last.failed, now.failed);
        up(&self.batches, &[], last.batches, now.batches);
        for (cause, n) in &now.retries {
            let then = last.retries.get(cause).copied().unwrap_or(0);
            up(&self.retries, &[("cause", cause)], then, *n);
        }
        let (start, from) = *seen.since.get_or_insert((Instant::now(), now.done));
        let active = start.elapsed().as_secs_f64() - now.paused_ms as f64 / 1000.0;
        if active > 0.0 {
            let rate = now.done.saturating_sub(from) as f64 / active;
            self.rate
                .get_or_create(&labels(&[("migration", id), ("worker", &self.worker)]))
                .set(rate);
        }
        seen.last = now;
    }

    fn started(&self, id: &str, d: Direction) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.insert(
            id.to_string(),
            Seen {
                direction: direction(d),
                ..Seen::default()
            },
        );
        drop(seen);
        self.set_phase(
            id,
            if d == Direction::Up {
                "applying"
            } else {
                "rolling_back"
            },
        );
        self.step
            .get_or_create(&labels(&[("migration", id)]))
            .set(0);
        self.throttle(id, None);
    }

    fn throttle(&self, id: &str, kind: Option<&str>) {
        for r in REASONS {
            let g = self
                .throttled
                .get_or_create(&labels(&[("migration", id), ("reason", r)]));
            g.set(i64::from(kind == Some(r)));
        }
    }

    fn finished(&self, id: &str, d: Direction, outcome: &str) {
        let l = labels(&[
            ("migration", id),
            ("direction", direction(d)),
            ("outcome", outcome),
        ]);
        self.migrations.get_or_create(&l).inc();
        self.set_phase(
            id,
            if outcome == "ok" {
                "finished"
            } else {
                "failed"
            },
        );
        self.throttle(id, None);
    }

    fn swap_waiting(&self, id: &str, pending: i64, lag_s: f64) {
        self.set_phase(id, "waiting_for_swap");
        let l = labels(&[("migration", id)]);
        self.backlog.get_or_create(&l).set(pending);
        self.lag.get_or_create(&l).set(lag_s);
    }

    fn partitions(&self, id: &str, counts: [(&str, usize); 3], rate: u64) {
        for (state, n) in counts {
            let l = labels(&[("migration", id), ("state", state)]);
            self.partitions.get_or_create(&l).set(n as i64);
        }
        self.partition_rate
            .get_or_create(&labels(&[("migration", id)]))
            .set(rate as f64);
    }
}

impl ProgressSink for Metrics {
    fn event(&self, event: &Event) {
        match event {
            Event::MigrationStarted { id, direction, .. } => self.started(id, *direction),
            Event::StepStarted { id, step, .. } => {
                self.step
                    .get_or_create(&labels(&[("migration", id)]))
                    .set(*step as i64);
            }
            Event::Documents {
                id,
                done,
                replaced,
                deleted,
                failed,
                batches,
                retries,
                paused_ms,
                ..
            } => self.documents(
                id,
                Totals {
                    done: *done,
                    replaced: *replaced,
                    deleted: *deleted,
                    failed: *failed,
                    batches: *batches,
                    retries: retries.clone(),
                    paused_ms: *paused_ms,
                },
            ),
            Event::Throttle { id, kind, .. } => self.throttle(id, kind.as_deref()),
            Event::Paused { id, .. } => self.set_phase(id, "paused"),
            Event::Resumed { id, .. } => {
                let d = self
                    .seen
                    .lock()
                    .map_or("up", |s| s.get(id.as_str()).map_or("up", |s| s.direction));
                self.set_phase(
                    id,
                    if d == "down" {
                        "rolling_back"
                    } else {
                        "applying"
                    },
                );
            }
            Event::SwapWaiting {
                id, pending, lag_s, ..
            } => self.swap_waiting(id, *pending, *lag_s),
            Event::SwapRequested { id, .. } => self.set_phase(id, "swapping"),
            Event::MigrationFinished { id, direction, .. } => self.finished(id, *direction, "ok"),
            Event::MigrationFailed { id, direction, .. } => self.finished(id, *direction, "failed"),
            Event::Partitions {
                id,
                done,
                running,
                pending,
                rate,
                ..
            } => self.partitions(
                id,
                [
                    ("done", *done),
                    ("running", *running),
                    ("pending", *pending),
                ],
                *rate,
            ),
            _ => {}
        }
    }
}
