//! [`MigrateError`]: running migrations against a database went wrong.

use std::path::PathBuf;

use super::codes::DbCause;
use super::fixture::FixtureError;
use super::policy::PolicyError;
use super::signing::SigningError;
use super::source::SourceError;
use super::transform::TransformError;
use super::verify::VerifyError;
use super::wasm::WasmError;
use crate::report::Report;

/// Running migrations against a database went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// The migrations on disk could not be loaded.
    #[error(transparent)]
    Source(#[from] SourceError),

    /// The operator policy cannot be used, or refuses a migration.
    #[error(transparent)]
    Policy(Box<PolicyError>),

    /// A test fixture or an input file cannot be used.
    #[error(transparent)]
    Fixture(#[from] FixtureError),

    /// `verify --data` cannot check a migration.
    #[error(transparent)]
    Verify(#[from] VerifyError),

    /// A migration's signature refused it, or a key cannot be used.
    #[error(transparent)]
    Signing(#[from] SigningError),

    /// The connection string is not valid.
    #[error("invalid connection string {uri}: {message}")]
    InvalidUri {
        /// The connection string with its password masked.
        uri: String,
        /// What is wrong.
        message: String,
    },

    /// No database name was given and the URI names none.
    #[error("no target database: pass --db or put one in the connection string (mongodb://host/DATABASE)")]
    NoDatabase,

    /// The server could not be reached in time.
    #[error("cannot reach MongoDB at {hosts} within {seconds}s: {message}; check that the server is running and the host and port are right")]
    Unreachable {
        /// The hosts tried.
        hosts: String,
        /// The time allowed.
        seconds: u64,
        /// The driver's reason, password masked.
        message: String,
    },

    /// The server refused the credentials.
    #[error("authentication failed at {hosts}: {message}; check the user name, password and authSource in the connection string")]
    Auth {
        /// The hosts tried.
        hosts: String,
        /// The driver's reason, password masked.
        message: String,
    },

    /// A database operation failed.
    #[error("{context}: {message}")]
    Database {
        /// What was being done.
        context: String,
        /// The driver's message, password masked.
        message: String,
        /// Driver error labels such as `TransientTransactionError`.
        labels: Vec<String>,
        /// What it is down to: the server (and its code), the connection.
        cause: DbCause,
    },

    /// The worker threads of a run could not be started (the operating
    /// system refused a thread).
    #[error("cannot start worker threads: {message}")]
    Threads {
        /// Why.
        message: String,
    },

    /// A background task of a run (the reader, a change-stream follower)
    /// panicked or was cancelled.
    #[error("{task} failed: {message}")]
    Task {
        /// Which task.
        task: String,
        /// Why.
        message: String,
    },

    /// A value could not be turned into BSON or back (a document the driver
    /// returned, a ledger entry): not the database's failure.
    #[error("{context}: {message}")]
    Encoding {
        /// What was being done.
        context: String,
        /// Why.
        message: String,
    },

    /// An applied migration's checksum differs from the file on disk.
    #[error("migration {id} was applied with checksum {recorded} but the file on disk now has checksum {on_disk}; restore the original file, or rerun with --dangerously-allow-changed {id} if the change is intended")]
    ChecksumMismatch {
        /// The migration.
        id: String,
        /// The checksum in the ledger.
        recorded: String,
        /// The checksum of the files now.
        on_disk: String,
    },

    /// A migration stopped part-way with files that have changed since: run
    /// from the start, the changed files would do the committed documents a
    /// second time.
    #[error("migration {id} stopped part-way ({}) with checksum {}, and its files on disk now have checksum {}: {} document(s) up to _id {} were done by the earlier version ({} of them changed), and running the changed files from the start would do them a second time. Either undo them with `mongoshift down` ({}) and run `mongoshift up` again, or go on after _id {} with the changed files: `mongoshift up --dangerously-resume-changed {id}` (the documents done keep what the earlier version did)", .part.state, .part.recorded, .part.on_disk, .part.done, .part.last_id, .part.changed, .part.way_back, .part.last_id)]
    ChangedPartWay {
        /// The migration.
        id: String,
        /// What its partial run did.
        part: Box<PartWay>,
    },

    /// `down` would undo a migration with files that changed since it ran.
    #[error("migration {id} ran with checksum {recorded}, but its files on disk now have checksum {on_disk} and its way back is in them ({how}), which may not undo what the earlier version did; restore the files that ran and run `mongoshift down` again, or undo it with the files on disk: `mongoshift down --dangerously-allow-changed {id}`")]
    ChangedWayBack {
        /// The migration.
        id: String,
        /// The checksum it ran with.
        recorded: String,
        /// The checksum of the files now.
        on_disk: String,
        /// What the way back is.
        how: String,
    },

    /// The ledger records a migration that is not on disk.
    #[error("migration {id} is recorded in the ledger as {state} but is missing from {path}; restore its file (it may come from a newer branch of the code)")]
    MissingOnDisk {
        /// The migration.
        id: String,
        /// Its ledger state.
        state: String,
        /// The migrations directory.
        path: PathBuf,
    },

    /// A migration was left partly applied by a run that did not finish.
    #[error("migration {id} is {state} from an earlier run that did not finish: {detail}")]
    Dirty {
        /// The migration.
        id: String,
        /// Its ledger state.
        state: String,
        /// What to do.
        detail: String,
    },

    /// Another run holds the migration lock.
    #[error("the migration lock is held by {owner} (lease expires {expires}); waited {waited_secs}s. If no other run is active, run `mongoshift unlock`")]
    LockHeld {
        /// Who holds it.
        owner: String,
        /// When its lease expires unless renewed.
        expires: String,
        /// How long this run waited.
        waited_secs: u64,
    },

    /// `unlock` refused to clear a lease whose holder looks alive.
    #[error("the migration lock is held by {owner}, which looks alive ({reason}); stop that run first, or use `mongoshift unlock --force` if you are sure it is gone")]
    LockAlive {
        /// Who holds it.
        owner: String,
        /// Why it looks alive.
        reason: String,
    },

    /// This run lost its lease (it expired and another run took it over).
    #[error("this run lost the migration lock (another run took it over after the lease expired); stopped before writing {what}")]
    LockLost {
        /// What was about to be written.
        what: String,
    },

    /// This worker's claim on a partition was taken over (its lease expired).
    #[error("this worker lost partition {partition} (its lease expired and another worker took it over); stopped before writing {what}")]
    PartitionLost {
        /// The partition.
        partition: String,
        /// What was about to be written.
        what: String,
    },

    /// A worker may not join a distributed run recorded by another version
    /// of mongoshift or of the migration's files.
    #[error("migration {id} is being run distributed with {what} {recorded}, and this worker has {ours}: every worker of one run must have the same; run this worker with the same mongoshift and migrations as the others, or wait until their run is done")]
    DistributedMismatch {
        /// The migration.
        id: String,
        /// What differs (`mongoshift version`, `checksum`).
        what: String,
        /// What the partitions were recorded with.
        recorded: String,
        /// What this worker has.
        ours: String,
    },

    /// The collection was dropped and re-created since its partitions were
    /// recorded: their ranges were cut for other documents.
    #[error("the partitions of migration {id} were recorded for another {collection} (it was dropped and re-created since the split); nothing was written: drop them (`db.mongoshift_partitions.deleteMany({{migration: \"{id}\"}})`) and run `mongoshift up --distributed` again")]
    SplitOutdated {
        /// The migration.
        id: String,
        /// Its collection.
        collection: String,
    },

    /// Workers of a distributed run hold partitions of a migration that a
    /// run without `--distributed` was about to touch.
    #[error("migration {id} is being run by {workers} (`up --distributed`), holding its partitions (leases until {until}); nothing was written: wait for them to finish, or stop them and run this again once their leases lapse")]
    PartitionsHeld {
        /// The migration.
        id: String,
        /// The workers holding its partitions.
        workers: String,
        /// When the last of their leases lapses unless renewed.
        until: String,
    },

    /// `up` without `--distributed` for a migration whose distributed run
    /// stopped part-way.
    #[error("migration {id} was started with `up --distributed` and {done} of its {of} partitions are done; nothing was written: go on with `mongoshift up --distributed` (one worker is enough: it goes on from every partition's checkpoint), or undo it with `mongoshift down`")]
    DistributedUnfinished {
        /// The migration.
        id: String,
        /// Partitions done.
        done: usize,
        /// Partitions in all.
        of: usize,
    },

    /// `--metrics-addr` cannot be listened on.
    #[error("cannot serve metrics on {addr}: {message}; nothing was run: choose another --metrics-addr (HOST:PORT)")]
    MetricsAddr {
        /// The address asked for.
        addr: String,
        /// Why not.
        message: String,
    },

    /// `--partition K --of N` does not fit the run.
    #[error("cannot run partition {index} of {of} of migration {id}: {reason}")]
    PartitionChoice {
        /// The migration.
        id: String,
        /// The partition asked for.
        index: u32,
        /// The number of partitions asked for.
        of: u32,
        /// Why not, and what to do.
        reason: String,
    },

    /// A distributed run was asked for a migration that cannot be split.
    #[error("migration {id} cannot run distributed: {reason}")]
    NotDistributable {
        /// The migration.
        id: String,
        /// Why, and what to do.
        reason: String,
    },

    /// A migration with outputs was asked to run without transactions.
    #[error("migration {id} writes to other collections (outputs): it runs with transactions, so each batch's writes to every collection and its checkpoint commit together; run it without `--transactions none` (and without `transactions = \"none\"` in its manifest), on a replica set or sharded cluster")]
    CrossWithoutTransactions {
        /// The migration.
        id: String,
    },

    /// An output collection cannot take a migration's writes.
    #[error("migration {id}: output `{collection}` {why}; nothing was written")]
    OutputUnwritable {
        /// The migration.
        id: String,
        /// The output, as declared.
        collection: String,
        /// Why.
        why: String,
    },

    /// A lookup of a cross-collection migration failed for one document.
    #[error("migration {migration}: document _id {document}: lookup `{lookup}`: {message}; nothing of its batch was written")]
    Lookup {
        /// The migration.
        migration: String,
        /// The input document's `_id`.
        document: String,
        /// The lookup's `as`.
        lookup: String,
        /// What is wrong.
        message: String,
    },

    /// A transform's output breaks the manifest or the contract.
    #[error("migration {migration}: document _id {document}: {message}; nothing of its batch was written")]
    Output {
        /// The migration.
        migration: String,
        /// The input document's `_id`.
        document: String,
        /// What is wrong, naming the output's collection.
        message: String,
    },

    /// `--to` names no known migration.
    #[error("no migration {id} in {path} or in the ledger")]
    UnknownMigration {
        /// The id given.
        id: String,
        /// The migrations directory.
        path: PathBuf,
    },

    /// `up` refused: a pending migration sorts before one already applied.
    #[error(
        "{id} is pending but sorts before {newest}, which is already applied: it arrived out of \
         order (merged from another branch, say). Nothing was run. To apply it after {newest}, \
         run `mongoshift up --allow-out-of-order` (or set allow_out_of_order = true in \
         mongoshift.toml); to keep the order, give it an id after {newest}"
    )]
    OutOfOrder {
        /// The pending migration.
        id: String,
        /// The newest applied migration by id.
        newest: String,
    },

    /// Beanie's `migrations_log` cannot be adopted.
    #[error("cannot adopt Beanie's migrations_log: {reason}")]
    BeanieLog {
        /// What is wrong, naming the entry or file.
        reason: String,
    },

    /// `baseline` refused: the ledger already records these migrations.
    #[error(
        "cannot baseline: the ledger already records {}; nothing was recorded. Baseline only \
         migrations the ledger does not hold (`mongoshift status` lists them)",
        ids.join(", ")
    )]
    AlreadyRecorded {
        /// The migrations the ledger holds, in id order.
        ids: Vec<String>,
    },

    /// `pause`, `resume` or `swap` refused: the migration is not running,
    /// not paused, or not waiting for its swap; or `up --postpone-swap` for
    /// a migration that runs in place.
    #[error("cannot {action} {id}: {reason}")]
    Control {
        /// The migration.
        id: String,
        /// `pause`, `resume`, `swap` or `postpone the swap of`.
        action: String,
        /// Its state, and what to do.
        reason: String,
    },

    /// `quarantine replay` cannot run this migration's documents again.
    #[error("cannot replay the quarantined documents of {id}: {reason}")]
    ReplayRefused {
        /// The migration.
        id: String,
        /// Why, and what to do.
        reason: String,
    },

    /// An environment variable that sets how a run works has a value that
    /// means nothing.
    #[error("{variable}={value:?} is not a valid setting: {expected}")]
    Setting {
        /// The variable.
        variable: String,
        /// Its value.
        value: String,
        /// The values it takes, and what each does.
        expected: String,
    },

    /// The strategy asked for cannot be used here.
    #[error("a rewrite cannot be done: {reason}")]
    Refused {
        /// Why.
        reason: String,
    },

    /// Rolling a rewrite back to its originals would discard what the
    /// application wrote since the swap; nothing was changed.
    #[error(
        "{collection} has {} inserted, changed or deleted by the application since the swap{examples}: \
         restoring the original collection would discard them, so nothing was changed. Run \
         `mongoshift down --set-aside-writes-since-swap` to restore the originals exactly and keep \
         the application's versions (and a tombstone for each delete) in {conflicts}",
        count.map_or_else(
            || "an unknown number of documents (the swap's position in the change stream is not recorded or no longer in the oplog)".to_string(),
            |n| format!("{n} document{}", if n == 1 { "" } else { "s" })
        )
    )]
    WritesSinceSwap {
        /// The collection.
        collection: String,
        /// How many documents, when the change stream still knows.
        count: Option<u64>,
        /// A few of them, ` (_id 5 changed, …)`.
        examples: String,
        /// Where the flag keeps them.
        conflicts: String,
    },

    /// The migration has no way back.
    #[error("migration {id} cannot be rolled back: {reason}")]
    Irreversible {
        /// The migration.
        id: String,
        /// Why.
        reason: String,
    },

    /// A Wasm module could not be loaded or does not fit the contract.
    #[error("migration {migration}: {source}")]
    Module {
        /// The migration.
        migration: String,
        /// The cause.
        source: Box<WasmError>,
    },

    /// A Python migration cannot be read or a bulk step of it failed (the
    /// message holds the Python traceback).
    #[error("python migration {migration}: {message}")]
    Python {
        /// The migration.
        migration: String,
        /// Why, with the traceback when there is one.
        message: String,
    },

    /// A transform failed on a batch. Nothing of the batch was written.
    #[error("batch {batch} (documents _id {first_id} to {last_id}){}: {source}", document.as_ref().map(|d| format!(", document _id {d}")).unwrap_or_default())]
    Transform {
        /// The migration.
        migration: String,
        /// 1-based batch number.
        batch: u64,
        /// `_id` of the batch's first document.
        first_id: String,
        /// `_id` of the batch's last document.
        last_id: String,
        /// `_id` of the document that caused it, where known.
        document: Option<String>,
        /// The cause: a [`WasmError`](WasmError), or the error of
        /// another [`BatchTransform`](crate::transform::BatchTransform).
        source: TransformError,
    },

    /// The transform returned `fail` for a document. Nothing of its batch was written.
    #[error("document _id {document} in batch {batch} failed: {message}{}", logs.as_ref().map(|l| format!("; the transform's log lines for it: {l}")).unwrap_or_default())]
    DocumentFailed {
        /// 1-based batch number.
        batch: u64,
        /// The document's `_id`.
        document: String,
        /// The transform's message.
        message: String,
        /// The lines the transform logged for this document, when it logged
        /// any.
        logs: Option<String>,
    },

    /// The server refused to write a document (a validator, a unique index, …).
    #[error("the server refused to write document _id {document} in batch {batch}: {message} (code {code})")]
    WriteRejected {
        /// 1-based batch number.
        batch: u64,
        /// The document's `_id`.
        document: String,
        /// The server's message.
        message: String,
        /// The server's error code.
        code: i32,
    },

    /// The server refused to write a document inside a transaction: one
    /// transaction cannot hold it on this deployment (its cache is too small
    /// for a document this large). Nothing of its batch was written.
    #[error("document _id {document} in batch {batch} ({bytes} bytes) cannot be written inside a transaction: the server refused it ({message}), as servers do when a transaction's writes do not fit their cache; run this migration without transactions (`transactions = \"none\"` in its manifest, or `mongoshift up --transactions none`; resume is then at-least-once), or as a copy (`strategy = \"rewrite\"`, which copies without transactions)")]
    TooLargeForTransaction {
        /// 1-based batch number.
        batch: u64,
        /// The document's `_id`.
        document: String,
        /// The size of the largest thing written for it (the new document,
        /// or its original kept as a pre-image).
        bytes: usize,
        /// The server's error.
        message: String,
    },

    /// A migration failed part-way through a run. The report says what the run
    /// applied before it.
    #[error("{}", run_message(verb, id, source))]
    Run {
        /// The migration.
        id: String,
        /// `applying` or `rolling back`.
        verb: &'static str,
        /// The cause.
        source: Box<MigrateError>,
        /// What the run did before the failure.
        report: Box<Report>,
    },

    /// A migration failed and the ledger could not record it either (even
    /// with its error cut short): the ledger may still say `running`.
    #[error("{source}; this failure could not be recorded in the ledger ({record}), so `mongoshift status` may still show the migration as running")]
    Unrecorded {
        /// Why the migration failed.
        source: Box<MigrateError>,
        /// Why the ledger write failed.
        record: Box<MigrateError>,
    },
}

