//! [`OnError`]: what happens when a transform fails a document.

use serde::{Deserialize, Serialize};

/// What happens when a transform fails a document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Stop; keep the checkpoint; the migration is `failed` until the cause is
    /// fixed and `up` resumes.
    #[default]
    Abort,
    /// Set the document aside in `mongoshift_quarantine` and go on; the
    /// migration ends `applied_with_errors`.
    Quarantine,
}

impl_names!(OnError, ["abort", "quarantine"]);
