//! The flags of `up` that say how a run goes on a live deployment: its
//! throttle and pause point, its place among distributed workers, and where
//! it serves metrics.

use std::time::Duration;

use clap::Args;
use mongoshift::partition::DistributedOptions;
use mongoshift::throttle::ThrottleOptions;

use crate::values;

/// How fast `up` may write on a live deployment; see docs/operations.md.
#[derive(Debug, Args)]
pub(crate) struct ThrottleArgs {
    /// Commit at most this many documents per second, smoothly [default:
    /// the manifest's `max_rate`, else no limit]
    #[arg(long, value_name = "DOCS_PER_S", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_rate: Option<u32>,
    /// Wait before each commit while a secondary lags the primary by more
    /// than this many seconds [default: the manifest's `max_lag_s`]
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_lag: Option<u64>,
    /// Back off while this run's batch commits take longer than this many
    /// milliseconds on average [default: the manifest's `max_latency_ms`]
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_latency: Option<u64>,
    /// Pause by itself once this percentage of a migration's documents is
    /// done (for rehearsals); `mongoshift resume ID` goes on
    #[arg(long, value_name = "PERCENT", value_parser = values::percent(), conflicts_with = "dry_run")]
    pub(crate) pause_at: Option<f64>,
}

impl ThrottleArgs {
    /// The limits the flags set.
    pub(crate) fn options(&self) -> ThrottleOptions {
        ThrottleOptions {
            max_rate: self.max_rate,
            max_lag: self.max_lag.map(Duration::from_secs),
            max_latency: self.max_latency.map(Duration::from_millis),
        }
    }
}

/// How `up --distributed` shares a migration among workers; see
/// docs/scaling.md.
#[derive(Debug, Args)]
pub(crate) struct DistributedArgs {
    /// Run as one of any number of workers sharing each migration by `_id`
    /// partitions, coordinated through the target database
    #[arg(long, conflicts_with_all = ["dry_run", "strategy"])]
    pub(crate) distributed: bool,
    /// With --distributed: this worker's name, recorded on what it claims
    /// [default: host name and process id]
    #[arg(
        long,
        value_name = "NAME",
        requires = "distributed",
        env = "MONGOSHIFT_WORKER"
    )]
    pub(crate) worker: Option<String>,
    /// With --distributed: the documents a partition aims at [default:
    /// 1000000]
    #[arg(long, value_name = "N", requires = "distributed", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) partition_docs: Option<u64>,
    /// With --distributed: run only partition K (0-based) of a split into
    /// exactly N (--of), instead of claiming
    #[arg(long, value_name = "K", requires_all = ["distributed", "of"])]
    pub(crate) partition: Option<u32>,
    /// With --partition: how many partitions the split makes
    #[arg(long, value_name = "N", requires = "partition", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) of: Option<u32>,
}

impl DistributedArgs {
    /// What the flags ask of a distributed worker, when they ask for one.
    pub(crate) fn options(&self) -> Option<DistributedOptions> {
        if !self.distributed {
            return None;
        }
        let mut o = DistributedOptions::new(self.worker.clone().unwrap_or_default());
        if let Some(n) = self.partition_docs {
            o = o.partition_docs(n);
        }
        if let (Some(k), Some(n)) = (self.partition, self.of) {
            o = o.pinned(k, n);
        }
        Some(o)
    }
}

/// Where a run serves its metrics; see docs/operations.md.
#[derive(Debug, Args)]
pub(crate) struct MetricsArgs {
    /// Serve Prometheus metrics at http://HOST:PORT/metrics while the run
    /// goes on (refused before anything runs when the address is in use)
    #[arg(long, value_name = "HOST:PORT", env = "MONGOSHIFT_METRICS_ADDR")]
    pub(crate) metrics_addr: Option<String>,
}
