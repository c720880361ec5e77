//! [`UpdateStep`]: one server-side step of an `update` migration.

use bson::{Bson, Document};

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
