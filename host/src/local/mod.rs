//! A migration's transform run on documents in memory, with no database.
//!
//! - `module`: a Wasm migration's module and schema, loaded the one way
//!   every path loads them.

mod module;

pub(crate) use module::{compile_schema, load_wasm};
