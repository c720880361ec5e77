//! Running a parsed command line: the settings, then the commands that work
//! on files only (`new`, `build`, `test`, `run`), else the Python hook, the
//! connection and the command.

use std::ffi::OsString;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use mongoshift::{MigrationSource, Migrator, Target};

use crate::args::{Cli, Command};
use crate::python::{Prepared, PythonHook};
use crate::render::ProgressRenderer;
use crate::settings::Settings;
use crate::usage::UsageError;
use crate::{audit, commands, exit, fleet, local, quarantine, sample, signing};

/// Runs a parsed command line as the `mongoshift` command does: what the
/// command reports goes to stdout, an error to stderr; returns the exit code.
pub fn main(cli: Cli, python: &PythonHook) -> u8 {
    match run(cli, python) {
        Ok(code) => code,
        Err(err) => {
            // Every message already carries its causes; `{:#}` would repeat them.
            eprintln!("error: {err}");
            exit::code_for(&err)
        }
    }
}

/// Parses `args` (the arguments after the program's name) and runs them as
/// [`main`] does; `--help`, `--version` and usage errors print as they do in
/// the binary, with the same codes.
pub fn main_from<I, T>(args: I, python: &PythonHook) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args =
        std::iter::once(OsString::from("mongoshift")).chain(args.into_iter().map(Into::into));
    match Cli::try_parse_from(args) {
        Ok(cli) => main(cli, python),
        Err(e) => {
            let _ = e.print();
            u8::try_from(e.exit_code()).unwrap_or(exit::USAGE)
        }
    }
}

/// Runs a parsed command line; prints what the command reports and returns
/// the exit code (see [`exit`]), or the error of a failed command.
pub fn run(cli: Cli, python: &PythonHook) -> anyhow::Result<u8> {
    let settings = Settings::resolve(cli.global)?;
    let mut command = cli.command;
    match &mut command {
        Command::Up(args) => {
            args.allow_out_of_order |= settings.allow_out_of_order;
            args.no_beanie_log |= !settings.keep_beanie_log;
        }
        Command::Plan(args) => args.allow_out_of_order |= settings.allow_out_of_order,
        Command::Down(args) => args.no_beanie_log |= !settings.keep_beanie_log,
        _ => {}
    }
    match command {
        Command::New {
            name,
            kind,
            collection,
            lang,
        } => commands::new(&settings.path, &name, &kind, &collection, &lang),
        Command::Build { id } => commands::build(&settings.path, id.as_deref()),
        Command::Test { id, json } => local::test(&settings, id.as_deref(), json, python),
        Command::Run {
            id,
            input,
            output,
            direction,
            canonical,
        } => {
            let args = local::RunFile {
                id,
                input,
                output,
                direction: direction.direction(),
                canonical,
            };
            local::run_file(&settings, &args, python)
        }
        Command::Keygen(args) => signing::keygen(&args),
        Command::Sign(args) => signing::sign(&settings.path, &args),
        Command::Verify(args) if args.signatures => {
            signing::verify(&settings.path, &args.trust, settings.policy.as_ref())
        }
        Command::Verify(args) if args.trust.given() => Err(crate::usage::UsageError(
            "--trusted-key and --trusted-keys go with --signatures (or with `up`)".into(),
        )
        .into()),
        command => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            rt.block_on(connected(command, settings, python))
        }
    }
}

