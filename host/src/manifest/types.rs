//! [`Manifest`]: one migration's definition, and the bodies of its kinds.

use std::path::Path;

use bson::Document;

use super::kind::Kind;
use super::step::UpdateStep;

/// A parsed, validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The id the manifest states, if any (it must match the entry's name).
    pub id: Option<String>,
    /// What the migration does, for people.
    pub description: String,
    /// The kind of migration.
    pub kind: Kind,
    /// The default collection.
    pub collection: Option<String>,
    /// What the kind needs.
    pub body: Body,
}

/// The kind-specific part of a manifest.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Body {
    /// `kind = "update"`.
    Update(UpdateBody),
    /// `kind = "wasm"`.
    Wasm(Box<WasmSpec>),
    /// A `<version>_<name>.py` file.
    Python(PythonSpec),
}

/// A Python migration: a `.py` file whose classes say what it does; the Python
/// package reads it (see [`crate::python`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonSpec {
    /// The file.
    pub file: std::path::PathBuf,
}

impl Manifest {
    /// The manifest of a Python migration file: its description is the first
    /// line of the module's docstring.
    pub fn python(file: &Path, text: &str) -> Manifest {
        let t = text.trim_start();
        let description = ["\"\"\"", "'''"]
            .iter()
            .find_map(|q| {
                let rest = t.strip_prefix(q)?;
                let body = &rest[..rest.find(q)?];
                body.trim().lines().next().map(|l| l.trim().to_string())
            })
            .unwrap_or_default();
        Manifest {
            id: None,
            description,
            kind: Kind::Python,
            collection: None,
            body: Body::Python(PythonSpec {
                file: file.to_path_buf(),
            }),
        }
    }
}

/// The steps of an `update` migration.
#[derive(Debug, Clone)]
pub struct UpdateBody {
    /// Steps applied by `up`, in order.
    pub forward: Vec<UpdateStep>,
    /// Steps applied by `down`, in order: given in the manifest, or derived when
    /// every forward step has an exact inverse. An error when the migration is
    /// irreversible; the string says why.
    pub backward: Result<Vec<UpdateStep>, String>,
}

/// A `wasm` migration: which documents, which module, which limits.
#[derive(Debug, Clone, PartialEq)]
pub struct WasmSpec {
    /// The collection.
    pub collection: String,
    /// Which documents (default: all).
    pub filter: Document,
    /// The module, relative to the migration's directory.
    pub module: std::path::PathBuf,
    /// A guest crate that `mongoshift build` compiles into `module`.
    pub build: Option<std::path::PathBuf>,
    /// Documents per batch (default 1000).
    pub batch_size: usize,
    /// Worker threads (0, the default: one per core).
    pub threads: usize,
    /// CPU deadline per batch in milliseconds (default 30000).
    pub deadline_ms: u64,
    /// Memory cap per instance in MiB (default 512).
    pub memory_limit_mb: u64,
    /// How writes are grouped into transactions (default: per batch).
    pub transactions: Option<crate::options::TxMode>,
    /// Keep pre-images for `down` (default: when the module has no backward).
    pub pre_images: Option<bool>,
    /// A JSON Schema every replacement must satisfy (checked as relaxed
    /// Extended JSON) before anything is written.
    pub schema: Option<serde_json::Value>,
    /// In place, copy and swap, or chosen per run (default: auto).
    pub strategy: Option<crate::options::Strategy>,
    /// How in-place runs write a changed document (default: set).
    pub in_place_writes: Option<crate::options::UpdateForm>,
    /// The collections the transform may write besides its own (contract
    /// version 2).
    pub outputs: Vec<super::cross::Namespace>,
    /// The joins resolved for each batch, in the manifest's order.
    pub lookups: Vec<super::cross::Lookup>,
    /// How fast a run may write (`max_rate`, `max_lag_s`,
    /// `max_latency_ms`); `up`'s flags win.
    pub throttle: crate::options::ThrottleOptions,
}
