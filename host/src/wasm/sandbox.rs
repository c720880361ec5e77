//! The sandbox: what a transform may use, and how much.
//!
//! A transform gets no ambient capability. Language runtimes that import WASI
//! get deterministic stand-ins: no arguments, an empty environment, no
//! preopened directories, a network on which every socket call is refused, a
//! clock fixed at 2000-01-01T00:00:00Z that does not move, a fixed-seed random
//! generator, and stdout/stderr that go into the batch's bounded log (see
//! [`crate::batch::LogBuffer`]). Every import is checked when the module is
//! loaded; anything else is refused by name.

use std::time::Duration;

use rand::SeedableRng;
use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p1::WasiP1Ctx;

use super::limits::CompileLimits;
use super::log_stream::{GuestStream, SharedLog};
use crate::batch::LogStream;
use wasmtime_wasi::{
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

/// Limits of one run: what loading the module may cost, and per instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxLimits {
    /// CPU deadline for one batch call.
    pub deadline: Duration,
    /// Largest linear memory (bytes).
    pub memory_bytes: u64,
    /// What compiling the module may cost.
    pub compile: CompileLimits,
}

impl Default for SandboxLimits {
    /// 30 s per batch; 512 MiB of memory, room for a batch holding 16 MiB
    /// documents and their replacements; the default compile limits (not
    /// the environment's: see [`CompileLimits::from_env`]).
    fn default() -> Self {
        SandboxLimits {
            deadline: Duration::from_secs(30),
            memory_bytes: 512 << 20,
            compile: CompileLimits::default(),
        }
    }
}

impl SandboxLimits {
    /// Sets the per-batch deadline.
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = d;
        self
    }

    /// Sets the memory cap in bytes (at most 4 GiB).
    pub fn memory_bytes(mut self, bytes: u64) -> Self {
        self.memory_bytes = bytes.min(super::engine::MAX_MEMORY_BYTES);
        self
    }

    /// Sets what compiling the module may cost.
    pub fn compile(mut self, limits: CompileLimits) -> Self {
        self.compile = limits;
        self
    }

    pub(crate) fn deadline_ticks(&self) -> u64 {
        (self.deadline.as_millis() / super::engine::EPOCH_TICK.as_millis()).max(1) as u64
    }
}

/// The fixed time the sandbox reports: 2000-01-01T00:00:00Z.
const FIXED_WALL_CLOCK: Duration = Duration::from_secs(946_684_800);

struct FixedWallClock;
impl HostWallClock for FixedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        FIXED_WALL_CLOCK
    }
}

struct FixedMonotonicClock;
impl HostMonotonicClock for FixedMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

fn wasi_builder(log: &SharedLog) -> WasiCtxBuilder {
    let mut b = WasiCtxBuilder::new();
    b.stdout(GuestStream::new(log, LogStream::Stdout))
        .stderr(GuestStream::new(log, LogStream::Stderr))
        .wall_clock(FixedWallClock)
        .monotonic_clock(FixedMonotonicClock)
        .secure_random(rand::rngs::StdRng::seed_from_u64(0x6d6f6e676f736866))
        .insecure_random(rand::rngs::StdRng::seed_from_u64(0x7368696674))
        .insecure_random_seed(0)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        // No address may be bound or connected to (the default, said here).
        .socket_addr_check(|_, _| Box::pin(async { false }));
    b
}

/// Per-store state: the limiter, the WASI stand-ins and the batch's log.
pub(crate) struct StoreState {
    pub(crate) limits: StoreLimits,
    /// What the guest logs during a batch (its `log` import, stdout, stderr).
    pub(crate) log: SharedLog,
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) p1: Option<WasiP1Ctx>,
}

impl StoreState {
    pub(crate) fn new(limits: &SandboxLimits, core: bool) -> StoreState {
        let log = SharedLog::default();
        StoreState {
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes as usize)
                .trap_on_grow_failure(true)
                .build(),
            wasi: wasi_builder(&log).build(),
            table: ResourceTable::new(),
            p1: core.then(|| wasi_builder(&log).build_p1()),
            log,
        }
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// WASI interfaces a component may import (all served by the stand-ins above).
const COMPONENT_ALLOWED: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    // Needed by language runtimes' standard libraries; with no preopened
    // directory there is nothing to open.
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    // Imported by Python's runtime (componentize-py) whether it is used or
    // not. A network with nothing on it: TCP, UDP and name lookups are off
    // and no address may be used, so every socket call returns an error.
    "wasi:sockets/network",
    "wasi:sockets/instance-network",
    "wasi:sockets/tcp",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket",
    "wasi:sockets/ip-name-lookup",
];

/// Why a component import is refused, or `None` when it is allowed.
pub(crate) fn check_component_import(name: &str) -> Option<String> {
    let unversioned = name.split('@').next().unwrap_or(name);
    // The contract's own types interface: types only, no functions.
    if COMPONENT_ALLOWED.contains(&unversioned) || unversioned == "mongoshift:transform/types" {
        return None;
    }
    Some(
        if unversioned.starts_with("wasi:sockets") || unversioned.starts_with("wasi:http") {
            // wasi:http, or a sockets interface beyond the stand-ins above.
            "no network".into()
        } else {
            "not one of the deterministic WASI stand-ins".into()
        },
    )
}

/// `wasi_snapshot_preview1` functions a core module may import.
const CORE_WASI_ALLOWED: &[&str] = &[
    "args_get",
    "args_sizes_get",
    "environ_get",
    "environ_sizes_get",
    "clock_time_get",
    "clock_res_get",
    "random_get",
    "fd_write",
    "fd_close",
    "fd_fdstat_get",
    "fd_seek",
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "proc_exit",
    "sched_yield",
];

/// Why a core-module import is refused, or `None` when it is allowed.
pub(crate) fn check_core_import(module: &str, name: &str) -> Option<String> {
    match module {
        "wasi_snapshot_preview1" if CORE_WASI_ALLOWED.contains(&name) => None,
        "wasi_snapshot_preview1" => Some(if name.starts_with("sock_") {
            "no network".into()
        } else if name.starts_with("path_") || name.starts_with("fd_") {
            "no files".into()
        } else {
            "not one of the deterministic WASI stand-ins".into()
        }),
        "env" if name == "abort" || name == "log" => None,
        _ => Some("unknown import module".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_runtimes_get_their_wasi_interfaces_and_nothing_else() {
        for allowed in [
            "wasi:cli/environment@0.2.9",
            "wasi:clocks/wall-clock@0.2.0",
            "wasi:random/random@0.2.9",
            "wasi:filesystem/preopens@0.2.9",
            "wasi:sockets/tcp@0.2.9",
            "wasi:sockets/ip-name-lookup@0.2.0",
            "mongoshift:transform/types@1.0.0",
        ] {
            assert_eq!(check_component_import(allowed), None, "{allowed}");
        }
        assert_eq!(
            check_component_import("wasi:http/outgoing-handler@0.2.0").as_deref(),
            Some("no network")
        );
        assert_eq!(
            check_component_import("wasi:sockets/raw@0.3.0").as_deref(),
            Some("no network")
        );
        assert_eq!(
            check_component_import("wasi:keyvalue/store@0.2.0").as_deref(),
            Some("not one of the deterministic WASI stand-ins")
        );
    }
}
