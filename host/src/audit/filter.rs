//! [`AuditFilter`]: which records `mongoshift audit` lists.

use bson::{doc, DateTime, Document};

/// Which records to list, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// At most this many.
    pub limit: Option<u64>,
    /// Only runs of this migration.
    pub migration: Option<String>,
    /// Only runs started at or after this time.
    pub since: Option<DateTime>,
}

impl AuditFilter {
    /// At most `n` records.
    pub fn limit(mut self, n: u64) -> Self {
        self.limit = Some(n);
        self
    }

    /// Only runs of migration `id`.
    pub fn migration(mut self, id: impl Into<String>) -> Self {
        self.migration = Some(id.into());
        self
    }

    /// Only runs started at or after `at`.
    pub fn since(mut self, at: DateTime) -> Self {
        self.since = Some(at);
        self
    }

    /// The query.
    pub(crate) fn query(&self) -> Document {
        let mut q = Document::new();
        if let Some(id) = &self.migration {
            q.insert("migrations", id.as_str());
        }
        if let Some(at) = self.since {
            q.insert("started_at", doc! { "$gte": at });
        }
        q
    }
}
