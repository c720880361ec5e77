//! Parsing a manifest: TOML into a checked [`Manifest`], every error naming
//! its line and field.

use std::path::Path;

use bson::{Bson, Document};
use toml::Spanned;

use super::kind::{Kind, KNOWN_KINDS};
use super::parse_step::step;
use super::raw::{RawManifest, RawStep, OPS};
use super::step::UpdateStep;
use super::types::{Body, Manifest, UpdateBody, WasmSpec};
use super::values::{line_of, to_bson, to_json, toml_error, type_name};
use crate::error::SourceError;
use crate::options::{Named, ThrottleOptions};
use std::time::Duration;

/// Parses and validates a manifest. `path` is only used in messages.
pub fn parse(path: &Path, text: &str) -> Result<Manifest, SourceError> {
    let err = |message: String| SourceError::Manifest {
        path: path.to_path_buf(),
        message,
    };
    let raw: RawManifest = toml::from_str(text).map_err(|e| err(toml_error(text, &e)))?;
    let line = |span: std::ops::Range<usize>| line_of(text, span.start);

    let kind = match raw.kind.get_ref().as_str() {
        "update" => Kind::Update,
        "wasm" => Kind::Wasm,
        other => {
            return Err(SourceError::UnknownKind {
                path: path.to_path_buf(),
                kind: other.to_string(),
                line: line(raw.kind.span()),
                known: KNOWN_KINDS.join(", "),
            })
        }
    };
    let body = match kind {
        Kind::Update => Body::Update(update_body(&raw, text, &err)?),
        Kind::Wasm => Body::Wasm(Box::new(wasm_spec(&raw, text, &err)?)),
        Kind::Python => unreachable!("not a manifest kind: python migrations are .py files"),
    };
    Ok(Manifest {
        id: raw.id.map(|s| s.into_inner()),
        description: raw.description.unwrap_or_default(),
        kind,
        collection: raw.collection,
        body,
    })
}

pub(super) fn update_body(
    raw: &RawManifest,
    text: &str,
    err: &dyn Fn(String) -> SourceError,
) -> Result<UpdateBody, SourceError> {
    let line = |span: std::ops::Range<usize>| line_of(text, span.start);
    let foreign = [
        ("filter", raw.filter.as_ref().map(|s| s.span())),
        ("module", raw.module.as_ref().map(|s| s.span())),
        ("batch_size", raw.batch_size.as_ref().map(|s| s.span())),
        ("threads", raw.threads.as_ref().map(|s| s.span())),
        ("outputs", raw.outputs.as_ref().map(|s| s.span())),
        (
            "lookup",
            raw.lookup
                .as_ref()
                .and_then(|l| l.first())
                .map(|s| s.span()),
        ),
        ("deadline_ms", raw.deadline_ms.as_ref().map(|s| s.span())),
        (
            "memory_limit_mb",
            raw.memory_limit_mb.as_ref().map(|s| s.span()),
        ),
        ("max_rate", raw.max_rate.as_ref().map(|s| s.span())),
        ("max_lag_s", raw.max_lag_s.as_ref().map(|s| s.span())),
        (
            "max_latency_ms",
            raw.max_latency_ms.as_ref().map(|s| s.span()),
        ),
    ];
    if let Some((field, Some(span))) = foreign.into_iter().find(|(_, s)| s.is_some()) {
        return Err(err(format!(
            "line {}: field `{field}` does not apply to kind `update` (put filters on the steps)",
            line(span)
        )));
    }
    if raw.build.is_some() {
        return Err(err("field `build` does not apply to kind `update`".into()));
    }
    if raw.forward.is_empty() {
        return Err(err(format!(
            "a migration of kind `update` needs at least one [[forward]] step (ops: {OPS})"
        )));
    }
    let collection = raw.collection.clone();
    let steps =
        |section: &str, raw_steps: &[Spanned<RawStep>]| -> Result<Vec<UpdateStep>, SourceError> {
            raw_steps
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    step(s.get_ref(), collection.as_deref()).map_err(|m| {
                        err(format!(
                            "line {}: step {} of [[{section}]]: {m}",
                            line(s.span()),
                            i + 1
                        ))
                    })
                })
                .collect()
        };
    let forward = steps("forward", &raw.forward)?;
    let backward = match &raw.backward {
        Some(b) => Ok(steps("backward", b)?),
        None => forward.iter().rev().map(UpdateStep::inverse).collect(),
    };
    Ok(UpdateBody { forward, backward })
}

