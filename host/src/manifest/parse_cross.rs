//! `outputs` and `[[lookup]]` of a manifest, checked: names that are
//! collections, no output that is the migration's own collection, each
//! lookup's `as` once.

use bson::{Bson, Document};
use toml::Spanned;

use super::cross::{Lookup, LookupOn, Namespace, DEFAULT_LOOKUP_LIMIT};
use super::raw::{RawLookup, RawManifest};
use super::values::{line_of, to_bson, type_name};
use crate::error::SourceError;

/// The outputs and lookups of a `wasm` manifest over `collection`.
pub(super) fn cross(
    raw: &RawManifest,
    collection: &str,
    text: &str,
    err: &dyn Fn(String) -> SourceError,
) -> Result<(Vec<Namespace>, Vec<Lookup>), SourceError> {
    let line = |span: std::ops::Range<usize>| line_of(text, span.start);
    let own = Namespace {
        db: None,
        collection: collection.to_string(),
    };
    let mut outputs: Vec<Namespace> = Vec::new();
    for o in raw.outputs.iter().flat_map(|o| o.get_ref()) {
        let at = line(o.span());
        let ns =
            Namespace::parse(o.get_ref()).map_err(|e| err(format!("line {at}: `outputs`: {e}")))?;
        if ns == own {
            return Err(err(format!(
                "line {at}: `outputs` names `{ns}`, the migration's own collection: its documents are changed by the transform's outcomes (keep, replace, delete), not by outputs"
            )));
        }
        if outputs.contains(&ns) {
            return Err(err(format!("line {at}: `outputs` names `{ns}` twice")));
        }
        outputs.push(ns);
    }
    let mut lookups: Vec<Lookup> = Vec::new();
    for l in raw.lookup.iter().flatten() {
        let lookup = one_lookup(l, text, err)?;
        if lookups.iter().any(|o| o.as_name == lookup.as_name) {
            return Err(err(format!(
                "line {}: two lookups give their matches `as = \"{}\"`",
                line(l.span()),
                lookup.as_name
            )));
        }
        lookups.push(lookup);
    }
    Ok((outputs, lookups))
}

fn one_lookup(
    l: &Spanned<RawLookup>,
    text: &str,
    err: &dyn Fn(String) -> SourceError,
) -> Result<Lookup, SourceError> {
    let at = line_of(text, l.span().start);
    let r = l.get_ref();
    let bad = |what: String| err(format!("line {at}: [[lookup]]: {what}"));
    let from = Namespace::parse(r.from.get_ref()).map_err(|e| bad(format!("`from`: {e}")))?;
    for (field, v) in [
        ("local_field", &r.local_field),
        ("foreign_field", &r.foreign_field),
        ("as", &r.as_name),
    ] {
        let v = v.get_ref();
        if v.is_empty() || v.starts_with('$') || v.contains('\0') {
            return Err(bad(format!(
                "`{field}` must be a field name (not empty, no leading `$`), not {v:?}"
            )));
        }
    }
    if r.as_name.get_ref().contains('.') {
        return Err(bad(format!(
            "`as` is a key of the lookups document, without dots, not {:?}",
            r.as_name.get_ref()
        )));
    }
    let table = |field: &str,
                 v: &Option<Spanned<toml::Value>>|
     -> Result<Option<Document>, SourceError> {
        match v {
            None => Ok(None),
            Some(v) => match to_bson(v.get_ref()).map_err(|e| bad(format!("`{field}`: {e}")))? {
                Bson::Document(d) => Ok(Some(d)),
                other => Err(bad(format!(
                    "`{field}` must be a table, not {}",
                    type_name(&other)
                ))),
            },
        }
    };
    let limit = match &r.limit {
        None => DEFAULT_LOOKUP_LIMIT,
        Some(n) if *n.get_ref() >= 1 => *n.get_ref() as usize,
        Some(n) => {
            return Err(bad(format!(
                "`limit` must be at least 1, not {}",
                n.get_ref()
            )))
        }
    };
    Ok(Lookup {
        from,
        local_field: r.local_field.get_ref().clone(),
        foreign_field: r.foreign_field.get_ref().clone(),
        as_name: r.as_name.get_ref().clone(),
        projection: table("projection", &r.projection)?,
        sort: table("sort", &r.sort)?,
        limit,
        required: r.required,
        on: match &r.on {
            None => LookupOn::Both,
            Some(o) => LookupOn::parse(o.get_ref()).map_err(bad)?,
        },
    })
}
