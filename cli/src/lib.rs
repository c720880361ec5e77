//! # mongoshift-cli
//!
//! The `mongoshift` command line, as a library over the `mongoshift` engine.
//! The binary and the Python package's `python -m mongoshift` both parse a
//! [`Cli`] and hand it to [`main`], so they offer the same commands, options,
//! output and exit codes. They differ only in their [`PythonHook`]: the
//! binary hands a command that runs Python migrations to the Python package,
//! the package runs them in process.
//!
//! A command flows through these modules, in this order:
//!
//! - `args`: the commands and their flags ([`Cli`]); flag values parse into
//!   the engine's own option types ([`values`]);
//! - `settings`: the global options resolved once, flags over
//!   `mongoshift.toml` (`config`) over defaults;
//! - `run`: the commands that work on files only ([`build`], [`scaffold`]),
//!   else the [`PythonHook`], the connection and a `Migrator`;
//! - `commands`: one function per command, calling the engine (`audit`:
//!   the audit trail); `fleet`:
//!   the same commands over a selection of databases; `local`: the
//!   commands that run transforms with no database (`test`, `run`);
//! - `signing`: `keygen`, `sign`, `verify --signatures` (files only) and
//!   the signature flags of `up`;
//! - `render`: progress events and results as bars, lines, tables or JSON;
//! - [`exit`]: the documented exit codes, and the one table from an error
//!   to its code.

// Printing is what a command line is for; the engine itself never prints.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod args;
mod audit;
pub mod build;
mod commands;
mod config;
mod cutover;
pub mod exit;
mod fleet;
mod local;
mod python;
mod quarantine;
mod render;
mod run;
mod run_args;
mod sample;
pub mod scaffold;
mod settings;
mod signing;
mod usage;
pub mod values;

pub use args::Cli;
pub use python::{PythonHook, RuntimeFactory};
pub use run::{main, main_from, run};
