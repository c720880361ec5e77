//! The commands and their flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use mongoshift::fleet::FleetOptions;
use mongoshift::{DownOptions, DownTarget, OnError, Strategy, TxMode, UpOptions, UpdateForm};

use crate::cutover::CutoverArgs;
use crate::run_args::{DistributedArgs, MetricsArgs, ThrottleArgs};
use crate::signing::{KeygenArgs, SignArgs, TrustArgs, UpSignatureArgs};
use crate::{exit, values};

/// Fast, safe MongoDB data migrations.
#[derive(Debug, Parser)]
#[command(name = "mongoshift", version, about, after_help = exit::HELP)]
pub struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

impl Cli {
    /// Whether the command only reports (and changes nothing).
    pub fn only_reports(&self) -> bool {
        match &self.command {
            Command::Status { .. }
            | Command::Audit(_)
            | Command::Plan { .. }
            | Command::Verify(_) => true,
            Command::Up(up) => up.dry_run,
            _ => false,
        }
    }
}

/// The options every command takes; see [`Settings`](crate::settings::Settings).
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// Connection string [default: mongodb://localhost:27017]
    #[arg(long, env = "MONGODB_URI", global = true, hide_env_values = true)]
    pub(crate) uri: Option<String>,
    /// Target database [default: the one in the connection string]
    #[arg(long, env = "MONGOSHIFT_DB", global = true)]
    pub(crate) db: Option<String>,
    /// Migrations directory [default: ./migrations]
    #[arg(long, global = true)]
    pub(crate) path: Option<PathBuf>,
    /// Config file [default: ./mongoshift.toml when present]
    #[arg(long, global = true)]
    pub(crate) config: Option<PathBuf>,
    /// The operator's policy file: what migrations may do (docs/untrusted.md)
    /// [default: the `[policy]` table of the config file, if any]
    #[arg(long, env = "MONGOSHIFT_POLICY", global = true, value_name = "FILE")]
    pub(crate) policy: Option<PathBuf>,
    /// Seconds to wait for another run's lock [default: 120]
    #[arg(long, global = true)]
    pub(crate) lock_timeout: Option<u64>,
    /// Seconds a lease (the lock's, a partition's) lasts without renewal
    /// [default: 30]
    #[arg(long, env = "MONGOSHIFT_LOCK_TTL", global = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) lock_ttl: Option<u64>,
    /// Seconds to wait for the server [default: 10]
    #[arg(long, global = true)]
    pub(crate) connect_timeout: Option<u64>,
    /// How to show progress
    #[arg(long, value_enum, env = "MONGOSHIFT_PROGRESS", default_value_t = ProgressMode::Auto, global = true)]
    pub(crate) progress: ProgressMode,
    /// Also show what transforms log (their `log` helper, stdout and
    /// stderr, Python `logging`), line by line as batches finish
    #[arg(short, long, global = true)]
    pub(crate) verbose: bool,
    #[command(flatten)]
    pub(crate) selection: SelectionArgs,
}

/// The databases of a fleet run; see docs/fleets.md.
#[derive(Debug, Args)]
pub(crate) struct SelectionArgs {
    /// Run over the databases matching this glob (`*`, `?`, `[...]`);
    /// repeatable
    #[arg(long = "databases", value_name = "PATTERN", global = true)]
    pub(crate) databases: Vec<String>,
    /// Leave out the databases matching this glob; repeatable
    #[arg(long, value_name = "PATTERN", global = true)]
    pub(crate) exclude: Vec<String>,
    /// Run over every database of the deployment (never admin, local or
    /// config)
    #[arg(long, global = true)]
    pub(crate) all_databases: bool,
    /// Run over the databases named in this file, one a line (`#` comments)
    #[arg(long, value_name = "FILE", global = true)]
    pub(crate) databases_from: Option<PathBuf>,
}

impl SelectionArgs {
    /// Whether a flag chooses databases (`--exclude` alone does not).
    pub(crate) fn chooses(&self) -> bool {
        !self.databases.is_empty() || self.all_databases || self.databases_from.is_some()
    }
}

/// How `up` and `down` go through the databases of a fleet.
#[derive(Debug, Args)]
pub(crate) struct FleetArgs {
    /// With a database selection: databases run at once [default: 4 on a
    /// single server, 8 on a replica set with secondaries or a sharded
    /// cluster]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) concurrency: Option<u64>,
    /// With a database selection: start no other database after one fails
    #[arg(long)]
    pub(crate) fail_fast: bool,
    /// With a database selection: run the first N databases first, and the
    /// rest only if they all succeed
    #[arg(long, value_name = "N")]
    pub(crate) canary: Option<usize>,
}

