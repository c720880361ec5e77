//! The `mongoshift` command: parses arguments, calls the library, renders.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cli;
mod config;
mod exit;
mod python;
mod render;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    if args.only_reports() {
        // A report piped into `head` ends quietly, as other tools do. Commands
        // that change data keep Rust's default (a closed pipe is an error the
        // progress output ignores, so a migration is never cut short by it).
        // SAFETY: called before any other thread exists; SIG_DFL is a valid
        // disposition for SIGPIPE.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            // Every message already carries its causes; `{:#}` would repeat them.
            eprintln!("error: {err}");
            exit::code_for(&err)
        }
    }
}