pub(super) fn wasm_spec(
    raw: &RawManifest,
    text: &str,
    err: &dyn Fn(String) -> SourceError,
) -> Result<WasmSpec, SourceError> {
    let line = |span: std::ops::Range<usize>| line_of(text, span.start);
    if let Some(s) = raw
        .forward
        .first()
        .or(raw.backward.as_ref().and_then(|b| b.first()))
    {
        return Err(err(format!(
            "line {}: [[forward]]/[[backward]] steps do not apply to kind `wasm`: the module's transform decides (its `backward` direction is used by `down`)",
            line(s.span())
        )));
    }
    let collection = raw
        .collection
        .clone()
        .ok_or_else(|| err("kind `wasm` needs a `collection`".into()))?;
    let module = raw.module.as_ref().ok_or_else(|| err("kind `wasm` needs `module`: the .wasm file, relative to the migration (built from `build` by `mongoshift build`)".into()))?;
    let filter = match &raw.filter {
        None => Document::new(),
        Some(f) => match to_bson(f.get_ref())
            .map_err(|e| err(format!("line {}: field `filter`: {e}", line(f.span()))))?
        {
            Bson::Document(d) => d,
            other => {
                return Err(err(format!(
                    "line {}: field `filter` must be a table, not {}",
                    line(f.span()),
                    type_name(&other)
                )))
            }
        },
    };
    let positive = |field: &str,
                    v: &Option<Spanned<i64>>,
                    default: i64,
                    min: i64|
     -> Result<i64, SourceError> {
        match v {
            None => Ok(default),
            Some(s) if *s.get_ref() >= min => Ok(*s.get_ref()),
            Some(s) => Err(err(format!(
                "line {}: field `{field}` must be at least {min}, not {}",
                line(s.span()),
                s.get_ref()
            ))),
        }
    };
    let (outputs, lookups) = super::parse_cross::cross(raw, &collection, text, err)?;
    let throttle = throttle(raw, text, err)?;
    Ok(WasmSpec {
        throttle,
        outputs,
        lookups,
        collection,
        filter,
        module: std::path::PathBuf::from(module.get_ref()),
        build: raw.build.as_ref().map(std::path::PathBuf::from),
        batch_size: positive("batch_size", &raw.batch_size, 1000, 1)? as usize,
        threads: positive("threads", &raw.threads, 0, 0)? as usize,
        deadline_ms: positive("deadline_ms", &raw.deadline_ms, 30_000, 1)? as u64,
        memory_limit_mb: positive("memory_limit_mb", &raw.memory_limit_mb, 512, 1)? as u64,
        transactions: named(text, err, "transactions", raw.transactions.as_ref())?,
        pre_images: raw.pre_images,
        strategy: named(text, err, "strategy", raw.strategy.as_ref())?,
        in_place_writes: named(text, err, "in_place_writes", raw.in_place_writes.as_ref())?,
        schema: match &raw.schema {
            None => None,
            Some(v) => {
                let json = to_json(v.get_ref());
                if let Err(e) = jsonschema::validator_for(&json) {
                    return Err(err(format!(
                        "line {}: field `schema` is not a valid JSON Schema: {e}",
                        line(v.span())
                    )));
                }
                Some(json)
            }
        },
    })
}

/// The throttle limits of a `wasm` manifest; each at least 1 when given.
fn throttle(
    raw: &RawManifest,
    text: &str,
    err: &dyn Fn(String) -> SourceError,
) -> Result<ThrottleOptions, SourceError> {
    let limit = |field: &str, v: &Option<Spanned<i64>>| match v {
        None => Ok(None),
        Some(s) if *s.get_ref() >= 1 => Ok(Some(*s.get_ref() as u64)),
        Some(s) => Err(err(format!(
            "line {}: field `{field}` must be at least 1, not {} (leave it out for no limit)",
            line_of(text, s.span().start),
            s.get_ref()
        ))),
    };
    Ok(ThrottleOptions {
        max_rate: limit("max_rate", &raw.max_rate)?.map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        max_lag: limit("max_lag_s", &raw.max_lag_s)?.map(Duration::from_secs),
        max_latency: limit("max_latency_ms", &raw.max_latency_ms)?.map(Duration::from_millis),
    })
}

/// An option field (`transactions`, `strategy`, …) parsed by the option's
/// own name list; the error names the line and the field.
pub(super) fn named<T: Named>(
    text: &str,
    err: &dyn Fn(String) -> SourceError,
    field: &str,
    value: Option<&Spanned<String>>,
) -> Result<Option<T>, SourceError> {
    value
        .map(|v| {
            T::from_name(v.get_ref()).map_err(|e| {
                err(format!(
                    "line {}: field `{field}` {e}",
                    line_of(text, v.span().start)
                ))
            })
        })
        .transpose()
}
