//! [`PolicyError`]: an operator policy that cannot be used, or a migration
//! it refuses.

use std::path::PathBuf;

/// An operator policy that cannot be used, or a migration it refuses. Every
/// variant names the policy file (and, where there is one, the line).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The policy file cannot be read.
    #[error("cannot read policy file {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },

    /// The policy is not valid TOML or breaks the format.
    #[error("invalid policy {}: line {line}: {message}", .path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The line (1-based).
        line: usize,
        /// What is wrong.
        message: String,
    },

    /// A rule names a kind this version does not know.
    #[error("invalid policy {}: line {line}: unknown kind `{kind}` (known kinds: {known})", .path.display())]
    UnknownKind {
        /// The file.
        path: PathBuf,
        /// The line.
        line: usize,
        /// The name given.
        kind: String,
        /// The kinds there are.
        known: String,
    },

    /// A rule names an operation this version does not know.
    #[error("invalid policy {}: line {line}: unknown operation `{operation}` (known operations: {known})", .path.display())]
    UnknownOperation {
        /// The file.
        path: PathBuf,
        /// The line.
        line: usize,
        /// The name given.
        operation: String,
        /// The operations there are.
        known: String,
    },

    /// The policy lies inside the migrations directory it would judge.
    #[error("the policy {} lies inside the migrations directory {}: migrations cannot choose their own policy; keep it outside (--policy, MONGOSHIFT_POLICY, or a [policy] table in the operator's mongoshift.toml)", .policy.display(), .dir.display())]
    InsideMigrations {
        /// The policy file.
        policy: PathBuf,
        /// The migrations directory.
        dir: PathBuf,
    },

    /// A migration breaks a rule; found before anything runs.
    #[error("migration {id} ({}) is refused by the policy: rule `{rule}` ({}, line {line}): {reason}", .file.display(), .policy.display())]
    Refused {
        /// The migration.
        id: String,
        /// Its file (manifest or Python file).
        file: PathBuf,
        /// The rule broken.
        rule: &'static str,
        /// The policy file.
        policy: PathBuf,
        /// The rule's line.
        line: usize,
        /// How the migration breaks it.
        reason: String,
    },

    /// A run stopped before the batch that would take it over a ceiling of
    /// documents; nothing of that batch was written.
    #[error("migration {id} ({}) stopped before a batch that would take it over the policy's ceiling: rule `{rule}` ({}, line {line}) allows {limit} document(s) per run, {done} done in this run and the next batch has {batch}; nothing of that batch was written and the checkpoint before it is kept: raise the ceiling and run `mongoshift up` again to go on from there", .file.display(), .policy.display())]
    Ceiling {
        /// The migration.
        id: String,
        /// Its file.
        file: PathBuf,
        /// The ceiling (`ceilings.documents_changed`, …).
        rule: &'static str,
        /// The policy file.
        policy: PathBuf,
        /// The rule's line.
        line: usize,
        /// The ceiling.
        limit: u64,
        /// Documents counted against it in this run so far.
        done: u64,
        /// Documents the stopped batch would add.
        batch: u64,
    },
}
