//! What the Python API's `up`, `down` and `plan` ask of the engine. The
//! package's wrappers pass their keyword arguments as one JSON object, read
//! here into the engine's own option types by the names manifests and the
//! command line give them (`"in-place"`, `"batch"`, `"quarantine"`...), so
//! the three front ends cannot drift apart.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mongoshift::policy::PolicySource;
use mongoshift::{MigrateError, Migrator};

use mongoshift::throttle::ThrottleOptions;
use mongoshift::{DownOptions, DownTarget, OnError, Strategy, TxMode, UpOptions, UpdateForm};
use pyo3::exceptions::PyValueError;
use pyo3::PyResult;
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// `up(...)` and `plan(...)`: what `mongoshift up` takes as flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpRequest {
    to: Option<String>,
    strategy: Option<Strategy>,
    transactions: Option<TxMode>,
    on_error: Option<OnError>,
    pre_images: Option<bool>,
    in_place_writes: Option<UpdateForm>,
    /// Report what would change instead of changing it.
    #[serde(default)]
    pub(crate) dry_run: bool,
    /// With `dry_run`: how many changed documents to show per migration.
    pub(crate) sample: Option<u64>,
    #[serde(default)]
    dangerously_allow_changed: Vec<String>,
    #[serde(default)]
    dangerously_resume_changed: Vec<String>,
    /// Documents per second, at most (`--max-rate`).
    max_rate: Option<u32>,
    /// Seconds of replication lag to wait above (`--max-lag`).
    max_lag: Option<u64>,
    /// Milliseconds of batch-commit latency to back off above
    /// (`--max-latency`).
    max_latency: Option<u64>,
    /// Pause by itself at this percentage done (`--pause-at`).
    pause_at: Option<f64>,
    /// Where to serve Prometheus metrics while the run goes on
    /// (`--metrics-addr`).
    pub(crate) metrics_addr: Option<String>,
    /// The operator's policy file (`--policy`).
    pub(crate) policy: Option<PathBuf>,
    /// Apply migrations that sort before an applied one
    /// (`--allow-out-of-order`).
    #[serde(default)]
    allow_out_of_order: bool,
    /// Leave Beanie's `migrations_log` as it is (`--no-beanie-log`).
    #[serde(default)]
    no_beanie_log: bool,
}

impl UpRequest {
    /// The engine's options.
    pub(crate) fn options(&self) -> UpOptions {
        UpOptions {
            to: self.to.clone(),
            strategy: self.strategy,
            in_place_writes: self.in_place_writes,
            dangerously_allow_changed: self.dangerously_allow_changed.clone(),
            dangerously_resume_changed: self.dangerously_resume_changed.clone(),
            transactions: self.transactions,
            on_error: self.on_error.unwrap_or(OnError::Abort),
            pre_images: self.pre_images,
            throttle: ThrottleOptions {
                max_rate: self.max_rate.filter(|r| *r > 0),
                max_lag: self.max_lag.map(Duration::from_secs),
                max_latency: self.max_latency.map(Duration::from_millis),
            },
            pause_at: self.pause_at,
            allow_out_of_order: self.allow_out_of_order,
            no_beanie_log: self.no_beanie_log,
            ..UpOptions::default()
        }
    }
}

/// `migrator` under the policy in `file` (none: as it is); refused when the
/// file lies inside the migrations directory `dir`.
pub(crate) fn with_policy(
    migrator: Migrator,
    file: Option<&Path>,
    dir: &str,
) -> Result<Migrator, MigrateError> {
    let Some(file) = file else {
        return Ok(migrator);
    };
    Ok(
        match PolicySource::File(file.to_path_buf()).load(Path::new(dir))? {
            Some(policy) => migrator.policy(policy),
            None => migrator,
        },
    )
}

/// `down(...)`: what `mongoshift down` takes as flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DownRequest {
    to: Option<String>,
    steps: Option<usize>,
    #[serde(default)]
    set_aside_writes_since_swap: bool,
    #[serde(default)]
    dangerously_allow_changed: Vec<String>,
}

impl DownRequest {
    /// How far to roll back: to a migration, or a number of steps (one by default).
    pub(crate) fn target(&self) -> DownTarget {
        DownTarget::from_request(self.to.as_deref(), self.steps)
    }

    /// The engine's options besides the target.
    pub(crate) fn options(&self) -> DownOptions {
        DownOptions {
            set_aside_writes_since_swap: self.set_aside_writes_since_swap,
            dangerously_allow_changed: self.dangerously_allow_changed.clone(),
            ..DownOptions::default()
        }
    }
}

/// Reads the options of `command` (none: the defaults); a bad one is a
/// `ValueError` naming the command and what is allowed.
pub(crate) fn parse<T: DeserializeOwned + Default>(
    command: &str,
    json: Option<&str>,
) -> PyResult<T> {
    match json {
        None => Ok(T::default()),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| PyValueError::new_err(format!("mongoshift.{command}(): {e}"))),
    }
}
