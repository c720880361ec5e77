//! [`Strategy`]: how a document-by-document migration writes its results.

use serde::{Deserialize, Serialize};

/// How a document-by-document migration writes its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Each batch's results are written back into the collection.
    InPlace,
    /// Copy and swap: results go into a shadow collection, changes made
    /// meanwhile follow from a change stream, and the shadow replaces the
    /// collection by an atomic rename; the original is kept as a backup.
    Rewrite,
    /// Rewrite for whole-collection migrations where it is allowed, in place
    /// otherwise.
    #[default]
    Auto,
}

impl Strategy {
    /// The name used in manifests, flags and plans.
    pub fn as_str(&self) -> &'static str {
        match self {
            Strategy::InPlace => "in-place",
            Strategy::Rewrite => "rewrite",
            Strategy::Auto => "auto",
        }
    }
}

impl_names!(Strategy, ["in-place", "rewrite", "auto"]);
