//! The TOML manifest that defines one migration.
//!
//! ```toml
//! description = "give every user a status"
//! kind = "update"
//! collection = "users"
//!
//! [[forward]]
//! op = "update_many"
//! filter = { status = { "$exists" = false } }
//! update = { "$set" = { status = "active" } }
//!
//! [[backward]]
//! op = "update_many"
//! update = { "$unset" = { status = "" } }
//! ```
//!
//! Values are TOML; a table with a single Extended JSON key (`{ "$oid" = "…" }`,
//! `{ "$date" = "…" }`, `{ "$numberDecimal" = "…" }`, …) becomes that BSON type,
//! TOML datetimes become BSON dates, and integers become int32 when they fit.
//!
//! - `kind`: the kinds a manifest may name; `types`: the [`Manifest`] and
//!   its bodies; `step`: the steps of an `update` migration.
//! - `cross`: what a cross-collection migration declares (`outputs`,
//!   `[[lookup]]`); `check_cross`: the rules they follow wherever they are
//!   written (a manifest, read by `parse_cross`, or a Python migration class).
//! - `raw` → `parse` / `parse_step`: TOML (with spans) into a checked
//!   manifest; `values`: TOML values as BSON.

mod check_cross;
mod cross;
mod kind;
mod parse;
mod parse_cross;
mod parse_step;
mod raw;
mod step;
#[cfg(test)]
mod tests;
mod types;
mod values;

pub use check_cross::{check_lookup, check_lookup_unique, check_output, LookupDecl};
pub use cross::{Lookup, LookupOn, Namespace, DEFAULT_LOOKUP_LIMIT};
pub use kind::{Kind, ALL_KINDS, KNOWN_KINDS};
pub use parse::parse;
pub(crate) use step::rename_filter;
pub use step::{UpdateSpec, UpdateStep};
pub use types::{Body, Manifest, PythonSpec, UpdateBody, WasmSpec};
pub use values::to_bson;
