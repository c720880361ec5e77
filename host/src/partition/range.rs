//! [`Range`]: the `_id`s from `lo` (included) to `hi` (excluded).

use bson::{Bson, Document};
use serde::{Deserialize, Serialize};

/// The `_id`s from `lo` (included) up to `hi` (excluded), in BSON order.
/// `MinKey` and `MaxKey` leave a side open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Range {
    /// The first `_id` of the range (`MinKey`: from the start).
    pub lo: Bson,
    /// The first `_id` after the range (`MaxKey`: to the end).
    pub hi: Bson,
    /// The shard holding the range, on a sharded cluster.
    #[serde(default)]
    pub shard: Option<String>,
    /// About how many documents it held when the collection was split.
    #[serde(default)]
    pub estimate: Option<u64>,
}

impl Range {
    /// The whole `_id` space.
    pub fn all() -> Range {
        Range {
            lo: Bson::MinKey,
            hi: Bson::MaxKey,
            shard: None,
            estimate: None,
        }
    }

    /// Whether the range holds nothing (a padding partition of a split into
    /// more partitions than there are documents).
    pub fn is_empty(&self) -> bool {
        self.lo == self.hi
    }

    /// `filter`, limited to this range.
    pub fn filter(&self, filter: &Document) -> Document {
        if self.is_empty() {
            return bson::doc! { "_id": { "$in": [] } };
        }
        crate::batch::within(filter, &self.lo, &self.hi)
    }
}
