//! The operator's policy: rules for running migrations written by someone
//! else, kept apart from them (a file of its own, or a `[policy]` table in
//! the operator's `mongoshift.toml`; never inside the migrations
//! directory).
//!
//! - `rules`: the [`Policy`] and its rules, each with its line;
//!   `raw` → `parse`: TOML into a checked policy, every error naming the
//!   file and the line; `load`: where it is read from ([`PolicySource`]).
//! - `access`: what a migration declares it touches; `verdict`: the
//!   [`Verdict`] on one migration before anything runs (kinds, the sandbox,
//!   ceilings of its manifest, strategies, operations, outputs, scopes).
//! - `limits`: the [`RunLimits`] a run's writer enforces before each
//!   batch's commit (documents changed and deleted per run).
//!
//! - `signatures`: the signature rule its `trusted_keys` and `signatures`
//!   set (the keys are checked when the policy is read; signatures
//!   themselves are checked by [`crate::signing`]).

mod access;
mod limits;
mod load;
mod parse;
mod raw;
mod rules;
mod signatures;
#[cfg(test)]
mod tests;
mod verdict;

pub use limits::{Limit, RunLimits};
pub use load::PolicySource;
pub use parse::{parse, parse_table};
pub use rules::{Ceilings, Operation, Policy, Rule, Scope, Signatures, OPERATIONS};
pub use verdict::{Subject, Verdict};
