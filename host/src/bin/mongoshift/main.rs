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
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            // Every message already carries its causes; `{:#}` would repeat them.
            eprintln!("error: {err}");
            exit::code_for(&err)
        }
    }
}
