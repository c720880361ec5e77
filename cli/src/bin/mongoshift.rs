//! The `mongoshift` command: parses the arguments and hands them to the
//! command-line library.

use std::process::ExitCode;

use clap::Parser;
use mongoshift_cli::{Cli, PythonHook};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.only_reports() {
        // A report piped into `head` ends quietly, as other tools do. Commands
        // that change data keep Rust's default (a closed pipe is an error the
        // progress output ignores, so a migration is never cut short by it).
        // SAFETY: called before any other thread exists; SIG_DFL is a valid
        // disposition for SIGPIPE.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    ExitCode::from(mongoshift_cli::main(cli, &PythonHook::Delegate))
}
