//! Python migrations from the Rust CLI.
//!
//! This binary does not link Python. When a command needs to run a Python
//! migration, it hands the whole command to the Python package:
//! `python -m mongoshift <the same arguments>`, with the interpreter of the
//! active virtual environment (`$VIRTUAL_ENV/bin/python`) or else the first
//! `python3` on `PATH`. That process runs the same CLI over the same engine
//! (compiled into the package) with a Python runtime registered, so the user's
//! modules and Beanie import as they do in their application. Without such a
//! Python, the migrations run here and each Python migration fails with the
//! reason.

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use mongoshift::{Kind, Migration, Migrator};

/// Set in the delegated process, so it never delegates again.
const DELEGATED: &str = "MONGOSHIFT_DELEGATED";

pub(crate) enum Hook {
    /// The Python package ran the command; this is its exit code.
    Exited(ExitCode),
    /// Run here; this prepares the migrator.
    Attach(Box<dyn FnOnce(Migrator) -> Migrator>),
}

pub(crate) fn hook(migrations: &[Migration], needed: bool, _uri: &str) -> anyhow::Result<Hook> {
    let has_python = migrations.iter().any(|m| m.manifest.kind == Kind::Python);
    if !has_python || !needed {
        return Ok(Hook::Attach(Box::new(|m| m)));
    }
    if std::env::var_os(DELEGATED).is_some() {
        let why = "the Python package started this binary instead of running the migrations itself";
        return Ok(Hook::Attach(Box::new(move |m| m.python_unavailable(why))));
    }
    let python = match find_python() {
        Ok(p) => p,
        Err(why) => return Ok(Hook::Attach(Box::new(move |m| m.python_unavailable(why)))),
    };
    let probe = Command::new(&python)
        .args(["-c", "import mongoshift._native"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        let why = format!("{} cannot import the mongoshift package", python.display());
        return Ok(Hook::Attach(Box::new(move |m| m.python_unavailable(why))));
    }
    let status = Command::new(&python)
        .args(["-m", "mongoshift"])
        .args(std::env::args_os().skip(1))
        .env(DELEGATED, "1")
        .status()
        .map_err(|e| anyhow::anyhow!("cannot run {} -m mongoshift: {e}", python.display()))?;
    Ok(Hook::Exited(ExitCode::from(
        status.code().map_or(crate::exit::FAILED, |c| c as u8),
    )))
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
