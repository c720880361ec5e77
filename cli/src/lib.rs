//! # mongoshift-cli
//!
//! The `mongoshift` command line, as a library over the `mongoshift` engine.
//! The binary and the Python package's `python -m mongoshift` both parse a
//! [`Cli`] and hand it to [`main`], so they offer the same commands, options,
//! output and exit codes; they differ only in their [`PythonHook`]: the
//! binary hands a command that runs Python migrations to the Python package,
//! the package runs them in process.
//!
//! - [`Cli`]: the commands and their flags.
//! - [`exit`]: the documented exit codes, and the one table from an error to
//!   its code.
//! - [`build`]: compiling the guests of Wasm migrations (cargo, zig, asc,
//!   componentize-js, componentize-py).
//! - [`scaffold`]: new migrations from templates.
//!
//! The engine never prints; this crate renders its progress events and
//! results.

// Printing is what a command line is for.
#![allow(clippy::print_stdout, clippy::print_stderr)]

pub mod build;
mod cli;
mod config;
pub mod exit;
mod python;
mod render;
pub mod scaffold;
pub mod values;

pub use cli::{main, main_from, run, Cli};
pub use python::{PythonHook, RuntimeFactory};
