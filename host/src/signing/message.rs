//! What a signature covers: the files of one migrations directory entry and
//! its id, as one canonical message.
//!
//! The message is text, one line each, in this order:
//!
//! ```text
//! mongoshift-signature-v1
//! migration <id>
//! file <sha256 hex> <path>
//! file <sha256 hex> <path>
//! ```
//!
//! with a `file` line for the manifest (`<id>.toml`, or `<id>/migration.toml`
//! of a directory entry), the module a `wasm` manifest names, or the `.py`
//! file of a Python migration; paths are relative to the migrations
//! directory, with `/` between their parts, and the lines are sorted by
//! path. Changing a byte changes a hash, renaming a file changes a path,
//! and the id binds the signature to its entry.

use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::SigningError;
use crate::manifest::Body;
use crate::source::Migration;

/// The first line of every message: the format's version.
pub const MESSAGE_VERSION: &str = "mongoshift-signature-v1";

/// One file a signature covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedFile {
    /// Relative to the migrations directory, `/`-separated.
    pub path: String,
    /// SHA-256 of its bytes, lowercase hex.
    pub sha256: String,
}

/// The files of `m` a signature covers, sorted by path, with the hash of
/// their bytes as they are on disk now.
pub fn files_of(m: &Migration) -> Result<Vec<SignedFile>, SigningError> {
    let dir = m.path.parent().unwrap_or(Path::new(""));
    let mut paths: Vec<PathBuf> = vec![m.manifest_path.clone()];
    match &m.manifest.body {
        Body::Wasm(_) => paths.extend(m.module_path.clone()),
        Body::Python(spec) if spec.file != m.manifest_path => paths.push(spec.file.clone()),
        _ => {}
    }
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let bytes = std::fs::read(&path).map_err(|source| SigningError::Io {
            action: "read",
            path: path.clone(),
            source,
        })?;
        let rel = relative(dir, &path);
        if rel.contains(['\n', '\r']) {
            return Err(SigningError::UnsignablePath {
                id: m.id.clone(),
                path,
            });
        }
        files.push(SignedFile {
            path: rel,
            sha256: hex::encode(Sha256::digest(&bytes)),
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files.dedup_by(|a, b| a.path == b.path);
    Ok(files)
}

/// The canonical message of migration `id` with `files` (sorted here, so
/// any order given yields the same message).
pub fn message(id: &str, files: &[SignedFile]) -> Vec<u8> {
    let mut sorted: Vec<&SignedFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut out = format!("{MESSAGE_VERSION}\nmigration {id}\n");
    for f in sorted {
        out.push_str(&format!("file {} {}\n", f.sha256, f.path));
    }
    out.into_bytes()
}

/// `path` relative to `dir`, worked out on the names alone (`.` dropped,
/// `..` folded), `/`-separated; a path outside `dir` keeps its leading `..`.
fn relative(dir: &Path, path: &Path) -> String {
    let normal = |p: &Path| {
        let mut parts: Vec<String> = Vec::new();
        for c in p.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir if parts.last().is_some_and(|l| l != "..") => {
                    parts.pop();
                }
                other => parts.push(other.as_os_str().to_string_lossy().into_owned()),
            }
        }
        parts
    };
    let (base, full) = (normal(dir), normal(path));
    let common = base.iter().zip(&full).take_while(|(a, b)| a == b).count();
    let mut rel: Vec<String> = vec!["..".to_string(); base.len() - common];
    rel.extend(full[common..].iter().cloned());
    rel.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MigrationSource;

    fn file(path: &str, sha: &str) -> SignedFile {
        SignedFile {
            path: path.into(),
            sha256: sha.into(),
        }
    }

    #[test]
    fn the_message_is_fixed_text_sorted_by_path() {
        let a = file("1_a/migration.toml", "aa");
        let b = file("1_a/guest.wasm", "bb");
        let one = message("1_a", &[a.clone(), b.clone()]);
        assert_eq!(
            String::from_utf8(one.clone()).expect("utf-8"),
            "mongoshift-signature-v1\nmigration 1_a\nfile bb 1_a/guest.wasm\nfile aa 1_a/migration.toml\n"
        );
        assert_eq!(one, message("1_a", &[b, a]), "order given does not matter");
    }

    #[test]
    fn the_id_a_path_and_a_hash_each_change_the_message() {
        let files = [file("1_a.toml", "aa")];
        let base = message("1_a", &files);
        assert_ne!(base, message("2_a", &files));
        assert_ne!(base, message("1_a", &[file("1_b.toml", "aa")]));
        assert_ne!(base, message("1_a", &[file("1_a.toml", "ab")]));
        assert_ne!(base, message("1_a", &[]));
    }

    #[test]
    fn paths_are_relative_to_the_migrations_directory() {
        let d = Path::new("/m/migrations");
        assert_eq!(relative(d, Path::new("/m/migrations/1_a.toml")), "1_a.toml");
        assert_eq!(
            relative(d, Path::new("/m/migrations/1_a/./x/../guest.wasm")),
            "1_a/guest.wasm"
        );
        assert_eq!(
            relative(d, Path::new("/m/migrations/../shared/g.wasm")),
            "../shared/g.wasm"
        );
        assert_eq!(
            relative(Path::new("migrations"), Path::new("migrations/1_a.py")),
            "1_a.py"
        );
    }

    #[test]
    fn an_entry_covers_its_manifest_and_module_and_a_byte_changes_the_hash() {
        let dir = tempfile::tempdir().expect("tempdir");
        let entry = dir.path().join("20260101_a");
        std::fs::create_dir(&entry).expect("mkdir");
        std::fs::write(
            entry.join("migration.toml"),
            "kind = \"wasm\"\ncollection = \"u\"\nmodule = \"g.wat\"\n",
        )
        .expect("write");
        std::fs::write(entry.join("g.wat"), "(module)").expect("write");
        std::fs::write(entry.join("notes.md"), "not run").expect("write");
        std::fs::write(dir.path().join("20260102_b.py"), "\"\"\"b\"\"\"\n").expect("write");
        let ms = MigrationSource::new(dir.path()).load().expect("load");
        let files = files_of(&ms[0]).expect("files");
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["20260101_a/g.wat", "20260101_a/migration.toml"]);
        assert_eq!(
            files[0].sha256,
            hex::encode(Sha256::digest(b"(module)")),
            "the hash of the bytes on disk"
        );
        let py = files_of(&ms[1]).expect("files");
        assert_eq!(py.len(), 1);
        assert_eq!(py[0].path, "20260102_b.py");
        std::fs::write(entry.join("g.wat"), "(module )").expect("write");
        assert_ne!(files_of(&ms[0]).expect("files")[0].sha256, files[0].sha256);
    }
}
