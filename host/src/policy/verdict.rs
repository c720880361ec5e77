//! [`Verdict`]: whether a policy allows a migration, and if not, the rule
//! it breaks.

use serde::Serialize;

use super::access::{access, Access, Ns};
use super::rules::{Operation, Policy, Rule, Scope};
use crate::error::PolicyError;
use crate::glob;
use crate::manifest::Body;
use crate::options::Strategy;
use crate::source::Migration;

/// What a policy says of one migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// It may run.
    Allowed,
    /// It breaks `rule` (given on `line` of the policy).
    Refused {
        /// The rule (`kinds`, `ceilings.memory_limit_mb`, `scope`, …).
        rule: &'static str,
        /// The rule's line in the policy file.
        line: usize,
        /// How the migration breaks it.
        reason: String,
    },
}

/// The migration judged and how it would run.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The migration.
    pub migration: &'a Migration,
    /// The database it runs in.
    pub database: &'a str,
    /// The strategy chosen for a Wasm migration's run.
    pub strategy: Option<Strategy>,
    /// The worker threads its run would start.
    pub threads: usize,
}

type Checked = Result<(), (&'static str, usize, String)>;

fn refuse<T>(rule: &'static str, r: &Rule<T>, reason: String) -> Checked {
    Err((rule, r.line, reason))
}

impl Policy {
    /// Whether the policy allows `s`, else the first rule it breaks.
    pub fn verdict(&self, s: &Subject<'_>) -> Verdict {
        let checks = [
            self.check_kind(s),
            self.check_ceilings(s),
            self.check_strategy(s),
            access(s.migration, s.database, s.strategy)
                .map_or_else(|| self.check_unbounded(s), |a| self.check_access(s, &a)),
        ];
        match checks.into_iter().find_map(Result::err) {
            None => Verdict::Allowed,
            Some((rule, line, reason)) => Verdict::Refused { rule, line, reason },
        }
    }

    /// The error of a migration the policy refuses, for `up`.
    pub fn check(&self, s: &Subject<'_>) -> Result<(), PolicyError> {
        match self.verdict(s) {
            Verdict::Allowed => Ok(()),
            Verdict::Refused { rule, line, reason } => Err(PolicyError::Refused {
                id: s.migration.id.clone(),
                file: s.migration.manifest_path.clone(),
                rule,
                policy: self.path.clone(),
                line,
                reason,
            }),
        }
    }

    fn check_kind(&self, s: &Subject<'_>) -> Checked {
        let kind = s.migration.manifest.kind;
        if let Some(r) = self.kinds.as_ref().filter(|r| !r.value.contains(&kind)) {
            let allowed: Vec<&str> = r.value.iter().map(|k| k.as_str()).collect();
            return refuse(
                "kinds",
                r,
                format!(
                    "kind `{kind}` is not allowed (allowed: {})",
                    allowed.join(", ")
                ),
            );
        }
        match &self.require_sandbox {
            Some(r) if r.value && !kind.sandboxed() => refuse(
                "require_sandbox",
                r,
                format!("kind `{kind}` is not sandboxed: it runs with the full rights of the user mongoshift connects as{}", if kind == crate::manifest::Kind::Python { " and of this process" } else { "" }),
            ),
            _ => Ok(()),
        }
    }

    fn check_ceilings(&self, s: &Subject<'_>) -> Checked {
        let Body::Wasm(spec) = &s.migration.manifest.body else {
            return Ok(());
        };
        let c = &self.ceilings;
        let asks = [
            (
                "ceilings.memory_limit_mb",
                &c.memory_limit_mb,
                spec.memory_limit_mb,
                " MiB of memory",
            ),
            (
                "ceilings.deadline_ms",
                &c.deadline_ms,
                spec.deadline_ms,
                " ms of CPU time per batch",
            ),
            (
                "ceilings.threads",
                &c.threads,
                s.threads as u64,
                " worker threads",
            ),
            (
                "ceilings.batch_size",
                &c.batch_size,
                spec.batch_size as u64,
                " documents per batch",
            ),
        ];
        for (key, ceiling, asked, what) in asks {
            if let Some(r) = ceiling.as_ref().filter(|r| asked > r.value) {
                return refuse(
                    key,
                    r,
                    format!(
                        "its manifest asks for {asked}{what}, over the ceiling of {}",
                        r.value
                    ),
                );
            }
        }
        Ok(())
    }

    fn check_strategy(&self, s: &Subject<'_>) -> Checked {
        match (&self.strategies, s.strategy) {
            (Some(r), Some(chosen)) if !r.value.contains(&chosen) => refuse(
                "strategies",
                r,
                format!("it would run with strategy {} (set `strategy` in its manifest or pass `--strategy`)", chosen.as_str()),
            ),
            _ => Ok(()),
        }
    }

    /// A Python migration: its code decides what it touches at run time.
    fn check_unbounded(&self, s: &Subject<'_>) -> Checked {
        match self.scopes.first() {
            Some(first) => refuse(
                "scope",
                &first.migrations,
                format!("kind `{}` runs its own code with the user's full rights: no scope can bound what it touches", s.migration.manifest.kind),
            ),
            None => Ok(()),
        }
    }

    fn check_access(&self, s: &Subject<'_>, a: &Access) -> Checked {
        for op in &a.operations {
            if let Some(line) = self.forbids(*op) {
                return Err((
                    "operations",
                    line,
                    format!("it uses operation `{}`, which is not allowed", op.as_str()),
                ));
            }
        }
        if let Some(r) = &self.outputs {
            if let Some(ns) = a.outputs.iter().find(|ns| !any_matches(&r.value, ns)) {
                return refuse(
                    "outputs",
                    r,
                    format!("it writes to {ns}, which no `outputs` pattern allows"),
                );
            }
        }
        if self.scopes.is_empty() {
            return Ok(());
        }
        let id = &s.migration.id;
        let mine: Vec<_> = self
            .scopes
            .iter()
            .filter(|sc| glob::matches(&sc.migrations.value, id))
            .collect();
        let Some(first) = mine.first() else {
            let r = &self.scopes[0].migrations;
            return refuse("scope", r, format!("no [[scope]] names migration {id}"));
        };
        let wanted = [
            (0, "delete in", &a.delete),
            (1, "write", &a.write),
            (2, "read", &a.read),
        ];
        for (level, verb, list) in wanted {
            if let Some(ns) = list
                .iter()
                .find(|ns| !mine.iter().any(|sc| allows(sc, level, ns)))
            {
                return refuse(
                    "scope",
                    &first.migrations,
                    format!("it would {verb} {ns}, outside its scope"),
                );
            }
        }
        Ok(())
    }
}

fn ns_matches(pattern: &str, ns: &Ns) -> bool {
    pattern
        .split_once('.')
        .is_some_and(|(d, c)| glob::matches(d, &ns.db) && glob::matches(c, &ns.collection))
}

/// Whether a scope lets a migration delete in (`level` 0), write (1) or
/// read (2) `ns`: each list allows its own and the lesser ones.
fn allows(sc: &Scope, level: u8, ns: &Ns) -> bool {
    let lists: &[&Vec<String>] = match level {
        0 => &[&sc.delete],
        1 => &[&sc.write, &sc.delete],
        _ => &[&sc.read, &sc.write, &sc.delete],
    };
    lists.iter().any(|l| any_matches(l, ns))
}

fn any_matches(patterns: &[String], ns: &Ns) -> bool {
    patterns.iter().any(|p| ns_matches(p, ns))
}

/// Whether the policy forbids delete outcomes for migration `id` writing
/// `ns` (operation `delete` not allowed, or no scope lets it delete there):
/// its run then has a deleted-documents ceiling of 0.
pub(super) fn deletes_forbidden(
    p: &Policy,
    id: &str,
    db: &str,
    collection: &str,
) -> Option<(&'static str, usize)> {
    if let Some(line) = p.forbids(Operation::Delete) {
        return Some(("operations", line));
    }
    let ns = Ns {
        db: db.into(),
        collection: collection.into(),
    };
    let mine: Vec<_> = p
        .scopes
        .iter()
        .filter(|sc| glob::matches(&sc.migrations.value, id))
        .collect();
    match mine.first() {
        Some(first) if !mine.iter().any(|sc| any_matches(&sc.delete, &ns)) => {
            Some(("scope", first.migrations.line))
        }
        _ => None,
    }
}