impl FleetArgs {
    /// What the flags ask of a fleet run.
    pub(crate) fn options(&self) -> FleetOptions {
        FleetOptions {
            concurrency: self
                .concurrency
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            fail_fast: self.fail_fast,
            canary: self.canary,
        }
    }
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

/// Which transform `run` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DirectionArg {
    /// The forward transform (what `up` runs).
    Forward,
    /// The backward transform (what `down` runs).
    Backward,
}

impl DirectionArg {
    /// The engine's direction.
    pub(crate) fn direction(self) -> mongoshift::Direction {
        match self {
            DirectionArg::Forward => mongoshift::Direction::Up,
            DirectionArg::Backward => mongoshift::Direction::Down,
        }
    }
}

/// A command.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Write a new migration from a template.
    New {
        /// A short name, e.g. add_status.
        name: String,
        /// The kind of migration: update, wasm, or python (a Python file
        /// run through the Python package).
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
    /// Run the test fixtures (`tests/*.json`) of every migration, or of
    /// one, through its transform, with no database; see docs/testing.md.
    Test {
        /// Only this migration.
        id: Option<String>,
        /// Print JSON instead of a line per case.
        #[arg(long)]
        json: bool,
    },
    /// Run a migration's transform on the documents of a file (Extended
    /// JSON lines, a JSON array or a BSON dump) and print each outcome as
    /// an Extended JSON line, with no database.
    Run {
        /// The migration.
        id: String,
        /// The documents.
        #[arg(long, value_name = "FILE")]
        input: PathBuf,
        /// Write the outcomes to this file instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Which transform runs.
        #[arg(long, value_enum, default_value_t = DirectionArg::Forward)]
        direction: DirectionArg,
        /// Print canonical Extended JSON (every BSON type spelled out).
        #[arg(long)]
        canonical: bool,
    },
    /// Show every migration and where it stands.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show what `up` (or `down`) would do, with matching document counts.
    Plan(PlanArgs),
    /// Apply pending migrations in order.
    Up(Box<UpArgs>),
    /// Roll back applied migrations, newest first.
    Down(DownArgs),
    /// Check the checksums of applied migrations against the files on disk,
    /// or with --data the documents of one against what its run kept.
    Verify(VerifyArgs),
    /// Record every migration up to an id as applied without running it,
    /// for a database migrated by hand or by another tool.
    Baseline {
        /// The last migration the database already has (inclusive).
        #[arg(long, value_name = "ID")]
        to: String,
    },
    /// Drop the pre-images kept for rollback of applied migrations.
    Prune {
        /// Only this migration (default: every applied migration).
        id: Option<String>,
        /// Only pre-images of migrations applied at least this many days ago.
        #[arg(long, default_value_t = 0)]
        older_than_days: u64,
    },
    /// Export real documents as fixture inputs: a random sample of a
    /// collection (or of what a filter matches), chosen fields redacted.
    Sample(SampleArgs),
    /// The documents runs set aside (`--on-error quarantine`): list, show,
    /// export them, or replay them through fixed files.
    Quarantine {
        /// What to do.
        #[command(subcommand)]
        action: QuarantineAction,
    },
    /// List the live workers of a distributed run and the partitions they
    /// hold.
    Workers {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Pause a running migration: its run commits the batch in hand and
    /// waits, holding its lock, until `resume` (works from any machine,
    /// for every worker of a distributed run).
    Pause {
        /// The running migration.
        id: String,
    },
    /// Let a paused migration go on.
    Resume {
        /// The paused migration.
        id: String,
    },
    /// Swap in the copy of a rewrite waiting for it (`up --postpone-swap`):
    /// its run drains the change stream and swaps (works from any machine).
    Swap {
        /// The rewrite waiting for its swap.
        id: String,
    },
    /// List the audit trail: who ran `up`, `down`, `swap`, `pause` and
    /// `resume` here, what each changed and how it ended, newest first.
    Audit(crate::audit::AuditArgs),
    /// Make a new Ed25519 key for signing migrations: the private key goes
    /// to a new file, the public key line `<name>:<base64>` to stdout.
    Keygen(KeygenArgs),
    /// Sign migrations (every one, or those named) with a private key:
    /// writes `<id>.sig` beside each, replacing an earlier signature.
    Sign(SignArgs),
    /// Clear a lock left by a run that died.
    Unlock {
        /// Clear it even if its holder looks alive.
        #[arg(long)]
        force: bool,
    },
}

/// The flags of `verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// Check the documents of this applied migration against what its run
    /// kept (backup, pre-images or backward transform); reads only
    #[arg(long, value_name = "ID")]
    pub(crate) data: Option<String>,
    /// With --data: list up to N differing documents
    #[arg(long, value_name = "N", default_value_t = 10, requires = "data")]
    pub(crate) show: usize,
    /// With --data: print the report as JSON
    #[arg(long, requires = "data")]
    pub(crate) json: bool,
    /// Check instead that every migration in the directory is signed by a
    /// trusted key and unchanged since; needs no database
    #[arg(long, conflicts_with = "data")]
    pub(crate) signatures: bool,
    #[command(flatten)]
    pub(crate) trust: TrustArgs,
}

