//! `mongoshift.toml`: defaults for the global options, so a project need not
//! repeat them on every command line.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// The file's contents. Every field is optional; flags and environment
/// variables win over it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// Connection string.
    pub(crate) uri: Option<String>,
    /// Target database.
    pub(crate) database: Option<String>,
    /// Migrations directory, relative to the config file.
    pub(crate) path: Option<PathBuf>,
    /// Seconds to wait for another run's lock.
    pub(crate) lock_timeout: Option<u64>,
    /// Seconds to wait for the server.
    pub(crate) connect_timeout: Option<u64>,
    /// A fleet: glob patterns of the databases to run over.
    pub(crate) databases: Option<Vec<String>>,
    /// A fleet: glob patterns of databases left out.
    pub(crate) exclude: Option<Vec<String>>,
    /// The operator's policy (read by the engine, with its lines).
    pub(crate) policy: Option<toml::Value>,
    /// The file read, when one was.
    #[serde(skip)]
    pub(crate) file: Option<PathBuf>,
    /// `up` and `plan` apply pending migrations that sort before an
    /// applied one (as `--allow-out-of-order`).
    pub(crate) allow_out_of_order: Option<bool>,
    /// `false`: `up` and `down` leave Beanie's `migrations_log` as it is
    /// (as `--no-beanie-log`).
    pub(crate) keep_beanie_log: Option<bool>,
}

pub(crate) const DEFAULT_FILE: &str = "mongoshift.toml";

/// Reads `explicit`, or `./mongoshift.toml` when present.
pub(crate) fn load(explicit: Option<&Path>) -> anyhow::Result<Config> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None if Path::new(DEFAULT_FILE).is_file() => PathBuf::from(DEFAULT_FILE),
        None => return Ok(Config::default()),
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    let mut cfg: Config =
        toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))?;
    cfg.file = Some(path.clone());
    if let (Some(p), Some(dir)) = (&cfg.path, path.parent()) {
        if p.is_relative() {
            cfg.path = Some(dir.join(p));
        }
    }
    Ok(cfg)
}
