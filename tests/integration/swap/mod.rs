//! The rewrite's swap: crash safety at every named step (fail points), also
//! of an in-place run's batches, the findings of issue #13 that concern it,
//! random kills, and batches under an application's write conflicts.

pub(crate) mod app;
mod conflicts;
mod findings;
mod interrupted;
mod kills;
mod legacy;
mod matrix;
mod matrix_in_place;
mod oplog;
mod stray;
mod unique;
mod window;
