//! The kinds of migration a manifest names.

/// The kinds of migration this version can run.
pub const KNOWN_KINDS: &[&str] = &["update", "wasm"];

/// What a migration does to the documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Kind {
    /// Operations the server executes; documents never leave it.
    Update,
    /// A sandboxed WebAssembly transform run on every document.
    Wasm,
    /// A `.py` file run by the Python package (see [`crate::python`]).
    Python,
}

/// Every kind, manifests' and Python files' alike, in the order messages
/// list them.
pub const ALL_KINDS: &[Kind] = &[Kind::Wasm, Kind::Update, Kind::Python];

impl Kind {
    /// The kind called `name` (`wasm`, `update`, `python`).
    pub fn from_name(name: &str) -> Option<Kind> {
        ALL_KINDS.iter().copied().find(|k| k.as_str() == name)
    }

    /// Whether its code runs in the sandbox: only a Wasm transform does. An
    /// `update` migration's steps and a Python file run with the rights of
    /// the user `mongoshift` connects as (and, for Python, of the process).
    pub fn sandboxed(&self) -> bool {
        matches!(self, Kind::Wasm)
    }

    /// The name used in manifests and in the ledger.
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Update => "update",
            Kind::Wasm => "wasm",
            Kind::Python => "python",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
