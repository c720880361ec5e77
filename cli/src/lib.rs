//! # mongoshift-cli
//!
//! The `mongoshift` command line over the `mongoshift` library: building the
//! guests of Wasm migrations ([`build`]) and writing new migrations from
//! templates ([`scaffold`]).

pub mod build;
pub mod scaffold;
