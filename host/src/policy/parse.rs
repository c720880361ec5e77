//! Parsing a policy: TOML into a checked [`Policy`], every error naming the
//! file and the line.

use std::path::Path;

use toml::Spanned;

use super::raw::{Names, RawCeilings, RawPolicy, RawScope, WithPolicy};
use super::rules::{Ceilings, Operation, Policy, Rule, Scope, Signatures, OPERATIONS};
use crate::error::PolicyError;
use crate::manifest::{Kind, ALL_KINDS};
use crate::options::Strategy;

/// Parses a policy file. `path` names the file in messages and in verdicts.
pub fn parse(path: &Path, text: &str) -> Result<Policy, PolicyError> {
    let raw: RawPolicy = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
    checked(path, text, raw)
}

/// Parses the `[policy]` table of an operator's `mongoshift.toml`; `None`
/// when it has none. Lines count from the top of that file.
pub fn parse_table(path: &Path, text: &str) -> Result<Option<Policy>, PolicyError> {
    let with: WithPolicy = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
    with.policy.map(|raw| checked(path, text, raw)).transpose()
}

fn checked(path: &Path, text: &str, raw: RawPolicy) -> Result<Policy, PolicyError> {
    let at = |span: std::ops::Range<usize>| line_of(text, span.start);
    let invalid = |span: std::ops::Range<usize>, message: String| PolicyError::Invalid {
        path: path.to_path_buf(),
        line: at(span),
        message,
    };
    let mut policy = Policy::empty(path);
    policy.sha256 = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(text.as_bytes()))
    };
    policy.kinds = names(&raw.kinds, text, |n| {
        Kind::from_name(n.get_ref()).ok_or_else(|| PolicyError::UnknownKind {
            path: path.to_path_buf(),
            line: at(n.span()),
            kind: n.get_ref().clone(),
            known: ALL_KINDS
                .iter()
                .map(Kind::as_str)
                .collect::<Vec<_>>()
                .join(", "),
        })
    })?;
    policy.operations = names(&raw.operations, text, |n| {
        Operation::from_name(n.get_ref()).ok_or_else(|| PolicyError::UnknownOperation {
            path: path.to_path_buf(),
            line: at(n.span()),
            operation: n.get_ref().clone(),
            known: OPERATIONS
                .iter()
                .map(Operation::as_str)
                .collect::<Vec<_>>()
                .join(", "),
        })
    })?;
    policy.strategies = names(&raw.strategies, text, |n| {
        match n.get_ref().replace('-', "_").as_str() {
            "in_place" => Ok(Strategy::InPlace),
            "rewrite" => Ok(Strategy::Rewrite),
            other => Err(invalid(
                n.span(),
                format!("`strategies`: unknown strategy `{other}` (strategies: in_place, rewrite)"),
            )),
        }
    })?;
    policy.outputs = names(&raw.outputs, text, |n| {
        namespace_glob(n, "outputs", &invalid)
    })?;
    policy.require_sandbox = raw.require_sandbox.map(|b| Rule {
        line: at(b.span()),
        value: *b.get_ref(),
    });
    if let Some(c) = &raw.ceilings {
        policy.ceilings = ceilings(c, text, &invalid)?;
    }
    for s in raw.scope.iter().flatten() {
        policy.scopes.push(scope(s, text, &invalid)?);
    }
    if let Some(keys) = &raw.trusted_keys {
        for k in keys.get_ref() {
            if let Err(e) = crate::signing::TrustedKeys::parse(std::slice::from_ref(k.get_ref())) {
                return Err(invalid(
                    k.span(),
                    format!("`trusted_keys`: {e} (each key is `name:<base64 Ed25519 public key>`)"),
                ));
            }
            policy.trusted_keys.push(Rule {
                line: at(k.span()),
                value: k.get_ref().clone(),
            });
        }
    }
    if let Some(s) = &raw.signatures {
        policy.signatures = Rule {
            line: at(s.span()),
            value: match s.get_ref().as_str() {
                "required" => Signatures::Required,
                "optional" => Signatures::Optional,
                other => {
                    return Err(invalid(
                        s.span(),
                        format!("`signatures` must be \"required\" or \"optional\", not {other:?}"),
                    ))
                }
            },
        };
    }
    if policy.signatures.value == Signatures::Required && policy.trusted_keys.is_empty() {
        let span = raw
            .signatures
            .as_ref()
            .map(|s| s.span())
            .unwrap_or_default();
        return Err(invalid(
            span,
            "`signatures = \"required\"` needs at least one key in `trusted_keys`".into(),
        ));
    }
    Ok(policy)
}

