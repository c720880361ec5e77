//! Arguments and dispatch.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use mongoshift::{
    ConnectOptions, DownOptions, DownTarget, LockOptions, MigrationSource, Migrator, OnError,
    Strategy, Target, TxMode, UnlockOutcome, UpOptions, UpdateForm,
};

use crate::python::{Prepared, PythonHook};
use crate::{config, exit, render, values};

/// Fast, safe MongoDB data migrations.
#[derive(Debug, Parser)]
#[command(name = "mongoshift", version, about, after_help = exit::HELP)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// Whether the command only reports (and changes nothing).
    pub fn only_reports(&self) -> bool {
        matches!(
            self.command,
            Command::Status { .. }
                | Command::Plan { .. }
                | Command::Verify
                | Command::Up { dry_run: true, .. }
        )
    }
}

#[derive(Debug, Args)]
struct Global {
    /// Connection string [default: mongodb://localhost:27017]
    #[arg(long, env = "MONGODB_URI", global = true, hide_env_values = true)]
    uri: Option<String>,
    /// Target database [default: the one in the connection string]
    #[arg(long, env = "MONGOSHIFT_DB", global = true)]
    db: Option<String>,
    /// Migrations directory [default: ./migrations]
    #[arg(long, global = true)]
    path: Option<PathBuf>,
    /// Config file [default: ./mongoshift.toml when present]
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Seconds to wait for another run's lock [default: 120]
    #[arg(long, global = true)]
    lock_timeout: Option<u64>,
    /// Seconds to wait for the server [default: 10]
    #[arg(long, global = true)]
    connect_timeout: Option<u64>,
    /// How to show progress
    #[arg(long, value_enum, env = "MONGOSHIFT_PROGRESS", default_value_t = ProgressMode::Auto, global = true)]
    progress: ProgressMode,
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ProgressMode {
    /// Bars on a terminal, plain lines otherwise.
    Auto,
    /// Bars.
    Bar,
    /// Plain lines on stderr.
    Plain,
    /// One JSON event per line on stdout.
    Json,
    /// Nothing.
    None,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a new migration from a template.
    New {
        /// A short name, e.g. add_status.
        name: String,
        /// The kind of migration.
        #[arg(long, default_value = "update")]
        kind: String,
        /// The collection it changes.
        #[arg(long, default_value = "users")]
        collection: String,
        /// The language of a wasm migration's guest: rust, c, assemblyscript,
        /// js or python.
        #[arg(long, default_value = "rust")]
        lang: String,
    },
    /// Compile the guests of wasm migrations (Rust, C, AssemblyScript,
    /// JavaScript or Python, told by their files) into their modules.
    Build {
        /// Only this migration, or a directory holding one `migration.toml`
        /// (such as examples/guests/c/split_name).
        id: Option<String>,
    },
    /// Show every migration and where it stands.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show what `up` (or `down`) would do, with matching document counts.
    Plan {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Plan up to and including this migration.
        #[arg(long)]
        to: Option<String>,
        /// Plan a rollback of this many migrations instead.
        #[arg(long, conflicts_with = "to")]
        down_steps: Option<usize>,
        /// Plan with this write strategy (as `up --strategy`)
        #[arg(long, value_parser = values::strategy())]
        strategy: Option<Strategy>,
    },
    /// Apply pending migrations in order.
    Up {
        /// Stop after this migration.
        #[arg(long)]
        to: Option<String>,
        /// Accept the changed file of this applied migration and record its new
        /// checksum (the database keeps what the old file did). Repeatable.
        #[arg(long, value_name = "ID")]
        dangerously_allow_changed: Vec<String>,
        /// Go on from the checkpoint of this migration, which stopped
        /// part-way, with its changed files (both checksums are recorded; the
        /// documents done keep what the earlier files did). Repeatable.
        #[arg(long, value_name = "ID")]
        dangerously_resume_changed: Vec<String>,
        /// How document writes are grouped into transactions [default: batch,
        /// or none on a standalone server]
        #[arg(long, value_parser = values::tx_mode())]
        transactions: Option<TxMode>,
        /// What to do with a document the transform fails
        #[arg(long, value_parser = values::on_error(), default_value = "abort")]
        on_error: OnError,
        /// Keep pre-images of changed documents for `down` [default: when the
        /// module has no backward transform]
        #[arg(long, overrides_with = "no_pre_images")]
        pre_images: bool,
        /// Do not keep pre-images
        #[arg(long)]
        no_pre_images: bool,
        /// Where document-by-document migrations write: back in place, or
        /// into a copy that replaces the collection [default: the manifest's,
        /// else auto]
        #[arg(long, value_parser = values::strategy())]
        strategy: Option<Strategy>,
        /// How in-place runs write a changed document [default: the
        /// manifest's, else set]
        #[arg(long, value_parser = values::update_form())]
        in_place_writes: Option<UpdateForm>,
        /// Run the transforms without writing; report what would change
        #[arg(long)]
        dry_run: bool,
        /// With --dry-run: only the first N documents of each migration
        #[arg(long, requires = "dry_run")]
        sample: Option<u64>,
    },
    /// Roll back applied migrations, newest first.
    Down {
        /// Roll back everything applied after this migration (it stays applied).
        #[arg(long, conflicts_with = "steps")]
        to: Option<String>,
        /// Roll back this many migrations.
        #[arg(long)]
        steps: Option<usize>,
        /// Roll back this migration, whose files changed since it ran, by the
        /// backward transform or steps of the files on disk (they may not undo
        /// what the earlier files did). Repeatable.
        #[arg(long, value_name = "ID")]
        dangerously_allow_changed: Vec<String>,
    },
    /// Check the checksums of applied migrations against the files on disk.
    Verify,
    /// Drop the pre-images kept for rollback of applied migrations.
    Prune {
        /// Only this migration (default: every applied migration).
        id: Option<String>,
        /// Only pre-images of migrations applied at least this many days ago.
        #[arg(long, default_value_t = 0)]
        older_than_days: u64,
    },
    /// Clear a lock left by a run that died.
    Unlock {
        /// Clear it even if its holder looks alive.
        #[arg(long)]
        force: bool,
    },
}

struct Resolved {
    connect: ConnectOptions,
    path: PathBuf,
    lock: LockOptions,
    progress: ProgressMode,
}

fn resolve(g: Global) -> anyhow::Result<Resolved> {
    let cfg = config::load(g.config.as_deref())?;
    let uri = g
        .uri
        .or(cfg.uri)
        .unwrap_or_else(|| "mongodb://localhost:27017".into());
    let mut connect = ConnectOptions::new(uri).connect_timeout(Duration::from_secs(
        g.connect_timeout.or(cfg.connect_timeout).unwrap_or(10),
    ));
    if let Some(db) = g.db.or(cfg.database) {
        connect = connect.database(db);
    }
    let lock = LockOptions::default().wait(Duration::from_secs(
        g.lock_timeout.or(cfg.lock_timeout).unwrap_or(120),
    ));
    Ok(Resolved {
        connect,
        path: g.path.or(cfg.path).unwrap_or_else(|| "migrations".into()),
        lock,
        progress: g.progress,
    })
}

/// Runs a parsed command line; prints what the command reports and returns
/// the exit code (see [`exit`]), or the error of a failed command.
pub fn run(cli: Cli, python: &PythonHook) -> anyhow::Result<u8> {
    let r = resolve(cli.global)?;
    if let Command::New {
        name,
        kind,
        collection,
        lang,
    } = &cli.command
    {
        let language: crate::build::Language =
            lang.parse().map_err(|e: String| anyhow::anyhow!(e))?;
        if kind != "wasm" && language != crate::build::Language::Rust {
            anyhow::bail!("--lang applies to --kind wasm only");
        }
        let path = match kind.as_str() {
            "update" => crate::scaffold::new_update_migration(&r.path, name, collection)?,
            "wasm" => crate::scaffold::new_wasm_migration_in(&r.path, name, collection, language)?,
            other => anyhow::bail!(
                "unknown migration kind `{other}`; known kinds: {}",
                mongoshift::manifest::KNOWN_KINDS.join(", ")
            ),
        };
        println!("created {}", path.display());
        if kind == "wasm" {
            let file = match language {
                crate::build::Language::C => "transform.c",
                crate::build::Language::AssemblyScript => "index.ts",
                crate::build::Language::JavaScript => "index.js",
                crate::build::Language::Python => "app.py",
                _ => "src/lib.rs",
            };
            println!(
                "edit {}/guest/{file}, then run `mongoshift build`",
                path.display()
            );
        }
        return Ok(exit::OK);
    }
    if let Command::Build { id } = &cli.command {
        let one_dir = id
            .as_deref()
            .map(std::path::Path::new)
            .filter(|p| p.join(mongoshift::source::MANIFEST_FILE).is_file());
        let built = match one_dir {
            Some(dir) => vec![crate::build::build_dir(dir)?],
            None => crate::build::build_all(&MigrationSource::new(&r.path), id.as_deref())?,
        };
        if built.is_empty() {
            println!("nothing to build: no wasm migration with a `build` folder");
        }
        for b in built {
            println!(
                "built {} ({} bytes, {}) for {}",
                b.module.display(),
                b.bytes,
                b.language,
                b.id
            );
        }
        return Ok(exit::OK);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(run_async(cli.command, r, python))
}

async fn run_async(command: Command, r: Resolved, python: &PythonHook) -> anyhow::Result<u8> {
    // Load the directory before connecting: a bad manifest is reported even
    // when the server is down.
    let source = MigrationSource::new(&r.path);
    let migrations = source.load()?;
    // Python migrations need the Python package (see python.rs).
    let needs_python = matches!(
        command,
        Command::Plan { .. } | Command::Up { .. } | Command::Down { .. }
    );
    let python = match python.prepare(&migrations, needs_python, &r.connect.uri)? {
        Prepared::Exited(code) => return Ok(code),
        Prepared::Attach(attach) => attach,
    };
    let target = Target::connect(&r.connect).await?;
    let renderer = Arc::new(render::ProgressRenderer::new(r.progress));
    let res = match Migrator::new(&source, target.clone()) {
        Ok(m) => {
            let migrator = python(m.lock_options(r.lock).progress(renderer.clone()));
            run_command(command, migrator, &renderer, r.progress).await
        }
        Err(e) => Err(e.into()),
    };
    // Before the runtime stops: a client left to its drop ends its sessions
    // in a background task that can race the runtime's shutdown.
    target.close().await;
    res
}

/// Runs a command that needs the database.
async fn run_command(
    command: Command,
    migrator: Migrator,
    renderer: &render::ProgressRenderer,
    progress: ProgressMode,
) -> anyhow::Result<u8> {
    match command {
        Command::New { .. } | Command::Build { .. } => unreachable!("handled before connecting"),
        Command::Status { json } => {
            let rows = migrator.status().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                render::status_table(&rows);
            }
        }
        Command::Plan {
            json,
            to,
            down_steps,
            strategy,
        } => {
            let plan = match down_steps {
                Some(n) => migrator.plan_down(&DownTarget::Steps(n)).await?,
                None => {
                    migrator
                        .plan_up(&UpOptions {
                            to,
                            strategy,
                            ..UpOptions::default()
                        })
                        .await?
                }
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&plan)?);
            } else {
                render::plan(&plan);
            }
        }
        Command::Up {
            to,
            dangerously_allow_changed,
            dangerously_resume_changed,
            transactions,
            on_error,
            pre_images,
            no_pre_images,
            strategy,
            in_place_writes,
            dry_run,
            sample,
        } => {
            let opts = UpOptions {
                to,
                strategy,
                in_place_writes,
                dangerously_allow_changed,
                dangerously_resume_changed,
                transactions,
                on_error,
                pre_images: if no_pre_images {
                    Some(false)
                } else if pre_images {
                    Some(true)
                } else {
                    None
                },
            };
            if dry_run {
                let report = migrator.dry_run(&opts, sample).await?;
                if progress == ProgressMode::Json {
                    println!("{}", serde_json::to_string(&report)?);
                } else {
                    render::dry_run(&report);
                }
                return Ok(exit::OK);
            }
            let res = migrator.up(&opts).await;
            renderer.finish();
            let report = res?;
            render::report(&report, "applied", progress);
        }
        Command::Down {
            to,
            steps,
            dangerously_allow_changed,
        } => {
            let target = match to {
                Some(id) => DownTarget::To(id),
                None => DownTarget::Steps(steps.unwrap_or(1)),
            };
            let opts = DownOptions {
                dangerously_allow_changed,
            };
            let res = migrator.down_with(&target, &opts).await;
            renderer.finish();
            let report = res?;
            render::report(&report, "rolled back", progress);
        }
        Command::Verify => {
            let rows = migrator.verify().await?;
            let bad = render::verify(&rows);
            if bad > 0 {
                eprintln!("error: {bad} applied migration(s) differ from the files on disk");
                return Ok(exit::MISMATCH);
            }
        }
        Command::Prune {
            id,
            older_than_days,
        } => {
            let pruned = migrator
                .prune(
                    id.as_deref(),
                    std::time::Duration::from_secs(older_than_days * 86_400),
                )
                .await?;
            if pruned.is_empty() {
                println!("no pre-images to prune");
            }
            for (id, coll) in pruned {
                println!("dropped {coll} (pre-images of {id}); `down` of {id} now needs a backward transform");
            }
        }
        Command::Unlock { force } => match migrator.unlock(force).await? {
            UnlockOutcome::NotLocked => println!("the migration lock is not held"),
            UnlockOutcome::Cleared { owner, reason } => {
                println!("cleared the lock held by {owner} ({reason})")
            }
        },
    }
    Ok(exit::OK)
}

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
    T: Into<std::ffi::OsString> + Clone,
{
    let args = std::iter::once(std::ffi::OsString::from("mongoshift"))
        .chain(args.into_iter().map(Into::into));
    match Cli::try_parse_from(args) {
        Ok(cli) => main(cli, python),
        Err(e) => {
            let _ = e.print();
            u8::try_from(e.exit_code()).unwrap_or(exit::USAGE)
        }
    }
}