/// Runs a command that needs the database.
async fn connected(command: Command, mut s: Settings, python: &PythonHook) -> anyhow::Result<u8> {
    // Reading documents out needs no migrations.
    if let Command::Sample(args) = command {
        let target = Target::connect(&s.connect).await?;
        let res = sample::run(&target, args).await;
        target.close().await;
        return res;
    }
    // The audit trail needs no migrations either.
    if let Command::Audit(args) = command {
        if s.selection.is_some() {
            return Err(UsageError(
                "`audit` lists one database's trail: pass --db NAME instead of a database selection"
                    .into(),
            )
            .into());
        }
        let target = Target::connect(&s.connect).await?;
        let res = audit::run(&target, args).await;
        target.close().await;
        return res;
    }
    // Load the directory before connecting: a bad manifest is reported even
    // when the server is down.
    let source = MigrationSource::new(&s.path);
    let migrations = source.load()?;
    // Bad keys are reported before connecting, like bad manifests.
    let signatures = match &command {
        Command::Up(args) => args.signing.rule()?,
        _ => None,
    };
    // The policy is read before connecting too, and kept out of the
    // directory it judges.
    let policy = match &s.policy {
        Some(p) => p.load(&s.path).map_err(mongoshift::MigrateError::from)?,
        None => None,
    };
    // The operator's trusted keys cannot be added to from the command line.
    if let (Some(p), Some(_)) = (&policy, &signatures) {
        if !p.trusted_keys.is_empty()
            || p.signatures.value == mongoshift::policy::Signatures::Required
        {
            return Err(UsageError(format!(
                "the policy {} sets the trusted keys and whether signatures are required: \
                 --trusted-key, --trusted-keys and --require-signatures cannot be given with it",
                p.path.display()
            ))
            .into());
        }
    }
    // Python migrations need the Python package (see python.rs).
    let needs_python = matches!(
        command,
        Command::Plan(_)
            | Command::Up(_)
            | Command::Verify(crate::args::VerifyArgs { data: Some(_), .. })
            | Command::Down(_)
            | Command::Quarantine {
                action: crate::args::QuarantineAction::Replay { .. }
            }
    );
    let python = match python.prepare(&migrations, needs_python, &s.connect.uri)? {
        Prepared::Exited(code) => return Ok(code),
        Prepared::Attach(attach) => attach,
    };
    let target = Target::connect(&s.connect).await?;
    let renderer = Arc::new(ProgressRenderer::new(s.progress, s.verbose));
    let migrator = Migrator::new(&source, target.clone()).map(|m| {
        let m = match signatures {
            Some((keys, requirement)) => m.signatures(keys, requirement),
            None => m,
        };
        match policy {
            Some(p) => m.policy(p),
            None => m,
        }
    });
    let res = match (migrator, s.selection.take()) {
        (Ok(m), Some(selection)) => {
            let base = m.lock_options(s.lock);
            fleet::run(command, base, &selection, python, s.progress).await
        }
        (Ok(m), None) => {
            let migrator = python(m.lock_options(s.lock).progress(renderer.clone()));
            dispatch(command, &migrator, &renderer).await
        }
        (Err(e), _) => Err(e.into()),
    };
    // Before the runtime stops: a client left to its drop ends its sessions
    // in a background task that can race the runtime's shutdown.
    target.close().await;
    res
}

async fn dispatch(
    command: Command,
    migrator: &Migrator,
    renderer: &ProgressRenderer,
) -> anyhow::Result<u8> {
    // A swap a dead run left half-way comes first: what happened to the
    // collection, and what to run.
    if !matches!(
        command,
        Command::Prune { .. }
            | Command::Baseline { .. }
            | Command::Unlock { .. }
            | Command::Workers { .. }
            | Command::Pause { .. }
            | Command::Resume { .. }
            | Command::Swap { .. }
    ) {
        for i in migrator.interrupted().await? {
            eprintln!("warning: {i}");
        }
    }
    match command {
        Command::New { .. }
        | Command::Build { .. }
        | Command::Test { .. }
        | Command::Run { .. }
        | Command::Keygen(_)
        | Command::Sign(_)
        | Command::Sample(_)
        | Command::Audit(_) => unreachable!("run before loading the migrations"),
        Command::Status { json } => commands::status(migrator, json).await,
        Command::Plan(args) => commands::plan(migrator, args).await,
        Command::Up(args) => commands::up(migrator, *args, renderer).await,
        Command::Down(args) => commands::down(migrator, args, renderer).await,
        Command::Verify(args) => commands::verify(migrator, args).await,
        Command::Prune {
            id,
            older_than_days,
        } => commands::prune(migrator, id.as_deref(), older_than_days).await,
        Command::Unlock { force } => commands::unlock(migrator, force).await,
        Command::Baseline { to } => commands::baseline(migrator, &to).await,
        Command::Pause { id } => commands::pause(migrator, &id, true).await,
        Command::Resume { id } => commands::pause(migrator, &id, false).await,
        Command::Swap { id } => commands::swap(migrator, &id).await,
        Command::Quarantine { action } => quarantine::run(migrator, action).await,
        Command::Workers { json } => commands::workers(migrator, json).await,
    }
}