/// The flags of `plan`.
#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// Plan up to and including this migration.
    #[arg(long)]
    pub(crate) to: Option<String>,
    /// Plan a rollback of this many migrations instead.
    #[arg(long, conflicts_with = "to")]
    pub(crate) down_steps: Option<usize>,
    /// Plan with this write strategy (as `up --strategy`)
    #[arg(long, value_parser = values::strategy())]
    pub(crate) strategy: Option<Strategy>,
    /// Plan pending migrations that sort before an applied one (as `up
    /// --allow-out-of-order`)
    #[arg(long)]
    pub(crate) allow_out_of_order: bool,
    /// Also say how `up --distributed` would run each migration: its
    /// partitions, or why it runs on one worker
    #[arg(long, conflicts_with = "down_steps")]
    pub(crate) distributed: bool,
    /// With --distributed: the documents a partition aims at (as `up`)
    #[arg(long, value_name = "N", requires = "distributed", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) partition_docs: Option<u64>,
}

/// The flags of `up`.
#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// Stop after this migration.
    #[arg(long)]
    pub(crate) to: Option<String>,
    /// Apply pending migrations whose id sorts before an applied one
    /// (merged from another branch, say); recorded as out of order
    #[arg(long)]
    pub(crate) allow_out_of_order: bool,
    /// Leave Beanie's migrations_log as it is (by default it is kept
    /// current when a Python file is applied)
    #[arg(long)]
    pub(crate) no_beanie_log: bool,
    /// Accept the changed file of this applied migration and record its new
    /// checksum (the database keeps what the old file did). Repeatable.
    #[arg(long, value_name = "ID")]
    pub(crate) dangerously_allow_changed: Vec<String>,
    /// Go on from the checkpoint of this migration, which stopped
    /// part-way, with its changed files (both checksums are recorded; the
    /// documents done keep what the earlier files did). Repeatable.
    #[arg(long, value_name = "ID")]
    pub(crate) dangerously_resume_changed: Vec<String>,
    /// How document writes are grouped into transactions [default: batch,
    /// or none on a standalone server]
    #[arg(long, value_parser = values::tx_mode())]
    pub(crate) transactions: Option<TxMode>,
    /// What to do with a document the transform fails
    #[arg(long, value_parser = values::on_error(), default_value = "abort")]
    pub(crate) on_error: OnError,
    /// Keep pre-images of changed documents for `down` [default: when the
    /// module has no backward transform]
    #[arg(long, overrides_with = "no_pre_images")]
    pub(crate) pre_images: bool,
    /// Do not keep pre-images
    #[arg(long)]
    pub(crate) no_pre_images: bool,
    /// Where document-by-document migrations write: back in place, or
    /// into a copy that replaces the collection [default: the manifest's,
    /// else auto]
    #[arg(long, value_parser = values::strategy())]
    pub(crate) strategy: Option<Strategy>,
    /// How in-place runs write a changed document [default: the
    /// manifest's, else set]
    #[arg(long, value_parser = values::update_form())]
    pub(crate) in_place_writes: Option<UpdateForm>,
    /// Run the transforms without writing; report what would change
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// With --dry-run: only the first N documents of each migration
    #[arg(long, requires = "dry_run")]
    pub(crate) sample: Option<u64>,
    #[command(flatten)]
    pub(crate) fleet: FleetArgs,
    #[command(flatten)]
    pub(crate) distributed: DistributedArgs,
    #[command(flatten)]
    pub(crate) throttle: ThrottleArgs,
    #[command(flatten)]
    pub(crate) metrics: MetricsArgs,
    #[command(flatten)]
    pub(crate) cutover: CutoverArgs,
    #[command(flatten)]
    pub(crate) signing: UpSignatureArgs,
}

