//! [`Policy`]: the rules an operator sets for migrations written by others,
//! each with the line it was given on.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::manifest::Kind;
use crate::options::Strategy;

/// One rule's value and where it was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule<T> {
    /// What the rule says.
    pub value: T,
    /// Its line in the policy file (1-based).
    pub line: usize,
}

/// What a migration may do, checked before anything runs ([`verdict`]) and,
/// for the ceilings of documents, while it runs.
///
/// A rule left out allows everything it would restrict.
///
/// [`verdict`]: Policy::verdict
#[derive(Debug, Clone, Serialize)]
pub struct Policy {
    /// The file the policy was read from (the policy file, or the operator's
    /// `mongoshift.toml` holding a `[policy]` table).
    pub path: PathBuf,
    /// SHA-256 (hex) of the file's text: which policy a run was under, as
    /// the audit trail records it.
    pub sha256: String,
    /// `kinds`: the kinds allowed.
    pub kinds: Option<Rule<Vec<Kind>>>,
    /// `require_sandbox`: only sandboxed migrations (Wasm) run.
    pub require_sandbox: Option<Rule<bool>>,
    /// `strategies`: the write strategies allowed (`in_place`, `rewrite`).
    pub strategies: Option<Rule<Vec<Strategy>>>,
    /// `operations`: the operations allowed.
    pub operations: Option<Rule<Vec<Operation>>>,
    /// `outputs`: the collections a cross-collection migration may write
    /// besides its own (`database.collection` globs).
    pub outputs: Option<Rule<Vec<String>>>,
    /// `[ceilings]`: limits a manifest and a run cannot exceed.
    pub ceilings: Ceilings,
    /// `[[scope]]`: what each migration may read, write and delete in.
    pub scopes: Vec<Scope>,
    /// `trusted_keys`: `name:base64 Ed25519 public key`, as given; checked
    /// by signature verification, not by this module.
    pub trusted_keys: Vec<Rule<String>>,
    /// `signatures`: whether every migration must be signed.
    pub signatures: Rule<Signatures>,
}

/// `[ceilings]`: limits a manifest cannot exceed and a run cannot cross.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Ceilings {
    /// `memory_limit_mb`: memory per Wasm instance, in MiB.
    pub memory_limit_mb: Option<Rule<u64>>,
    /// `deadline_ms`: CPU time per batch, in milliseconds.
    pub deadline_ms: Option<Rule<u64>>,
    /// `threads`: worker threads (a manifest's 0, one per core, counts as
    /// the number of cores).
    pub threads: Option<Rule<u64>>,
    /// `batch_size`: documents per batch.
    pub batch_size: Option<Rule<u64>>,
    /// `documents_changed`: documents replaced or deleted per run of one
    /// migration.
    pub documents_changed: Option<Rule<u64>>,
    /// `documents_deleted`: documents deleted per run of one migration.
    pub documents_deleted: Option<Rule<u64>>,
}

/// `[[scope]]`: what the migrations whose id matches `migrations` may touch.
#[derive(Debug, Clone, Serialize)]
pub struct Scope {
    /// A glob over migration ids.
    pub migrations: Rule<String>,
    /// `database.collection` globs it may read.
    pub read: Vec<String>,
    /// `database.collection` globs it may write (and read).
    pub write: Vec<String>,
    /// `database.collection` globs it may delete documents in (and write
    /// and read).
    pub delete: Vec<String>,
}

/// Whether migrations must be signed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signatures {
    /// Every migration must carry a signature by a trusted key.
    Required,
    /// Signatures are checked where present.
    #[default]
    Optional,
}

/// An operation a policy may allow or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Operation {
    /// An `update` step changing documents.
    UpdateMany,
    /// An `update` step deleting documents.
    DeleteMany,
    /// An `update` step renaming a field.
    RenameField,
    /// An `update` step building an index.
    CreateIndex,
    /// An `update` step dropping an index.
    DropIndex,
    /// A transform deciding to delete a document.
    Delete,
    /// A rewrite putting its copy in place of the collection.
    Swap,
}

/// Every operation, in the order messages list them.
pub const OPERATIONS: &[Operation] = &[
    Operation::UpdateMany,
    Operation::DeleteMany,
    Operation::RenameField,
    Operation::CreateIndex,
    Operation::DropIndex,
    Operation::Delete,
    Operation::Swap,
];

impl Operation {
    /// The name used in policies.
    pub fn as_str(&self) -> &'static str {
        match self {
            Operation::UpdateMany => "update_many",
            Operation::DeleteMany => "delete_many",
            Operation::RenameField => "rename_field",
            Operation::CreateIndex => "create_index",
            Operation::DropIndex => "drop_index",
            Operation::Delete => "delete",
            Operation::Swap => "swap",
        }
    }

    /// The operation called `name`.
    pub fn from_name(name: &str) -> Option<Operation> {
        OPERATIONS.iter().copied().find(|o| o.as_str() == name)
    }
}

impl Policy {
    /// A policy with no rules, read from `path`.
    pub fn empty(path: &Path) -> Policy {
        Policy {
            path: path.to_path_buf(),
            sha256: String::new(),
            kinds: None,
            require_sandbox: None,
            strategies: None,
            operations: None,
            outputs: None,
            ceilings: Ceilings::default(),
            scopes: Vec::new(),
            trusted_keys: Vec::new(),
            signatures: Rule {
                value: Signatures::Optional,
                line: 0,
            },
        }
    }

    /// Whether the policy allows `op` (the rule's line when it does not).
    pub fn forbids(&self, op: Operation) -> Option<usize> {
        self.operations
            .as_ref()
            .filter(|r| !r.value.contains(&op))
            .map(|r| r.line)
    }
}
