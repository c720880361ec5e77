//! The TOML manifest that defines one migration.
//!
//! ```toml
//! description = "give every user a status"
//! kind = "update"
//! collection = "users"
//!
//! [[forward]]
//! op = "update_many"
//! filter = { status = { "$exists" = false } }
//! update = { "$set" = { status = "active" } }
//!
//! [[backward]]
//! op = "update_many"
//! update = { "$unset" = { status = "" } }
//! ```
//!
//! Values are TOML; a table with a single Extended JSON key (`{ "$oid" = "…" }`,
//! `{ "$date" = "…" }`, `{ "$numberDecimal" = "…" }`, …) becomes that BSON type,
//! TOML datetimes become BSON dates, and integers become int32 when they fit.

use std::path::Path;

use bson::{Bson, Document};
use serde::Deserialize;
use toml::Spanned;

use crate::error::SourceError;

/// The kinds of migration this version can run.
pub const KNOWN_KINDS: &[&str] = &["update", "wasm"];

/// What a migration does to the documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Kind {
    /// Operations the server executes; documents never leave it.
    Update,
    /// A sandboxed WebAssembly transform run on every document.
    Wasm,
    /// A `.py` file run by the Python package (see [`crate::python`]).
    Python,
}

impl Kind {
    /// The name used in manifests and in the ledger.
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Update => "update",
            Kind::Wasm => "wasm",
            Kind::Python => "python",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed, validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The id the manifest states, if any (it must match the entry's name).
    pub id: Option<String>,
    /// What the migration does, for people.
    pub description: String,
    /// The kind of migration.
    pub kind: Kind,
    /// The default collection.
    pub collection: Option<String>,
    /// What the kind needs.
    pub body: Body,
}

/// The kind-specific part of a manifest.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Body {
    /// `kind = "update"`.
    Update(UpdateBody),
    /// `kind = "wasm"`.
    Wasm(Box<WasmSpec>),
    /// A `<version>_<name>.py` file.
    Python(PythonSpec),
}

/// A Python migration: a `.py` file whose classes say what it does; the Python
/// package reads it (see [`crate::python`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonSpec {
    /// The file.
    pub file: std::path::PathBuf,
}

impl Manifest {
    /// The manifest of a Python migration file: its description is the first
    /// line of the module's docstring.
    pub fn python(file: &Path, text: &str) -> Manifest {
        let t = text.trim_start();
        let description = ["\"\"\"", "'''"]
            .iter()
            .find_map(|q| {
                let rest = t.strip_prefix(q)?;
                let body = &rest[..rest.find(q)?];
                body.trim().lines().next().map(|l| l.trim().to_string())
            })
            .unwrap_or_default();
        Manifest {
            id: None,
            description,
            kind: Kind::Python,
            collection: None,
            body: Body::Python(PythonSpec {
                file: file.to_path_buf(),
            }),
        }
    }
}

/// The steps of an `update` migration.
#[derive(Debug, Clone)]
pub struct UpdateBody {
    /// Steps applied by `up`, in order.
    pub forward: Vec<UpdateStep>,
    /// Steps applied by `down`, in order: given in the manifest, or derived when
    /// every forward step has an exact inverse. An error when the migration is
    /// irreversible; the string says why.
    pub backward: Result<Vec<UpdateStep>, String>,
}

/// A `wasm` migration: which documents, which module, which limits.
#[derive(Debug, Clone, PartialEq)]
pub struct WasmSpec {
    /// The collection.
    pub collection: String,
    /// Which documents (default: all).
    pub filter: Document,
    /// The module, relative to the migration's directory.
    pub module: std::path::PathBuf,
    /// A guest crate that `mongoshift build` compiles into `module`.
    pub build: Option<std::path::PathBuf>,
    /// Documents per batch (default 1000).
    pub batch_size: usize,
    /// Worker threads (0, the default: one per core).
    pub threads: usize,
    /// CPU deadline per batch in milliseconds (default 30000).
    pub deadline_ms: u64,
    /// Memory cap per instance in MiB (default 512).
    pub memory_limit_mb: u64,
    /// How writes are grouped into transactions (default: per batch).
    pub transactions: Option<crate::writer::TxMode>,
    /// Keep pre-images for `down` (default: when the module has no backward).
    pub pre_images: Option<bool>,
    /// A JSON Schema every replacement must satisfy (checked as relaxed
    /// Extended JSON) before anything is written.
    pub schema: Option<serde_json::Value>,
    /// In place, copy and swap, or chosen per run (default: auto).
    pub strategy: Option<crate::writer::Strategy>,
    /// How in-place runs write a changed document (default: set).
    pub in_place_writes: Option<crate::writer::UpdateForm>,
}

