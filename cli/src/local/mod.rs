//! The commands that run transforms with no database, the author's loop:
//! `test` (the fixtures of migrations) and `run` (a transform on documents
//! from a file). `chosen` picks the migrations and the Python runtime they
//! need.

mod chosen;
mod run_file;
mod test;

pub(crate) use run_file::{run_file, RunFile};
pub(crate) use test::test;
