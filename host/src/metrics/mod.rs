//! Metrics for a monitoring system: what a run does, in the Prometheus
//! (OpenMetrics) text format, served over HTTP while it runs.
//!
//! [`Metrics`] is a [`ProgressSink`](crate::progress::ProgressSink): it
//! learns everything from the run's progress events, so nothing in the
//! pipeline knows it exists, and its counters are the same numbers the
//! progress output and the ledger show. The `prometheus-client` crate keeps
//! the values and writes the text; [`MetricsServer`] answers `GET /metrics`
//! with it from a thread of its own, so a scrape never waits on a batch.
//!
//! - `families`: the metric families, and how each event moves them.
//! - `server`: the HTTP endpoint (`--metrics-addr`).

mod families;
mod server;

pub use families::Metrics;
pub use server::MetricsServer;