/// One server-side operation of an `update` migration.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum UpdateStep {
    /// `updateMany` with an update document or an aggregation pipeline.
    UpdateMany {
        /// The collection.
        collection: String,
        /// Which documents.
        filter: Document,
        /// The update document or pipeline.
        update: UpdateSpec,
    },
    /// `deleteMany`.
    DeleteMany {
        /// The collection.
        collection: String,
        /// Which documents.
        filter: Document,
    },
    /// Rename a field in every matching document (`$rename`).
    RenameField {
        /// The collection.
        collection: String,
        /// Which documents (the field's existence is always required).
        filter: Document,
        /// The current field name (dotted paths allowed).
        from: String,
        /// The new field name.
        to: String,
    },
    /// Create an index.
    CreateIndex {
        /// The collection.
        collection: String,
        /// The index keys, in order.
        keys: Document,
        /// The index name (default: derived from the keys as the server does).
        name: String,
        /// Further index options (`unique`, `sparse`, `partialFilterExpression`, …).
        options: Document,
    },
    /// Drop an index by name.
    DropIndex {
        /// The collection.
        collection: String,
        /// The index name.
        name: String,
        /// The keys, when known: they make the drop reversible.
        keys: Option<Document>,
        /// Options to recreate it with.
        options: Document,
    },
}

/// The second argument of `updateMany`.
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateSpec {
    /// An update document with operators (`$set`, `$unset`, …).
    Document(Document),
    /// An aggregation pipeline.
    Pipeline(Vec<Document>),
}

impl UpdateStep {
    /// The collection the step works on.
    pub fn collection(&self) -> &str {
        match self {
            UpdateStep::UpdateMany { collection, .. }
            | UpdateStep::DeleteMany { collection, .. }
            | UpdateStep::RenameField { collection, .. }
            | UpdateStep::CreateIndex { collection, .. }
            | UpdateStep::DropIndex { collection, .. } => collection,
        }
    }

    /// A one-line description for plans and progress.
    pub fn describe(&self) -> String {
        match self {
            UpdateStep::UpdateMany {
                collection, filter, ..
            } => {
                format!("update_many {collection} where {filter}")
            }
            UpdateStep::DeleteMany { collection, filter } => {
                format!("delete_many {collection} where {filter}")
            }
            UpdateStep::RenameField {
                collection,
                from,
                to,
                ..
            } => {
                format!("rename_field {collection}.{from} -> {to}")
            }
            UpdateStep::CreateIndex {
                collection,
                name,
                keys,
                ..
            } => {
                format!("create_index {collection}.{name} {keys}")
            }
            UpdateStep::DropIndex {
                collection, name, ..
            } => format!("drop_index {collection}.{name}"),
        }
    }

    /// The filter of documents the step touches, for counting in `plan`.
    pub fn count_filter(&self) -> Option<Document> {
        match self {
            UpdateStep::UpdateMany { filter, .. } | UpdateStep::DeleteMany { filter, .. } => {
                Some(filter.clone())
            }
            UpdateStep::RenameField { filter, from, .. } => Some(rename_filter(filter, from)),
            UpdateStep::CreateIndex { .. } | UpdateStep::DropIndex { .. } => None,
        }
    }

    /// The exact inverse of the step, if it has one.
    pub fn inverse(&self) -> Result<UpdateStep, String> {
        match self {
            UpdateStep::RenameField { collection, filter: _, from, to } => Ok(UpdateStep::RenameField {
                collection: collection.clone(),
                filter: Document::new(),
                from: to.clone(),
                to: from.clone(),
            }),
            UpdateStep::CreateIndex { collection, keys, name, options } => Ok(UpdateStep::DropIndex {
                collection: collection.clone(),
                name: name.clone(),
                keys: Some(keys.clone()),
                options: options.clone(),
            }),
            UpdateStep::DropIndex { collection, name, keys: Some(keys), options } => {
                Ok(UpdateStep::CreateIndex {
                    collection: collection.clone(),
                    keys: keys.clone(),
                    name: name.clone(),
                    options: options.clone(),
                })
            }
            UpdateStep::DropIndex { name, keys: None, .. } => Err(format!(
                "drop_index {name} has no `keys`, so the index cannot be recreated; add `keys` or a [[backward]] section"
            )),
            UpdateStep::UpdateMany { .. } => {
                Err("update_many has no automatic inverse; add a [[backward]] section".into())
            }
            UpdateStep::DeleteMany { .. } => {
                Err("delete_many removes documents; add a [[backward]] section if they can be recreated".into())
            }
        }
    }
}

