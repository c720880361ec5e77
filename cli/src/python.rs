//! Python migrations from the command line.
//!
//! The `mongoshift` binary does not link Python. When a command needs to run
//! a Python migration, it hands the whole command to the Python package:
//! `python -m mongoshift <the same arguments>`, with the interpreter of the
//! active virtual environment (`$VIRTUAL_ENV/bin/python`) or else the first
//! `python3` on `PATH`. That process runs this same command line with its
//! runtime in process ([`PythonHook::InProcess`]), so the user's modules and
//! Beanie import as they do in their application. Without such a Python, the
//! migrations run here and each Python migration fails with the reason.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use mongoshift::python::{PythonPlan, PythonRuntime, NO_RUNTIME};
use mongoshift::{Direction, Kind, Migration, Migrator};

use crate::exit;

/// Set in the delegated process, so it never delegates again.
const DELEGATED: &str = "MONGOSHIFT_DELEGATED";

/// Makes the runtime for a connection string and a target database.
pub type RuntimeFactory = dyn Fn(&str, &str) -> Arc<dyn PythonRuntime> + Send + Sync;

/// How the command line runs Python migrations.
#[non_exhaustive]
pub enum PythonHook {
    /// Hand a command that runs Python migrations to `python -m mongoshift`
    /// (the binary, which does not link Python).
    Delegate,
    /// Run them in this process with the runtime the factory makes for the
    /// connection string and the target database (the Python package).
    InProcess(Box<RuntimeFactory>),
}

impl std::fmt::Debug for PythonHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PythonHook::Delegate => "PythonHook::Delegate",
            PythonHook::InProcess(_) => "PythonHook::InProcess",
        })
    }
}

/// What a command does about Python migrations.
pub(crate) enum Prepared<'a> {
    /// The Python package ran the command; this is its exit code.
    Exited(u8),
    /// Run here; this prepares a migrator (in a fleet run, each database's).
    Attach(Box<dyn Fn(Migrator) -> Migrator + Send + Sync + 'a>),
}

impl PythonHook {
    /// Decides, before connecting, how the command runs the Python migrations
    /// among `migrations` (`needed`: whether the command runs migrations).
    pub(crate) fn prepare<'a>(
        &'a self,
        migrations: &[Migration],
        needed: bool,
        uri: &'a str,
    ) -> anyhow::Result<Prepared<'a>> {
        let PythonHook::InProcess(factory) = self else {
            let has_python = migrations.iter().any(|m| m.manifest.kind == Kind::Python);
            if !has_python || !needed {
                return Ok(Prepared::Attach(Box::new(|m| m)));
            }
            return delegate();
        };
        Ok(Prepared::Attach(Box::new(move |m: Migrator| {
            let runtime = factory(uri, m.target().db().name());
            m.python_runtime(runtime)
        })))
    }
}

/// How `test` and `run` read Python migrations: no connection, only the
/// runtime that turns a file into its transform.
pub(crate) enum LocalPython {
    /// The Python package ran the command; this is its exit code.
    Exited(u8),
    /// Run here with this runtime.
    Runtime(Arc<dyn PythonRuntime>),
}

impl PythonHook {
    /// Decides how a command that runs transforms with no database reads
    /// the Python migrations among `migrations`; `uri` and `database` are
    /// only handed to the Python code (a Beanie file may read them).
    pub(crate) fn local(
        &self,
        migrations: &[Migration],
        uri: &str,
        database: &str,
    ) -> anyhow::Result<LocalPython> {
        if let PythonHook::InProcess(factory) = self {
            return Ok(LocalPython::Runtime(factory(uri, database)));
        }
        let why = if migrations.iter().any(|m| m.manifest.kind == Kind::Python) {
            match hand_over()? {
                Ok(code) => return Ok(LocalPython::Exited(code)),
                Err(why) => why,
            }
        } else {
            "no Python migration was asked for".into()
        };
        Ok(LocalPython::Runtime(Arc::new(Unavailable(why))))
    }
}

/// The runtime of a command line with no Python: every Python migration
/// fails with the reason.
struct Unavailable(String);

impl PythonRuntime for Unavailable {
    fn load(&self, _: &Migration, _: Direction) -> Result<PythonPlan, String> {
        Err(format!("no Python runtime ({}); {NO_RUNTIME}", self.0))
    }
}

/// Runs the command through `python -m mongoshift` when a Python with the
/// package is found; otherwise Python migrations fail here with the reason.
fn delegate() -> anyhow::Result<Prepared<'static>> {
    Ok(match hand_over()? {
        Ok(code) => Prepared::Exited(code),
        Err(why) => Prepared::Attach(Box::new(move |m: Migrator| {
            m.python_unavailable(why.clone())
        })),
    })
}

/// Runs the command through `python -m mongoshift` and returns its exit
/// code, or says why there is no Python with the package to run it.
fn hand_over() -> anyhow::Result<Result<u8, String>> {
    if std::env::var_os(DELEGATED).is_some() {
        return Ok(Err(
            "the Python package started this binary instead of running the migrations itself"
                .into(),
        ));
    }
    let python = match find_python() {
        Ok(p) => p,
        Err(why) => return Ok(Err(why)),
    };
    let probe = Command::new(&python)
        .args(["-c", "import mongoshift._native"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        return Ok(Err(format!(
            "{} cannot import the mongoshift package",
            python.display()
        )));
    }
    let status = Command::new(&python)
        .args(["-m", "mongoshift"])
        .args(std::env::args_os().skip(1))
        .env(DELEGATED, "1")
        .status()
        .map_err(|e| anyhow::anyhow!("cannot run {} -m mongoshift: {e}", python.display()))?;
    // A signal has no code: the command failed.
    Ok(Ok(status
        .code()
        .and_then(|c| u8::try_from(c).ok())
        .unwrap_or(exit::FAILED)))
}

/// `$VIRTUAL_ENV/bin/python`, else the first `python3` on `PATH`.
fn find_python() -> Result<PathBuf, String> {
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(&venv).join("bin").join("python");
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "VIRTUAL_ENV is {} but it has no bin/python",
                PathBuf::from(venv).display()
            ))
        };
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("python3"))
        .find(|p| p.is_file())
        .ok_or_else(|| "no VIRTUAL_ENV and no python3 on PATH".to_string())
}