/// The flags of `down`.
#[derive(Debug, Args)]
pub(crate) struct DownArgs {
    /// Roll back everything applied after this migration (it stays applied).
    #[arg(long, conflicts_with = "steps")]
    pub(crate) to: Option<String>,
    /// Roll back this many migrations.
    #[arg(long)]
    pub(crate) steps: Option<usize>,
    /// Leave Beanie's migrations_log as it is (by default it is kept
    /// current when a Python file is rolled back)
    #[arg(long)]
    pub(crate) no_beanie_log: bool,
    /// A rewrite rolled back to the originals it kept: restore them even
    /// though the application wrote to the collection since the swap,
    /// keeping its versions (and a tombstone per delete) in
    /// mongoshift_conflicts_<id>
    #[arg(long)]
    pub(crate) set_aside_writes_since_swap: bool,
    /// Roll back this migration, whose files changed since it ran, by the
    /// backward transform or steps of the files on disk (they may not undo
    /// what the earlier files did). Repeatable.
    #[arg(long, value_name = "ID")]
    pub(crate) dangerously_allow_changed: Vec<String>,
    #[command(flatten)]
    pub(crate) fleet: FleetArgs,
}

impl UpArgs {
    /// What the flags ask of the engine.
    pub(crate) fn options(&self) -> UpOptions {
        UpOptions {
            to: self.to.clone(),
            strategy: self.strategy,
            in_place_writes: self.in_place_writes,
            dangerously_allow_changed: self.dangerously_allow_changed.clone(),
            dangerously_resume_changed: self.dangerously_resume_changed.clone(),
            transactions: self.transactions,
            on_error: self.on_error,
            pre_images: if self.no_pre_images {
                Some(false)
            } else if self.pre_images {
                Some(true)
            } else {
                None
            },
            throttle: self.throttle.options(),
            pause_at: self.throttle.pause_at,
            cutover: self.cutover.options(),
            allow_out_of_order: self.allow_out_of_order,
            no_beanie_log: self.no_beanie_log,
        }
    }
}

impl DownArgs {
    /// How far to roll back: to a migration, or a number of steps (one by default).
    pub(crate) fn target(&self) -> DownTarget {
        DownTarget::from_request(self.to.as_deref(), self.steps)
    }

    /// What the flags ask of the engine besides the target.
    pub(crate) fn options(&self) -> DownOptions {
        DownOptions {
            set_aside_writes_since_swap: self.set_aside_writes_since_swap,
            dangerously_allow_changed: self.dangerously_allow_changed.clone(),
            no_beanie_log: self.no_beanie_log,
        }
    }
}

/// What `quarantine` does.
#[derive(Debug, Subcommand)]
pub(crate) enum QuarantineAction {
    /// How many documents each migration set aside (or, with an ID, each
    /// of them: its `_id`, when, and the error's first line).
    List {
        /// Only this migration, one line per document.
        id: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The documents a migration set aside, in full: the error, what the
    /// guest logged, and the document as the transform was given it.
    Show {
        /// The migration.
        id: String,
        /// Only the document with this `_id` (Extended JSON: `42`,
        /// `"abc"`, `{"$oid": "..."}`).
        #[arg(long)]
        document: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The documents a migration set aside, as they were given to the
    /// transform: canonical Extended JSON, one per line (the input of
    /// `mongoshift run --input`, or of fixtures).
    Export {
        /// The migration.
        id: String,
        /// Write them here instead of stdout.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
    /// Run the documents a migration set aside through its files again (as
    /// they are now: fixed), as a batch does: each read as it is in the
    /// collection now and written only if unchanged since; clears the
    /// entries of those that now succeed. The migration ends `applied` when
    /// none are left.
    Replay {
        /// The migration.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The flags of `sample`.
#[derive(Debug, Args)]
pub(crate) struct SampleArgs {
    /// The collection.
    pub(crate) collection: String,
    /// How many documents (a random sample).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) count: u64,
    /// Only documents matching this filter (Extended JSON, e.g.
    /// '{"status": "active"}').
    #[arg(long)]
    pub(crate) filter: Option<String>,
    /// Fields whose values are replaced by same-type stand-ins
    /// (comma-separated, dotted paths: name,email,address.city).
    #[arg(long, value_delimiter = ',')]
    pub(crate) redact: Vec<String>,
    /// Write them here instead of stdout.
    #[arg(long, short)]
    pub(crate) output: Option<std::path::PathBuf>,
}