/// The documents a rename touches: those matching the filter that have the field.
pub(crate) fn rename_filter(filter: &Document, from: &str) -> Document {
    let mut f = filter.clone();
    f.insert(from, bson::doc! { "$exists": true });
    f
}

/// The default index name, as the server derives it: `field_dir` joined by `_`.
pub(crate) fn default_index_name(keys: &Document) -> String {
    keys.iter()
        .map(|(k, v)| {
            let dir = match v {
                Bson::Int32(i) => i.to_string(),
                Bson::Int64(i) => i.to_string(),
                Bson::Double(d) => format!("{d}"),
                Bson::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{k}_{dir}")
        })
        .collect::<Vec<_>>()
        .join("_")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    id: Option<Spanned<String>>,
    description: Option<String>,
    kind: Spanned<String>,
    collection: Option<String>,
    #[serde(default)]
    forward: Vec<Spanned<RawStep>>,
    backward: Option<Vec<Spanned<RawStep>>>,
    // kind = "wasm"
    filter: Option<Spanned<toml::Value>>,
    module: Option<Spanned<String>>,
    build: Option<String>,
    batch_size: Option<Spanned<i64>>,
    threads: Option<Spanned<i64>>,
    deadline_ms: Option<Spanned<i64>>,
    memory_limit_mb: Option<Spanned<i64>>,
    transactions: Option<Spanned<String>>,
    pre_images: Option<bool>,
    schema: Option<Spanned<toml::Value>>,
    strategy: Option<Spanned<String>>,
    in_place_writes: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    op: Spanned<String>,
    collection: Option<String>,
    filter: Option<Spanned<toml::Value>>,
    update: Option<Spanned<toml::Value>>,
    from: Option<String>,
    to: Option<String>,
    keys: Option<Spanned<toml::Value>>,
    name: Option<String>,
    options: Option<Spanned<toml::Value>>,
}

const OPS: &str = "update_many, delete_many, rename_field, create_index, drop_index";

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

fn update_body(
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
        ("deadline_ms", raw.deadline_ms.as_ref().map(|s| s.span())),
        (
            "memory_limit_mb",
            raw.memory_limit_mb.as_ref().map(|s| s.span()),
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

fn wasm_spec(
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
    Ok(WasmSpec {
        collection,
        filter,
        module: std::path::PathBuf::from(module.get_ref()),
        build: raw.build.as_ref().map(std::path::PathBuf::from),
        batch_size: positive("batch_size", &raw.batch_size, 1000, 1)? as usize,
        threads: positive("threads", &raw.threads, 0, 0)? as usize,
        deadline_ms: positive("deadline_ms", &raw.deadline_ms, 30_000, 1)? as u64,
        memory_limit_mb: positive("memory_limit_mb", &raw.memory_limit_mb, 512, 1)? as u64,
        transactions: match &raw.transactions {
            None => None,
            Some(t) => Some(match t.get_ref().as_str() {
                "batch" => crate::writer::TxMode::Batch,
                "migration" => crate::writer::TxMode::Migration,
                "none" => crate::writer::TxMode::None,
                other => return Err(err(format!("line {}: field `transactions` must be \"batch\", \"migration\" or \"none\", not {other:?}", line(t.span())))),
            }),
        },
        pre_images: raw.pre_images,
        strategy: match &raw.strategy {
            None => None,
            Some(t) => Some(t.get_ref().parse().map_err(|e: String| {
                err(format!("line {}: field `strategy` {e}", line(t.span())))
            })?),
        },
        in_place_writes: match &raw.in_place_writes {
            None => None,
            Some(t) => Some(match t.get_ref().as_str() {
                "set" => crate::writer::UpdateForm::Set,
                "replace" => crate::writer::UpdateForm::Replace,
                other => return Err(err(format!("line {}: field `in_place_writes` must be \"set\" or \"replace\", not {other:?}", line(t.span())))),
            }),
        },
        schema: match &raw.schema {
            None => None,
            Some(v) => {
                let json = to_json(v.get_ref());
                if let Err(e) = jsonschema::validator_for(&json) {
                    return Err(err(format!("line {}: field `schema` is not a valid JSON Schema: {e}", line(v.span()))));
                }
                Some(json)
            }
        },
    })
}

fn step(raw: &RawStep, default_collection: Option<&str>) -> Result<UpdateStep, String> {
    let op = raw.op.get_ref().as_str();
    let collection = raw
        .collection
        .clone()
        .or_else(|| default_collection.map(str::to_string))
        .ok_or_else(|| {
            format!("op `{op}` needs a `collection` (on the step or at the top of the manifest)")
        })?;
    let allowed: &[&str] = match op {
        "update_many" => &["filter", "update"],
        "delete_many" => &["filter"],
        "rename_field" => &["filter", "from", "to"],
        "create_index" => &["keys", "name", "options"],
        "drop_index" => &["name", "keys", "options"],
        other => return Err(format!("unknown op `{other}`; ops: {OPS}")),
    };
    let present = [
        ("filter", raw.filter.is_some()),
        ("update", raw.update.is_some()),
        ("from", raw.from.is_some()),
        ("to", raw.to.is_some()),
        ("keys", raw.keys.is_some()),
        ("name", raw.name.is_some()),
        ("options", raw.options.is_some()),
    ];
    if let Some((field, _)) = present.iter().find(|(f, p)| *p && !allowed.contains(f)) {
        return Err(format!(
            "field `{field}` does not apply to op `{op}` (it takes: {})",
            allowed.join(", ")
        ));
    }
    let document = |field: &str,
                    v: &Option<Spanned<toml::Value>>|
     -> Result<Option<Document>, String> {
        match v {
            None => Ok(None),
            Some(v) => match to_bson(v.get_ref()).map_err(|e| format!("field `{field}`: {e}"))? {
                Bson::Document(d) => Ok(Some(d)),
                other => Err(format!(
                    "field `{field}` must be a table, not {}",
                    type_name(&other)
                )),
            },
        }
    };
    let need = |field: &str| format!("op `{op}` needs field `{field}`");
    let filter = document("filter", &raw.filter)?.unwrap_or_default();
    Ok(match op {
        "update_many" => {
            let update = raw.update.as_ref().ok_or_else(|| need("update"))?;
            let update = match to_bson(update.get_ref())
                .map_err(|e| format!("field `update`: {e}"))?
            {
                Bson::Document(d) => {
                    if d.keys().next().is_none_or(|k| !k.starts_with('$')) {
                        return Err("field `update` must use update operators such as `$set` (a plain table would replace whole documents)".into());
                    }
                    UpdateSpec::Document(d)
                }
                Bson::Array(stages) => UpdateSpec::Pipeline(
                    stages
                        .into_iter()
                        .map(|s| match s {
                            Bson::Document(d) => Ok(d),
                            other => Err(format!(
                                "field `update`: pipeline stages must be tables, not {}",
                                type_name(&other)
                            )),
                        })
                        .collect::<Result<_, _>>()?,
                ),
                other => {
                    return Err(format!(
                        "field `update` must be a table or an array of pipeline stages, not {}",
                        type_name(&other)
                    ))
                }
            };
            UpdateStep::UpdateMany {
                collection,
                filter,
                update,
            }
        }
        "delete_many" => {
            if raw.filter.is_none() {
                return Err("op `delete_many` needs field `filter` (use `filter = {}` to delete every document)".into());
            }
            UpdateStep::DeleteMany { collection, filter }
        }
        "rename_field" => {
            let from = raw.from.clone().ok_or_else(|| need("from"))?;
            let to = raw.to.clone().ok_or_else(|| need("to"))?;
            if from == to || from.is_empty() || to.is_empty() {
                return Err("`from` and `to` must be different, non-empty field names".into());
            }
            UpdateStep::RenameField {
                collection,
                filter,
                from,
                to,
            }
        }
        "create_index" => {
            let keys = document("keys", &raw.keys)?.ok_or_else(|| need("keys"))?;
            if keys.is_empty() {
                return Err("field `keys` must name at least one field".into());
            }
            let name = raw
                .name
                .clone()
                .unwrap_or_else(|| default_index_name(&keys));
            let options = document("options", &raw.options)?.unwrap_or_default();
            UpdateStep::CreateIndex {
                collection,
                keys,
                name,
                options,
            }
        }
        "drop_index" => {
            let name = raw.name.clone().ok_or_else(|| need("name"))?;
            let keys = document("keys", &raw.keys)?;
            let options = document("options", &raw.options)?.unwrap_or_default();
            UpdateStep::DropIndex {
                collection,
                name,
                keys,
                options,
            }
        }
        _ => unreachable!("ops are checked above"),
    })
}

/// Converts a TOML value to BSON, reading single-key `$…` tables as Extended JSON.
pub fn to_bson(value: &toml::Value) -> Result<Bson, String> {
    Bson::try_from(to_json(value)).map_err(|e| e.to_string())
}

fn to_json(value: &toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => serde_json::json!({ "$date": d.to_string() }),
        toml::Value::Array(a) => J::Array(a.iter().map(to_json).collect()),
        toml::Value::Table(t) => {
            J::Object(t.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
    }
}

fn type_name(b: &Bson) -> &'static str {
    match b {
        Bson::String(_) => "a string",
        Bson::Array(_) => "an array",
        Bson::Document(_) => "a table",
        Bson::Boolean(_) => "a boolean",
        Bson::Int32(_) | Bson::Int64(_) => "an integer",
        Bson::Double(_) => "a float",
        Bson::DateTime(_) => "a datetime",
        _ => "another BSON value",
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// Turns a TOML parse error into "line L, column C: message" on one line.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim();
    match e.span() {
        Some(span) => {
            let line = line_of(text, span.start);
            let line_start = text[..span.start.min(text.len())]
                .rfind('\n')
                .map_or(0, |i| i + 1);
            let col = text[line_start..span.start.min(text.len())].chars().count() + 1;
            format!("line {line}, column {col}: {msg}")
        }
        None => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Manifest {
        parse(Path::new("m.toml"), text).expect("valid manifest")
    }

    fn parse_err(text: &str) -> String {
        parse(Path::new("m.toml"), text)
            .expect_err("invalid manifest")
            .to_string()
    }

    #[test]
    fn values_keep_order_and_types() {
        let m = parse_ok(
            r#"kind = "update"
collection = "users"
[[forward]]
op = "update_many"
filter = { _id = { "$oid" = "65a1b2c3d4e5f60718293a4b" }, n = 3 }
update = { "$set" = { b = 1, a = 5000000000, when = 2026-01-02T03:04:05Z } }
"#,
        );
        let Body::Update(body) = &m.body else {
            panic!("update body")
        };
        let UpdateStep::UpdateMany {
            filter,
            update: UpdateSpec::Document(u),
            ..
        } = &body.forward[0]
        else {
            panic!("wrong step {:?}", body.forward[0]);
        };
        assert!(matches!(filter.get("_id"), Some(Bson::ObjectId(_))));
        assert_eq!(filter.get("n"), Some(&Bson::Int32(3)));
        let set = u.get_document("$set").expect("$set");
        assert_eq!(set.keys().collect::<Vec<_>>(), ["b", "a", "when"]);
        assert_eq!(set.get("a"), Some(&Bson::Int64(5_000_000_000)));
        assert!(matches!(set.get("when"), Some(Bson::DateTime(_))));
        assert!(
            body.backward.is_err(),
            "update_many has no automatic inverse"
        );
    }

    #[test]
    fn derives_inverse_of_rename_and_index() {
        let m = parse_ok(
            r#"kind = "update"
collection = "users"
[[forward]]
op = "rename_field"
from = "fullname"
to = "name"
[[forward]]
op = "create_index"
keys = { email = 1, age = -1 }
"#,
        );
        let Body::Update(body) = m.body else {
            panic!("update body")
        };
        let back = body.backward.expect("reversible");
        assert_eq!(back[0].describe(), "drop_index users.email_1_age_-1");
        assert_eq!(back[1].describe(), "rename_field users.name -> fullname");
    }

    #[test]
    fn errors_name_line_and_field() {
        let e = parse_err("kind = \"update\"\ncollection = \"u\"\n[[forward]]\nop = \"update_many\"\nfiltre = {}\n");
        assert!(e.contains("line 5") && e.contains("filtre"), "{e}");
        let e = parse_err(
            "kind = \"update\"\ncollection = \"u\"\n\n[[forward]]\nop = \"update_many\"\n",
        );
        assert!(
            e.contains("line 4") && e.contains("step 1 of [[forward]]") && e.contains("`update`"),
            "{e}"
        );
        let e = parse_err("kind = \"wasm2\"\n");
        assert!(
            e.contains("unknown migration kind `wasm2`") && e.contains("line 1"),
            "{e}"
        );
        let e = parse_err("kind = \"update\"\n[[forward]]\nop = \"delete_many\"\n");
        assert!(e.contains("needs a `collection`"), "{e}");
        let e = parse_err("kind = \"update\"\ncollection = \"u\"\n[[forward]]\nop = \"update_many\"\nupdate = { status = 1 }\n");
        assert!(e.contains("update operators"), "{e}");
        let e = parse_err("kind = \"update\"\ncollection = \"u\"\nforward = 3\n");
        assert!(e.contains("line 3"), "{e}");
    }
}
