//! [`UpdateForm`]: how an in-place write changes a document.

use serde::{Deserialize, Serialize};

/// How an in-place write changes a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateForm {
    /// The whole new document.
    Replace,
    /// `$set` of changed and added fields, `$unset` of removed ones, when that
    /// gives exactly the new document (same field order); a replacement
    /// otherwise.
    #[default]
    Set,
}

impl UpdateForm {
    /// The name used in manifests and flags.
    pub fn as_str(&self) -> &'static str {
        match self {
            UpdateForm::Replace => "replace",
            UpdateForm::Set => "set",
        }
    }
}

impl_names!(UpdateForm, ["set", "replace"]);
