//! The settings every command shares, resolved once: a flag (or its
//! environment variable) wins over `mongoshift.toml`, which wins over the
//! defaults.

use std::path::PathBuf;
use std::time::Duration;

use mongoshift::fleet::Selection;
use mongoshift::policy::PolicySource;
use mongoshift::{ConnectOptions, LockOptions};

use crate::args::{Global, ProgressMode, SelectionArgs};
use crate::config::{self, Config};
use crate::usage::UsageError;

/// The environment variable of `--db`.
const DB_ENV: &str = "MONGOSHIFT_DB";

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
    /// Whether transforms' log lines are shown (`-v`).
    pub(crate) verbose: bool,
    /// The databases of a fleet run; `None`: one database, as always.
    pub(crate) selection: Option<Selection>,
    /// Where the operator's policy is read from, when one is given.
    pub(crate) policy: Option<PolicySource>,
    /// The config file's `allow_out_of_order`.
    pub(crate) allow_out_of_order: bool,
    /// The config file's `keep_beanie_log`.
    pub(crate) keep_beanie_log: bool,
}

impl Settings {
    /// Resolves the global flags against the config file and the defaults.
    pub(crate) fn resolve(g: Global) -> anyhow::Result<Settings> {
        let mut cfg = config::load(g.config.as_deref())?;
        let selection = selection(&g.selection, g.db.as_deref(), &mut cfg)?;
        let uri = g
            .uri
            .or(cfg.uri)
            .unwrap_or_else(|| "mongodb://localhost:27017".into());
        let mut connect = ConnectOptions::new(uri).connect_timeout(Duration::from_secs(
            g.connect_timeout.or(cfg.connect_timeout).unwrap_or(10),
        ));
        if selection.is_some() {
            // The fleet's databases come from the selection; this one only
            // anchors the connection (`hello`, `listDatabases`).
            connect = connect.database("admin");
        } else if let Some(db) = g.db.or(cfg.database) {
            connect = connect.database(db);
        }
        let mut lock = LockOptions::default().wait(Duration::from_secs(
            g.lock_timeout.or(cfg.lock_timeout).unwrap_or(120),
        ));
        if let Some(ttl) = g.lock_ttl {
            lock = lock.ttl(Duration::from_secs(ttl));
        }
        let policy = match (g.policy, &cfg.policy, &cfg.file) {
            (Some(file), _, _) => Some(PolicySource::File(file)),
            (None, Some(_), Some(file)) => Some(PolicySource::Table(file.clone())),
            _ => None,
        };
        Ok(Settings {
            policy,
            connect,
            path: g.path.or(cfg.path).unwrap_or_else(|| "migrations".into()),
            lock,
            progress: g.progress,
            verbose: g.verbose,
            selection,
            allow_out_of_order: cfg.allow_out_of_order.unwrap_or(false),
            keep_beanie_log: cfg.keep_beanie_log.unwrap_or(true),
        })
    }
}

/// The fleet selection: the flags', else the config file's `databases` when
/// no database is named (`--db`, `MONGOSHIFT_DB`); `None` for a
/// single-database run. A `--db` flag with selection flags is a usage
/// error; `MONGOSHIFT_DB` from the environment gives way to them.
fn selection(
    flags: &SelectionArgs,
    db: Option<&str>,
    cfg: &mut Config,
) -> anyhow::Result<Option<Selection>> {
    let from_env = std::env::var(DB_ENV).ok();
    let db_flag = db.filter(|d| from_env.as_deref() != Some(*d));
    let exclude = if flags.exclude.is_empty() {
        cfg.exclude.take().unwrap_or_default()
    } else {
        flags.exclude.clone()
    };
    if flags.chooses() {
        if let Some(d) = db_flag {
            return Err(UsageError(format!(
                "--db {d} names one database, --databases/--all-databases/--databases-from choose a fleet: pass one or the other"
            ))
            .into());
        }
        return Ok(Some(Selection {
            patterns: flags.databases.clone(),
            exclude,
            all: flags.all_databases,
            from_file: flags.databases_from.clone(),
        }));
    }
    match cfg.databases.take() {
        Some(patterns) if db.is_none() && !patterns.is_empty() => Ok(Some(Selection {
            patterns,
            exclude,
            ..Selection::default()
        })),
        _ if !flags.exclude.is_empty() => Err(UsageError(
            "--exclude leaves databases out of a fleet: choose one with --databases, --all-databases or --databases-from".into(),
        )
        .into()),
        _ => Ok(None),
    }
}