/// The message of a failed run, naming the migration once (the cause may
/// start with it too).
fn run_message(verb: &str, id: &str, source: &MigrateError) -> String {
    match source {
        MigrateError::Python { migration, message } if migration == id => {
            format!("while {verb} python migration {id}: {message}")
        }
        MigrateError::Module { migration, source } if migration == id => {
            format!("while {verb} migration {id}: {source}")
        }
        other => format!("while {verb} migration {id}: {other}"),
    }
}

/// What a run that stopped part-way had done, for
/// [`MigrateError::ChangedPartWay`].
#[derive(Debug, Clone)]
pub struct PartWay {
    /// Its ledger state.
    pub state: String,
    /// The checksum it ran with.
    pub recorded: String,
    /// The checksum of the files now.
    pub on_disk: String,
    /// Documents it did (read and decided).
    pub done: i64,
    /// Of those, changed or deleted.
    pub changed: i64,
    /// The last `_id` it did.
    pub last_id: String,
    /// What `down` would do.
    pub way_back: String,
}

/// Shorthand for results in this crate.
pub type Result<T, E = MigrateError> = std::result::Result<T, E>;

impl From<PolicyError> for MigrateError {
    fn from(e: PolicyError) -> Self {
        MigrateError::Policy(Box::new(e))
    }
}
