//! The commands over a fleet of databases (`--databases`,
//! `--all-databases`, `--databases-from`, or `databases` in
//! `mongoshift.toml`): one [`Fleet`] over the selected databases, each
//! with its own migrator, ledger and lock.

use std::sync::Arc;

use mongoshift::fleet::{DatabaseOutcome, Fleet, Selection, Tally};
use mongoshift::{DownTarget, Migrator, UpOptions};

use crate::args::{Command, DownArgs, PlanArgs, ProgressMode, UpArgs};
use crate::exit;
use crate::render::{self, FleetRenderer};
use crate::usage::UsageError;

/// What prepares each database's migrator (the Python hook).
pub(crate) type Attach<'a> = Box<dyn Fn(Migrator) -> Migrator + Send + Sync + 'a>;

/// Runs `command` over the databases `selection` chooses, each database
/// through a copy of `base` made for it.
pub(crate) async fn run(
    command: Command,
    base: Migrator,
    selection: &Selection,
    attach: Attach<'_>,
    progress: ProgressMode,
) -> anyhow::Result<u8> {
    if matches!(&command, Command::Up(up) if up.dry_run) {
        return Err(UsageError(
            "--dry-run runs on one database: pass --db NAME instead of a database selection".into(),
        )
        .into());
    }
    if let Command::Up(up) = &command {
        let UpArgs {
            distributed,
            metrics,
            ..
        } = &**up;
        if distributed.distributed {
            return Err(UsageError(
                "--distributed shares one database's migrations among workers: pass --db NAME \
                 instead of a database selection"
                    .into(),
            )
            .into());
        }
        if metrics.metrics_addr.is_some() {
            return Err(UsageError(
                "--metrics-addr serves the metrics of one database's run: pass --db NAME \
                 instead of a database selection"
                    .into(),
            )
            .into());
        }
    }
    if let Command::Prune { .. }
    | Command::Baseline { .. }
    | Command::Unlock { .. }
    | Command::Workers { .. }
    | Command::Quarantine { .. }
    | Command::Pause { .. }
    | Command::Resume { .. }
    | Command::Swap { .. }
    | Command::Verify(crate::args::VerifyArgs { data: Some(_), .. })
    | Command::Sample(_) = command
    {
        return Err(UsageError(
            "`prune`, `baseline`, `unlock`, `workers`, `quarantine`, `pause`, `resume`, `swap`, `verify --data` and `sample` work on one database: pass --db NAME instead of a database selection"
                .into(),
        )
        .into());
    }
    let databases = selection.resolve(base.target().client()).await?;
    let renderer = Arc::new(FleetRenderer::new(progress));
    let fleet = Fleet::new(base, databases)
        .prepare(attach)
        .progress(renderer.clone());
    match command {
        Command::Status { json } => status(&fleet, json).await,
        Command::Plan(args) => plan(&fleet, args).await,
        Command::Up(args) => up(fleet, *args, &renderer).await,
        Command::Down(args) => down(fleet, args, &renderer).await,
        Command::Verify(_) => verify(&fleet).await,
        Command::New { .. }
        | Command::Build { .. }
        | Command::Test { .. }
        | Command::Run { .. }
        | Command::Prune { .. }
        | Command::Baseline { .. }
        | Command::Unlock { .. }
        | Command::Workers { .. }
        | Command::Quarantine { .. }
        | Command::Pause { .. }
        | Command::Resume { .. }
        | Command::Swap { .. }
        | Command::Keygen(_)
        | Command::Sign(_)
        | Command::Sample(_)
        | Command::Audit(_) => unreachable!("refused or run before connecting"),
    }
}

async fn status(fleet: &Fleet<'_>, json: bool) -> anyhow::Result<u8> {
    let s = fleet.status().await;
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        render::fleet::status(&s);
    }
    let unreadable = s.databases.iter().any(|d| d.error.is_some());
    Ok(if unreadable { exit::FAILED } else { exit::OK })
}

async fn plan(fleet: &Fleet<'_>, args: PlanArgs) -> anyhow::Result<u8> {
    let outcomes = match args.down_steps {
        Some(n) => fleet.plan_down(&DownTarget::Steps(n)).await,
        None => {
            fleet
                .plan_up(&UpOptions {
                    to: args.to,
                    strategy: args.strategy,
                    allow_out_of_order: args.allow_out_of_order,
                    ..UpOptions::default()
                })
                .await
        }
    };
    if args.json {
        let out = serde_json::json!({
            "concurrency": fleet.concurrency(),
            "databases": outcomes,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        render::fleet::plans(&outcomes, fleet.concurrency());
    }
    Ok(code(&outcomes))
}

async fn up(fleet: Fleet<'_>, args: UpArgs, renderer: &FleetRenderer) -> anyhow::Result<u8> {
    let fleet = fleet.options(args.fleet.options());
    let outcomes = fleet.up(&args.options()).await;
    renderer.finish();
    render::fleet::summary(&outcomes, "applied", renderer.mode());
    Ok(code(&outcomes))
}

async fn down(fleet: Fleet<'_>, args: DownArgs, renderer: &FleetRenderer) -> anyhow::Result<u8> {
    let fleet = fleet.options(args.fleet.options());
    let outcomes = fleet.down(&args.target(), &args.options()).await;
    renderer.finish();
    render::fleet::summary(&outcomes, "rolled back", renderer.mode());
    Ok(code(&outcomes))
}

async fn verify(fleet: &Fleet<'_>) -> anyhow::Result<u8> {
    let outcomes = fleet.verify().await;
    let failed = Tally::of(&outcomes).failed;
    let differ = render::fleet::verify(&outcomes);
    Ok(match (failed, differ) {
        (0, 0) => exit::OK,
        (0, _) => exit::MISMATCH,
        _ => code(&outcomes),
    })
}

/// The exit code of a fleet run: 0 when every database did it; else the
/// code its failures share (all checksum mismatches: 3), or 1.
fn code<T>(outcomes: &[DatabaseOutcome<T>]) -> u8 {
    let mut codes = outcomes.iter().filter_map(|o| o.error()).map(exit::code_of);
    match codes.next() {
        None => exit::OK,
        Some(first) if codes.all(|c| c == first) => first,
        Some(_) => exit::FAILED,
    }
}
