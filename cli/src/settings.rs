//! The settings every command shares, resolved once: a flag (or its
//! environment variable) wins over `mongoshift.toml`, which wins over the
//! defaults.

use std::path::PathBuf;
use std::time::Duration;

use mongoshift::{ConnectOptions, LockOptions};

use crate::args::{Global, ProgressMode};
use crate::config;

/// The resolved global options.
pub(crate) struct Settings {
    /// Where to connect.
    pub(crate) connect: ConnectOptions,
    /// The migrations directory.
    pub(crate) path: PathBuf,
    /// How the lock is taken.
    pub(crate) lock: LockOptions,
    /// How progress is shown.
    pub(crate) progress: ProgressMode,
}

impl Settings {
    /// Resolves the global flags against the config file and the defaults.
    pub(crate) fn resolve(g: Global) -> anyhow::Result<Settings> {
        let cfg = config::load(g.config.as_deref())?;
        let uri = g
            .uri
            .or(cfg.uri)
            .unwrap_or_else(|| "mongodb://localhost:27017".into());
        let mut connect = ConnectOptions::new(uri).connect_timeout(Duration::from_secs(
            g.connect_timeout.or(cfg.connect_timeout).unwrap_or(10),
        ));
        if let Some(db) = g.db.or(cfg.database) {
            connect = connect.database(db);
        }
        let lock = LockOptions::default().wait(Duration::from_secs(
            g.lock_timeout.or(cfg.lock_timeout).unwrap_or(120),
        ));
        Ok(Settings {
            connect,
            path: g.path.or(cfg.path).unwrap_or_else(|| "migrations".into()),
            lock,
            progress: g.progress,
        })
    }
}
