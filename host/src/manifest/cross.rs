//! What a cross-collection migration declares: the collections it may write
//! besides its own (`outputs`) and the read-only joins the host resolves for
//! each batch (`[[lookup]]`). A reviewed manifest bounds what a module can
//! touch: a write to any other collection fails its batch.

use bson::Document;

/// A collection named in a manifest: `name` in the migration's database, or
/// `database.name` on the same deployment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Namespace {
    /// Another database, when named.
    pub db: Option<String>,
    /// The collection.
    pub collection: String,
}

impl Namespace {
    /// Reads `name` or `database.name`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Namespace, String> {
        let (db, collection) = match text.split_once('.') {
            Some((db, c)) if !db.is_empty() && !c.is_empty() => (Some(db), c),
            Some(_) => {
                return Err(format!(
                    "`{text}` is not `collection` or `database.collection`"
                ))
            }
            None => (None, text),
        };
        if let Some(db) = db {
            if let Some(c) = db
                .chars()
                .find(|c| "/\\ \"$*<>:|?".contains(*c) || c.is_control())
            {
                return Err(format!("database name `{db}` may not contain {c:?}"));
            }
        }
        if collection.is_empty() || collection.contains('$') || collection.contains('\0') {
            return Err(format!(
                "`{collection}` is not a collection name (empty, or with `$` or NUL)"
            ));
        }
        if collection.starts_with("system.") || collection.starts_with("mongoshift_") {
            return Err(format!(
                "`{collection}` is reserved (system and mongoshift collections are not for migrations to write)"
            ));
        }
        Ok(Namespace {
            db: db.map(str::to_string),
            collection: collection.to_string(),
        })
    }

    /// The database it is in, given the migration's.
    pub fn db_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.db.as_deref().unwrap_or(default)
    }

    /// Whether this names the same collection as `other` for a migration
    /// in database `db`.
    pub fn same_as(&self, other: &Namespace, db: &str) -> bool {
        self.collection == other.collection && self.db_or(db) == other.db_or(db)
    }
}

impl std::fmt::Display for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.db {
            Some(db) => write!(f, "{db}.{}", self.collection),
            None => f.write_str(&self.collection),
        }
    }
}

/// One `[[lookup]]`: for each input document, the documents of `from` whose
/// `foreign_field` equals the document's `local_field` (each element, when
/// that is an array), given to the transform under `as`.
#[derive(Debug, Clone, PartialEq)]
pub struct Lookup {
    /// The collection read.
    pub from: Namespace,
    /// The input document's field (a dotted path).
    pub local_field: String,
    /// The field of `from` it is matched against (a dotted path).
    pub foreign_field: String,
    /// The key of the matches in the document's lookups document.
    pub as_name: String,
    /// Which fields of each match the transform gets (default: all).
    pub projection: Option<Document>,
    /// The order of the matches (default: by `_id`).
    pub sort: Option<Document>,
    /// The most matches one document may have; more fail the batch, naming
    /// the document (default 1000).
    pub limit: usize,
    /// A document without a match (or without `local_field`) fails instead
    /// of getting an empty list.
    pub required: bool,
    /// Which runs resolve it: `up`, `down` or both (the default). A lookup
    /// only one direction reads costs the other nothing.
    pub on: LookupOn,
}

/// The runs a lookup serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LookupOn {
    /// `up` and `down`.
    #[default]
    Both,
    /// `up` only.
    Forward,
    /// `down` only.
    Backward,
}

impl LookupOn {
    /// Reads `both`, `forward` or `backward`.
    pub fn parse(text: &str) -> Result<LookupOn, String> {
        match text {
            "both" => Ok(LookupOn::Both),
            "forward" => Ok(LookupOn::Forward),
            "backward" => Ok(LookupOn::Backward),
            other => Err(format!(
                "`on` is `forward`, `backward` or `both`, not {other:?}"
            )),
        }
    }

    /// Whether a run that goes `forward` (else backward) resolves it.
    pub fn serves(self, forward: bool) -> bool {
        match self {
            LookupOn::Both => true,
            LookupOn::Forward => forward,
            LookupOn::Backward => !forward,
        }
    }
}

/// The default `limit` of a lookup.
pub const DEFAULT_LOOKUP_LIMIT: usize = 1000;
