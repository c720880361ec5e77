//! The policy as TOML gives it, with spans, before it is checked.

use serde::Deserialize;
use toml::Spanned;

pub(super) type Names = Spanned<Vec<Spanned<String>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    pub(super) kinds: Option<Names>,
    pub(super) require_sandbox: Option<Spanned<bool>>,
    pub(super) strategies: Option<Names>,
    pub(super) operations: Option<Names>,
    pub(super) outputs: Option<Names>,
    pub(super) ceilings: Option<RawCeilings>,
    pub(super) scope: Option<Vec<Spanned<RawScope>>>,
    pub(super) trusted_keys: Option<Names>,
    pub(super) signatures: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCeilings {
    pub(super) memory_limit_mb: Option<Spanned<i64>>,
    pub(super) deadline_ms: Option<Spanned<i64>>,
    pub(super) threads: Option<Spanned<i64>>,
    pub(super) batch_size: Option<Spanned<i64>>,
    pub(super) documents_changed: Option<Spanned<i64>>,
    pub(super) documents_deleted: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScope {
    pub(super) migrations: Spanned<String>,
    #[serde(default)]
    pub(super) read: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) write: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) delete: Vec<Spanned<String>>,
}

/// A `mongoshift.toml` read for its `[policy]` table only; the other keys
/// are the CLI's.
#[derive(Deserialize)]
pub(super) struct WithPolicy {
    pub(super) policy: Option<RawPolicy>,
}
