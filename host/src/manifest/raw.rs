//! The manifest as TOML gives it, with spans, before it is checked.

use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawManifest {
    pub(super) id: Option<Spanned<String>>,
    pub(super) description: Option<String>,
    pub(super) kind: Spanned<String>,
    pub(super) collection: Option<String>,
    #[serde(default)]
    pub(super) forward: Vec<Spanned<RawStep>>,
    pub(super) backward: Option<Vec<Spanned<RawStep>>>,
    // kind = "wasm"
    pub(super) filter: Option<Spanned<toml::Value>>,
    pub(super) module: Option<Spanned<String>>,
    pub(super) build: Option<String>,
    pub(super) batch_size: Option<Spanned<i64>>,
    pub(super) threads: Option<Spanned<i64>>,
    pub(super) deadline_ms: Option<Spanned<i64>>,
    pub(super) memory_limit_mb: Option<Spanned<i64>>,
    pub(super) transactions: Option<Spanned<String>>,
    pub(super) pre_images: Option<bool>,
    pub(super) schema: Option<Spanned<toml::Value>>,
    pub(super) strategy: Option<Spanned<String>>,
    pub(super) in_place_writes: Option<Spanned<String>>,
    pub(super) outputs: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) lookup: Option<Vec<Spanned<RawLookup>>>,
    pub(super) max_rate: Option<Spanned<i64>>,
    pub(super) max_lag_s: Option<Spanned<i64>>,
    pub(super) max_latency_ms: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLookup {
    pub(super) from: Spanned<String>,
    pub(super) local_field: Spanned<String>,
    pub(super) foreign_field: Spanned<String>,
    #[serde(rename = "as")]
    pub(super) as_name: Spanned<String>,
    pub(super) projection: Option<Spanned<toml::Value>>,
    pub(super) sort: Option<Spanned<toml::Value>>,
    pub(super) limit: Option<Spanned<i64>>,
    #[serde(default)]
    pub(super) required: bool,
    pub(super) on: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    pub(super) op: Spanned<String>,
    pub(super) collection: Option<String>,
    pub(super) filter: Option<Spanned<toml::Value>>,
    pub(super) update: Option<Spanned<toml::Value>>,
    pub(super) from: Option<String>,
    pub(super) to: Option<String>,
    pub(super) keys: Option<Spanned<toml::Value>>,
    pub(super) name: Option<String>,
    pub(super) options: Option<Spanned<toml::Value>>,
}

pub(super) const OPS: &str = "update_many, delete_many, rename_field, create_index, drop_index";
