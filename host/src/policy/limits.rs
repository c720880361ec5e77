//! [`RunLimits`]: the ceilings of documents a run of one migration may not
//! cross, enforced by the writer before each batch's commit.

use std::path::PathBuf;

use super::rules::{Policy, Rule};
use super::verdict::deletes_forbidden;
use crate::error::PolicyError;
use crate::source::Migration;

/// A ceiling and the rule it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// Documents allowed per run.
    pub max: u64,
    /// The rule (`ceilings.documents_changed`, `operations`, `scope`, …).
    pub rule: &'static str,
    /// Its line in the policy.
    pub line: usize,
}

/// The ceilings of one migration's run: documents changed (replaced or
/// deleted) and documents deleted. A batch that would cross one is not
/// written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunLimits {
    /// Documents replaced or deleted.
    pub changed: Option<Limit>,
    /// Documents deleted.
    pub deleted: Option<Limit>,
    /// The migration's file, for the message.
    pub file: PathBuf,
    /// The policy file, for the message.
    pub policy: PathBuf,
}

fn limit(rule: &'static str, r: &Option<Rule<u64>>) -> Option<Limit> {
    r.as_ref().map(|r| Limit {
        max: r.value,
        rule,
        line: r.line,
    })
}

impl Policy {
    /// The ceilings of a run of `m` writing `collection` of database `db`:
    /// the policy's, and none for deletes where the policy forbids them
    /// (the operation `delete`, or a scope without that collection).
    pub fn run_limits(&self, m: &Migration, db: &str, collection: &str) -> RunLimits {
        let mut deleted = limit(
            "ceilings.documents_deleted",
            &self.ceilings.documents_deleted,
        );
        if let Some((rule, line)) = deletes_forbidden(self, &m.id, db, collection) {
            deleted = Some(Limit { max: 0, rule, line });
        }
        RunLimits {
            changed: limit(
                "ceilings.documents_changed",
                &self.ceilings.documents_changed,
            ),
            deleted,
            file: m.manifest_path.clone(),
            policy: self.path.clone(),
        }
    }
}

impl RunLimits {
    /// Whether any ceiling applies.
    pub fn any(&self) -> bool {
        self.changed.is_some() || self.deleted.is_some()
    }

    /// Refuses a batch of migration `id` that would take the run over a
    /// ceiling: `done` and `batch` are (changed, deleted) counts.
    pub fn check(&self, id: &str, done: (u64, u64), batch: (u64, u64)) -> Result<(), PolicyError> {
        let pairs = [
            (&self.changed, done.0, batch.0),
            (&self.deleted, done.1, batch.1),
        ];
        for (l, done, batch) in pairs {
            let Some(l) = l else { continue };
            if batch > 0 && done + batch > l.max {
                return Err(PolicyError::Ceiling {
                    id: id.to_string(),
                    file: self.file.clone(),
                    rule: l.rule,
                    policy: self.policy.clone(),
                    line: l.line,
                    limit: l.max,
                    done,
                    batch,
                });
            }
        }
        Ok(())
    }
}
