//! `mongoshift new`: writing a fresh migration from a template.

use std::path::{Path, PathBuf};

use crate::error::SourceError;
use crate::source::parse_id;

/// Writes a new `update` migration named `<timestamp>_<name>.toml` in `dir` and
/// returns its path. `name` is lower-cased and spaces become `_`.
pub fn new_update_migration(dir: &Path, name: &str, collection: &str) -> Result<PathBuf, SourceError> {
    let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S");
    let slug: String = name
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c.to_ascii_lowercase() } else { '_' })
        .collect();
    let id = format!("{stamp}_{slug}");
    let path = dir.join(format!("{id}.toml"));
    parse_id(&id).map_err(|reason| SourceError::InvalidId { path: path.clone(), reason })?;
    std::fs::create_dir_all(dir).map_err(|source| SourceError::Dir { path: dir.to_path_buf(), source })?;
    let text = format!(
        r#"# {id}: server-side operations; documents never leave the server.
# ops: update_many, delete_many, rename_field, create_index, drop_index
description = "{name}"
kind = "update"
collection = "{collection}"

[[forward]]
op = "update_many"
filter = {{ status = {{ "$exists" = false }} }}
update = {{ "$set" = {{ status = "active" }} }}

# `down` runs these. rename_field and create_index/drop_index (with `keys`)
# are reversed automatically when this section is left out.
[[backward]]
op = "update_many"
filter = {{}}
update = {{ "$unset" = {{ status = "" }} }}
"#
    );
    if path.exists() {
        return Err(SourceError::InvalidId { path, reason: "a migration with this name already exists".into() });
    }
    std::fs::write(&path, text).map_err(|source| SourceError::Io { path: path.clone(), source })?;
    Ok(path)
}
