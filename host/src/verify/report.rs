//! What `verify --data` found: which check it made, its counts, and the
//! first differences.

use serde::Serialize;

/// Which source of truth the live documents were compared with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Check {
    /// A rewrite's backup (the originals, byte for byte) transformed again
    /// and compared with the live collection, range by range.
    Rewrite {
        /// The backup collection.
        backup: String,
    },
    /// The pre-images (the originals of the documents the run changed or
    /// deleted) transformed again and compared with those documents.
    PreImages {
        /// The pre-image collection.
        pre_images: String,
    },
    /// Every live document taken back by the backward transform and forward
    /// again, which must give it back; where a pre-image exists, the
    /// backward result must equal it.
    RoundTrip {
        /// The pre-image collection compared with, when there is one.
        pre_images: Option<String>,
    },
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Check::Rewrite { backup } => write!(
                f,
                "the backup {backup} transformed again and compared with the collection, range by range"
            ),
            Check::PreImages { pre_images } => write!(
                f,
                "the pre-images in {pre_images} transformed again and compared with the documents the run changed or deleted"
            ),
            Check::RoundTrip { pre_images: None } => f.write_str(
                "every document taken back by the backward transform and forward again (a round trip)",
            ),
            Check::RoundTrip {
                pre_images: Some(p),
            } => write!(
                f,
                "every document taken back by the backward transform and forward again (a round trip), the backward result compared with its pre-image in {p}"
            ),
        }
    }
}

/// How a document differs from what its source of truth says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum DiffKind {
    /// Expected, but not in the collection.
    Missing,
    /// In the collection, but not expected (the transform deletes it, or no
    /// original has its `_id`).
    Extra,
    /// In the collection with other content than expected.
    Different,
    /// Backward then forward does not give the document back.
    NotRoundTrip,
    /// The backward transform does not give its pre-image back.
    NotPreImage,
}

impl DiffKind {
    /// The name used in output.
    pub fn as_str(&self) -> &'static str {
        match self {
            DiffKind::Missing => "missing",
            DiffKind::Extra => "extra",
            DiffKind::Different => "different",
            DiffKind::NotRoundTrip => "not-round-trip",
            DiffKind::NotPreImage => "not-pre-image",
        }
    }
}

/// One document that differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// Its `_id`, shown (bounded and escaped).
    pub id: String,
    /// How it differs.
    pub kind: DiffKind,
    /// The top-level fields that differ (empty when a whole document is
    /// missing or extra).
    pub fields: Vec<String>,
    /// Written by the application after the migration was applied: reported
    /// apart, not an error.
    pub changed_since: bool,
}

/// How documents changed by the application since the migration were told
/// apart from wrong ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Since {
    /// The change stream, read from when the migration was applied (the
    /// swap's recorded position, or the time it was recorded applied) to
    /// now.
    ChangeStream {
        /// Where it was read from, for people.
        from: String,
    },
    /// They could not be: every difference is counted as one, and may be
    /// an application write.
    Unknown {
        /// Why not.
        reason: String,
    },
}

/// What `verify --data` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataReport {
    /// The migration.
    pub migration: String,
    /// The collection checked.
    pub collection: String,
    /// What was compared with what.
    pub check: Check,
    /// Documents checked (originals, live documents, and extras found).
    pub checked: u64,
    /// Documents as expected.
    pub equal: u64,
    /// Documents with other content than expected (and not changed since).
    pub differing: u64,
    /// Expected documents not in the collection (and not deleted since).
    pub missing: u64,
    /// Documents in the collection not expected there (and not inserted
    /// since).
    pub extra: u64,
    /// Differences the application wrote after the migration: not errors.
    pub changed_since: u64,
    /// How those were told apart.
    pub since: Since,
    /// The first differences, in `_id` order, up to the number asked for.
    pub differences: Vec<Difference>,
}

impl DataReport {
    /// An empty report of `check` on `collection`.
    pub(crate) fn new(migration: &str, collection: &str, check: Check) -> DataReport {
        DataReport {
            migration: migration.to_string(),
            collection: collection.to_string(),
            check,
            checked: 0,
            equal: 0,
            differing: 0,
            missing: 0,
            extra: 0,
            changed_since: 0,
            since: Since::Unknown {
                reason: "not looked for".into(),
            },
            differences: Vec::new(),
        }
    }

    /// Whether every document is as expected, or changed by the application
    /// since.
    pub fn clean(&self) -> bool {
        self.differing + self.missing + self.extra == 0
    }

    /// Counts `d` and keeps it when fewer than `show` are kept.
    pub(crate) fn record(&mut self, d: Difference, show: usize) {
        match d.kind {
            _ if d.changed_since => self.changed_since += 1,
            DiffKind::Missing => self.missing += 1,
            DiffKind::Extra => self.extra += 1,
            DiffKind::Different | DiffKind::NotRoundTrip | DiffKind::NotPreImage => {
                self.differing += 1
            }
        }
        if self.differences.len() < show {
            self.differences.push(d);
        }
    }
}