/// A list of names, each turned into a value by `one`.
fn names<T>(
    list: &Option<Names>,
    text: &str,
    one: impl Fn(&Spanned<String>) -> Result<T, PolicyError>,
) -> Result<Option<Rule<Vec<T>>>, PolicyError> {
    list.as_ref()
        .map(|l| {
            Ok(Rule {
                line: line_of(text, l.span().start),
                value: l.get_ref().iter().map(&one).collect::<Result<_, _>>()?,
            })
        })
        .transpose()
}

/// A `database.collection` glob, each half a valid glob.
fn namespace_glob(
    n: &Spanned<String>,
    key: &str,
    invalid: &dyn Fn(std::ops::Range<usize>, String) -> PolicyError,
) -> Result<String, PolicyError> {
    let text = n.get_ref();
    let halves = text.split_once('.');
    let bad = match halves {
        Some((db, coll)) => crate::glob::check(db).and(crate::glob::check(coll)).err(),
        None => Some("it is not `database.collection` (use `*` for any)".to_string()),
    };
    match bad {
        Some(why) => Err(invalid(n.span(), format!("`{key}`: `{text}`: {why}"))),
        None => Ok(text.clone()),
    }
}

fn ceilings(
    c: &RawCeilings,
    text: &str,
    invalid: &dyn Fn(std::ops::Range<usize>, String) -> PolicyError,
) -> Result<Ceilings, PolicyError> {
    let limit = |key: &str, min: i64, v: &Option<Spanned<i64>>| match v {
        None => Ok(None),
        Some(s) if *s.get_ref() >= min => Ok(Some(Rule {
            line: line_of(text, s.span().start),
            value: *s.get_ref() as u64,
        })),
        Some(s) => Err(invalid(
            s.span(),
            format!(
                "`ceilings.{key}` must be at least {min}, not {}",
                s.get_ref()
            ),
        )),
    };
    Ok(Ceilings {
        memory_limit_mb: limit("memory_limit_mb", 1, &c.memory_limit_mb)?,
        deadline_ms: limit("deadline_ms", 1, &c.deadline_ms)?,
        threads: limit("threads", 1, &c.threads)?,
        batch_size: limit("batch_size", 1, &c.batch_size)?,
        documents_changed: limit("documents_changed", 0, &c.documents_changed)?,
        documents_deleted: limit("documents_deleted", 0, &c.documents_deleted)?,
    })
}

fn scope(
    s: &Spanned<RawScope>,
    text: &str,
    invalid: &dyn Fn(std::ops::Range<usize>, String) -> PolicyError,
) -> Result<Scope, PolicyError> {
    let raw = s.get_ref();
    if let Err(why) = crate::glob::check(raw.migrations.get_ref()) {
        return Err(invalid(
            raw.migrations.span(),
            format!("`scope.migrations`: {why}"),
        ));
    }
    let globs = |key: &str, list: &[Spanned<String>]| -> Result<Vec<String>, PolicyError> {
        list.iter()
            .map(|n| namespace_glob(n, &format!("scope.{key}"), invalid))
            .collect()
    };
    Ok(Scope {
        migrations: Rule {
            line: line_of(text, raw.migrations.span().start),
            value: raw.migrations.get_ref().clone(),
        },
        read: globs("read", &raw.read)?,
        write: globs("write", &raw.write)?,
        delete: globs("delete", &raw.delete)?,
    })
}

fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> PolicyError {
    PolicyError::Invalid {
        path: path.to_path_buf(),
        line: e.span().map_or(1, |s| line_of(text, s.start)),
        message: e.message().trim().to_string(),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}
