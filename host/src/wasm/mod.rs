//! The WebAssembly side of the host: loading transforms and running them in a
//! sandbox.
//!
//! - [`engine`]: the one process-wide [`wasmtime::Engine`] (pooling allocator,
//!   epoch interruption).
//! - [`CompileLimits`]: what compiling a module may cost, checked before
//!   compiling it.
//! - The on-disk cache of compiled artifacts: native code, so an artifact runs
//!   only if it authenticates under this user's key for exactly this module
//!   and engine ([`CacheOutcome`] says what happened).
//! - [`Sandbox`](sandbox::Sandbox): the limits of one run (deadline per batch,
//!   memory cap) and the deterministic stand-ins a language runtime may import;
//!   what a guest writes to stdout and stderr goes into the batch's log.
//! - [`TransformModule`]: a loaded, checked module (a component implementing
//!   `guest-sdk/wit/transform.wit` or `transform-v2.wit`, or a core module
//!   following `guest-sdk/ABI.md`), pre-linked so instances are cheap.
//!   [`ModuleInfo::contract_version`] says which contract it follows.
//! - [`TransformInstance`]: one instance with its own store, reused across batches
//!   by one worker thread. Contract version 2 adds lookups in (the batch
//!   [`interleave`] builds) and [`Output`]s out
//!   ([`TransformInstance::transform_with_outputs`]).
//! - A core module's [`Outcome`]s (and outputs) are parsed strictly (every
//!   record, nothing after the last); the outcome itself lives in
//!   [`crate::batch`].
//! - [`ReplacementChecker`]: the checks every replacement passes, whoever made
//!   it (valid BSON, no key twice at any depth, the input's `_id` unchanged in
//!   type and value, at most 16 MiB), and [`check_output`]: those an output's
//!   document passes (the same, with an `_id` of its own).

mod bindings;
mod cache;
mod cache_key;
mod describe;
pub mod engine;
mod host_functions;
mod instance;
mod limits;
mod linked;
mod log_stream;
mod lookups;
mod module;
mod outcome;
pub mod sandbox;
mod validate;

pub use crate::batch::{Outcome, OutcomeError, Output, OutputOp};
pub use crate::error::WasmError;
pub use cache::CacheOutcome;
pub use describe::CONTRACT_VERSION;
pub use instance::TransformInstance;
pub use limits::CompileLimits;
pub use linked::{ModuleFlavor, ModuleInfo};
pub use lookups::{interleave, EMPTY_LOOKUPS};
pub use module::TransformModule;
pub use sandbox::SandboxLimits;
pub use validate::{
    check_output, check_replacement, show as show_raw, ReplacementChecker, MAX_DOCUMENT_BYTES,
};

#[cfg(test)]
pub(crate) use describe::parse_info;
#[cfg(test)]
pub(crate) use outcome::parse_outcomes;
