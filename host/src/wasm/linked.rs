//! What a loaded module is once checked and pre-linked: the data its
//! instances are made from. Both the loader ([`super::module`]) and the
//! instances ([`super::instance`]) read it; it reads neither.

use std::path::PathBuf;

use wasmtime::InstancePre;

use super::bindings::{v2, TransformPre};
use super::cache::CacheOutcome;
use super::sandbox::{SandboxLimits, StoreState};

/// Which of the two forms of the contract a module uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModuleFlavor {
    /// A component implementing `guest-sdk/wit/transform.wit` or
    /// `transform-v2.wit`.
    Component,
    /// A core module following `guest-sdk/ABI.md`.
    Core,
}

/// What a module says about itself (`describe`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ModuleInfo {
    /// Its name.
    pub name: String,
    /// The contract version it implements.
    pub contract_version: u32,
    /// Whether it has a backward transform.
    pub backward: bool,
    /// Top-level fields it reads.
    pub reads: Vec<String>,
    /// Top-level fields it writes.
    pub writes: Vec<String>,
}

pub(crate) enum Pre {
    /// A component exporting the world of contract version 1.
    Component(TransformPre<StoreState>),
    /// A component exporting the world of contract version 2.
    ComponentV2(v2::TransformV2Pre<StoreState>),
    Core(InstancePre<StoreState>),
}

impl Pre {
    /// The contract version of the world a component exports (a core
    /// module states its version only in its exports).
    pub(crate) fn world_version(&self) -> Option<u32> {
        match self {
            Pre::Component(_) => Some(1),
            Pre::ComponentV2(_) => Some(2),
            Pre::Core(_) => None,
        }
    }
}

/// A loaded module as its instances see it.
pub(crate) struct Inner {
    pub(crate) path: PathBuf,
    pub(crate) flavor: ModuleFlavor,
    pub(crate) limits: SandboxLimits,
    pub(crate) info: ModuleInfo,
    pub(crate) pre: Pre,
    pub(crate) sha256: String,
    pub(crate) cache: CacheOutcome,
}
