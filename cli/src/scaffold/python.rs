//! `mongoshift new --kind python`: a Python migration file (run through the
//! Python package) with its fixture in `tests/<id>/`.

use std::path::{Path, PathBuf};

use mongoshift::SourceError;

/// The class name of a migration named `name`: `add status` → `AddStatus`.
fn class_name(name: &str) -> String {
    let mut out: String = name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.insert_str(0, "Migration");
    }
    out
}

fn source(name: &str, collection: &str) -> String {
    format!(
        r#""""{name}"""
from mongoshift import Migration, document_migration


class {class}(Migration):
    collection = "{collection}"
    # filter = {{"status": {{"$exists": False}}}}  # which documents (default: all)

    @document_migration(batch_size=1000)
    def forward(self, doc: dict) -> dict | None:
        """Called once per document: return the new document, or None to
        delete it; an exception fails the document."""
        if "status" in doc:
            return doc
        doc["status"] = "active"
        return doc

    @document_migration(batch_size=1000)
    def backward(self, doc: dict) -> dict | None:
        """What `mongoshift down` runs."""
        doc.pop("status", None)
        return doc
"#,
        class = class_name(name),
    )
}

/// Writes `<id>.py` in `dir`, and its fixture in `dir/tests/<id>/`.
/// Returns the file.
pub(crate) fn new_python_migration(
    dir: &Path,
    id: &str,
    name: &str,
    collection: &str,
) -> Result<PathBuf, SourceError> {
    let path = dir.join(format!("{id}.py"));
    if path.exists() {
        return Err(SourceError::InvalidId {
            path,
            reason: "a migration with this name already exists".into(),
        });
    }
    std::fs::create_dir_all(dir).map_err(|source| SourceError::Dir {
        path: dir.to_path_buf(),
        source,
    })?;
    std::fs::write(&path, source(name, collection)).map_err(|source| SourceError::Io {
        path: path.clone(),
        source,
    })?;
    super::fixture::write(&dir.join("tests").join(id))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::class_name;

    #[test]
    fn class_names_are_camel_case_identifiers() {
        assert_eq!(class_name("add status"), "AddStatus");
        assert_eq!(class_name("add-status_now"), "AddStatusNow");
        assert_eq!(class_name("2fa"), "Migration2fa");
    }
}
