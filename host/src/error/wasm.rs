//! [`WasmError`]: loading or running a Wasm transform went wrong.

use std::path::PathBuf;

use crate::batch::OutcomeError;

/// Loading or running a Wasm transform went wrong. Messages name the module;
/// the pipeline adds the migration, the batch and the document.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WasmError {
    /// The module file cannot be read.
    #[error("cannot read module {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not WebAssembly.
    #[error("{path} is not a WebAssembly module (it does not start with \\0asm); build the guest with `mongoshift build`")]
    NotWasm {
        /// The file.
        path: PathBuf,
    },
    /// The module does not compile or link.
    #[error("module {path} is invalid: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The module imports something the sandbox does not give.
    #[error("module {path} imports `{import}`, which the sandbox does not allow ({why}); transforms get no files, network, environment, arguments or host clock")]
    DisallowedImport {
        /// The file.
        path: PathBuf,
        /// The import, `module.name` or a WIT interface.
        import: String,
        /// Why it is refused.
        why: String,
    },
    /// The module lacks an export the contract requires.
    #[error("module {path} does not implement the mongoshift transform contract: missing export `{export}` (see guest-sdk/ABI.md or guest-sdk/wit/transform.wit and transform-v2.wit)")]
    MissingExport {
        /// The file.
        path: PathBuf,
        /// The export.
        export: String,
    },
    /// The module implements a contract version this host does not, or
    /// says it implements another than the component world it exports.
    #[error("module {path} implements contract version {found}, but this mongoshift supports version 1 up to version {supported}; rebuild it against the matching mongoshift-guest")]
    ContractVersion {
        /// The file.
        path: PathBuf,
        /// What it reports.
        found: u32,
        /// The newest version the host supports (it supports all from 1).
        supported: u32,
    },
    /// The guest trapped.
    #[error("the transform trapped: {message}")]
    Trap {
        /// The trap and the guest's backtrace, if any.
        message: String,
    },
    /// The guest ran past its deadline for one batch.
    #[error("the transform ran past its deadline of {deadline_ms} ms for one batch (an endless loop?); raise `deadline_ms` in the manifest if the batch is just slow")]
    Deadline {
        /// The deadline.
        deadline_ms: u64,
    },
    /// The guest tried to grow its memory past the limit.
    #[error("the transform tried to use more than its memory limit of {limit_mb} MiB; raise `memory_limit_mb` in the manifest if that is expected")]
    Memory {
        /// The limit.
        limit_mb: u64,
    },
    /// The guest's output breaks the contract.
    #[error("the transform returned invalid output: {message}")]
    InvalidOutput {
        /// What is wrong.
        message: String,
    },
    /// The module would cost more to compile than a limit allows.
    #[error("module {path} is refused before compiling: {what}, {over}{unit} over the limit of {limit}{unit} (compiling it could take minutes and gigabytes); check that it is the module you meant to ship, or if you trust it and it needs this, raise the limit with {var}={setting}")]
    TooCostly {
        /// The file.
        path: PathBuf,
        /// What was measured.
        what: String,
        /// The limit.
        limit: u64,
        /// By how much the module exceeds it.
        over: u64,
        /// The unit of `limit` and `over` in the message (" bytes" or "").
        unit: &'static str,
        /// The environment variable that sets the limit.
        var: &'static str,
        /// The smallest setting of `var` that admits the module.
        setting: u64,
    },
    /// A compile limit's environment variable does not hold a limit.
    #[error("{var}=`{value}` is not a positive whole number; set it to the limit you want or unset it for the default")]
    LimitSetting {
        /// The variable.
        var: &'static str,
        /// What it holds.
        value: String,
    },
    /// An outcome breaks the contract (a malformed record, a payload on a keep
    /// or delete); the pipeline names its document.
    #[error("the transform returned invalid output: {0}")]
    InvalidOutcome(OutcomeError),
    /// A core module's `mongoshift_alloc` failed. It sees only the batch's
    /// size, so no document is to blame.
    #[error("the module's mongoshift_alloc failed for a batch of {bytes} bytes, before any document was transformed: {reason}")]
    Alloc {
        /// The size asked for.
        bytes: usize,
        /// Why (a trap, the deadline, no memory).
        reason: String,
    },
    /// The module's `describe` states another contract version than the
    /// WIT world its component exports.
    #[error("module {path} describes itself as contract version {described}, but it exports the world of contract version {world} (mongoshift:transform@{world}.0.0); build it so the two agree (mongoshift-guest does)")]
    WorldVersion {
        /// The file.
        path: PathBuf,
        /// What `describe` says.
        described: u32,
        /// The version of the world it exports.
        world: u32,
    },
    /// The compiled-artifact cache failed in a way that matters.
    #[error("module cache: {message}")]
    Cache {
        /// What went wrong.
        message: String,
    },
}

impl WasmError {
    /// The place in its batch of the document this error is about, when the
    /// error itself says (an invalid outcome record).
    pub fn document_index(&self) -> Option<usize> {
        match self {
            WasmError::InvalidOutcome(e) => e.index,
            _ => None,
        }
    }
}
