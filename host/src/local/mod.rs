//! A migration's transform run on documents in memory, with no database:
//! the author's loop (`mongoshift test`, `mongoshift run`).
//!
//! - `LocalTransform`: a migration's Wasm module or Python step in one
//!   direction, run one document at a time through the worker slot `up`
//!   uses, so a document is judged exactly as a run would judge it.
//! - `read_documents`: documents from a file (Extended JSON lines, a JSON
//!   array, a BSON dump), told apart by content.
//! - `show`: BSON types and values for people.
//! - `module`: a Wasm migration's module and schema, loaded the one way
//!   every path loads them.

mod input;
mod module;
mod show;
mod transform;

pub(crate) use input::{document_from_json, json_kind, json_message};
pub use input::{read_documents, InputFormat};
pub(crate) use module::{compile_schema, load_wasm};
pub use show::{type_name, typed};
pub use transform::{Decision, LocalTransform, Opened};
