//! The rules a declaration of outputs and lookups follows wherever it is
//! written (a manifest's `outputs` and `[[lookup]]`, a Python migration
//! class's `outputs` and `lookups`): each message says what is wrong, the
//! caller says where.

use bson::Document;

use super::cross::{Lookup, Namespace, DEFAULT_LOOKUP_LIMIT};

/// Checks one name of `outputs`, of a migration over collection `own`,
/// given the names before it: a collection, not `own`, not twice.
pub fn check_output(name: &str, own: &str, earlier: &[Namespace]) -> Result<Namespace, String> {
    let ns = Namespace::parse(name).map_err(|e| format!("`outputs`: {e}"))?;
    if ns.db.is_none() && ns.collection == own {
        return Err(format!(
            "`outputs` names `{ns}`, the migration's own collection: its documents are changed by the transform's outcomes (keep, replace, delete), not by outputs"
        ));
    }
    if earlier.contains(&ns) {
        return Err(format!("`outputs` names `{ns}` twice"));
    }
    Ok(ns)
}

/// A lookup as written, before its checks.
#[derive(Debug, Clone, Default)]
pub struct LookupDecl<'a> {
    /// `from`: the collection read.
    pub from: &'a str,
    /// `local_field`.
    pub local_field: &'a str,
    /// `foreign_field`.
    pub foreign_field: &'a str,
    /// `as`.
    pub as_name: &'a str,
    /// `projection`.
    pub projection: Option<Document>,
    /// `sort`.
    pub sort: Option<Document>,
    /// `limit`; none: [`DEFAULT_LOOKUP_LIMIT`].
    pub limit: Option<i64>,
    /// `required`.
    pub required: bool,
    /// `on`: which runs resolve it.
    pub on: super::cross::LookupOn,
}

/// Checks one lookup: `from` a collection, the fields field names, `as` a
/// key without dots, `limit` at least 1.
pub fn check_lookup(decl: LookupDecl<'_>) -> Result<Lookup, String> {
    let from = Namespace::parse(decl.from).map_err(|e| format!("`from`: {e}"))?;
    for (field, v) in [
        ("local_field", decl.local_field),
        ("foreign_field", decl.foreign_field),
        ("as", decl.as_name),
    ] {
        if v.is_empty() || v.starts_with('$') || v.contains('\0') {
            return Err(format!(
                "`{field}` must be a field name (not empty, no leading `$`), not {v:?}"
            ));
        }
    }
    if decl.as_name.contains('.') {
        return Err(format!(
            "`as` is a key of the lookups document, without dots, not {:?}",
            decl.as_name
        ));
    }
    let limit = match decl.limit {
        None => DEFAULT_LOOKUP_LIMIT,
        Some(n) if n >= 1 => n as usize,
        Some(n) => return Err(format!("`limit` must be at least 1, not {n}")),
    };
    Ok(Lookup {
        from,
        local_field: decl.local_field.to_string(),
        foreign_field: decl.foreign_field.to_string(),
        as_name: decl.as_name.to_string(),
        projection: decl.projection,
        sort: decl.sort,
        limit,
        required: decl.required,
        on: decl.on,
    })
}

/// Checks that `lookup` gives its matches under a key no lookup before it
/// uses.
pub fn check_lookup_unique(lookup: &Lookup, earlier: &[Lookup]) -> Result<(), String> {
    if earlier.iter().any(|o| o.as_name == lookup.as_name) {
        return Err(format!(
            "two lookups give their matches `as = \"{}\"`",
            lookup.as_name
        ));
    }
    Ok(())
}
