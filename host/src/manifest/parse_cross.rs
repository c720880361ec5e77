//! `outputs` and `[[lookup]]` of a manifest, read from TOML and held to the
//! rules of `check_cross`; each error names its line.

use bson::{Bson, Document};
use toml::Spanned;

use super::check_cross::{check_lookup, check_lookup_unique, check_output, LookupDecl};
use super::cross::{Lookup, LookupOn, Namespace};
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
    let mut outputs: Vec<Namespace> = Vec::new();
    for o in raw.outputs.iter().flat_map(|o| o.get_ref()) {
        let ns = check_output(o.get_ref(), collection, &outputs)
            .map_err(|e| err(format!("line {}: {e}", line(o.span()))))?;
        outputs.push(ns);
    }
    let mut lookups: Vec<Lookup> = Vec::new();
    for l in raw.lookup.iter().flatten() {
        let lookup = one_lookup(l, text, err)?;
        check_lookup_unique(&lookup, &lookups)
            .map_err(|e| err(format!("line {}: {e}", line(l.span()))))?;
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
    check_lookup(LookupDecl {
        from: r.from.get_ref(),
        local_field: r.local_field.get_ref(),
        foreign_field: r.foreign_field.get_ref(),
        as_name: r.as_name.get_ref(),
        projection: table("projection", &r.projection)?,
        sort: table("sort", &r.sort)?,
        limit: r.limit.as_ref().map(|n| *n.get_ref()),
        required: r.required,
        on: match &r.on {
            None => LookupOn::Both,
            Some(o) => LookupOn::parse(o.get_ref()).map_err(bad)?,
        },
    })
    .map_err(bad)
}
