//! Discovering migrations on disk.
//!
//! A migrations directory holds one entry per migration, named
//! `<version>_<name>` where the version is a timestamp of digits
//! (`20260115093000_add_status`). An entry is either a TOML file
//! (`20260115093000_add_status.toml`) or a directory holding `migration.toml`
//! and the files it refers to, or a Python file (`20260115093000_add_status.py`,
//! see [`crate::python`]). Entries apply in version order. Python files whose
//! names do not start with a version are helper modules, not migrations.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::SourceError;
use crate::manifest::{self, Manifest};

/// One migration as found on disk.
#[derive(Debug, Clone)]
pub struct Migration {
    /// The id: the entry's name without `.toml`, e.g. `20260115093000_add_status`.
    pub id: String,
    /// The digits before the first `_`; unique within a directory.
    pub version: String,
    /// The entry (file or directory).
    pub path: PathBuf,
    /// The manifest file.
    pub manifest_path: PathBuf,
    /// The parsed manifest.
    pub manifest: Manifest,
    /// The directory relative paths in the manifest start from.
    pub base_dir: PathBuf,
    /// The module file of a `wasm` migration.
    pub module_path: Option<PathBuf>,
    /// SHA-256 (hex) over the manifest and the module bytes.
    pub checksum: String,
}

/// Loads migrations from a directory.
#[derive(Debug, Clone)]
pub struct MigrationSource {
    dir: PathBuf,
}

/// Files and directories that live beside migrations but are not migrations:
/// the guest crates' workspace and build output, project files.
const NOT_MIGRATIONS: &[&str] = &[
    "Cargo.toml",
    "Cargo.lock",
    "target",
    "mongoshift.toml",
    "pyproject.toml",
    "rust-toolchain.toml",
    "node_modules",
];

/// The extension of a migration's signature, `<id>.sig` beside the entry
/// (see [`crate::signing`]); never a migration itself.
pub const SIGNATURE_EXTENSION: &str = "sig";

/// The manifest's file name inside a directory entry.
pub const MANIFEST_FILE: &str = "migration.toml";

impl MigrationSource {
    /// A source reading `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        MigrationSource { dir: dir.into() }
    }

    /// The directory read.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads, parses and checksums every migration, sorted by version. A `wasm`
    /// migration whose module is missing is an error (run `mongoshift build`).
    pub fn load(&self) -> Result<Vec<Migration>, SourceError> {
        self.load_inner(true)
    }

    /// Like [`load`](Self::load), but a missing module is allowed (its checksum
    /// then covers the manifest only): for building the modules.
    pub fn load_unbuilt(&self) -> Result<Vec<Migration>, SourceError> {
        self.load_inner(false)
    }

    fn load_inner(&self, strict: bool) -> Result<Vec<Migration>, SourceError> {
        let dir_err = |source| SourceError::Dir {
            path: self.dir.clone(),
            source,
        };
        let mut entries: Vec<_> = std::fs::read_dir(&self.dir)
            .map_err(dir_err)?
            .collect::<Result<_, _>>()
            .map_err(dir_err)?;
        entries.sort_by_key(|e| e.file_name());

        let mut migrations: Vec<Migration> = Vec::new();
        for entry in entries {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.')
                || name.starts_with('_')
                || NOT_MIGRATIONS.contains(&name.as_str())
                || is_signature(&path)
            {
                continue;
            }
            let Some(Entry {
                id,
                manifest_path,
                is_dir,
                is_python,
            }) = entry_of(&path, name)?
            else {
                continue;
            };
            let version = parse_id(&id).map_err(|reason| SourceError::InvalidId {
                path: path.clone(),
                reason,
            })?;
            let bytes = std::fs::read(&manifest_path).map_err(|source| SourceError::Io {
                path: manifest_path.clone(),
                source,
            })?;
            let text = String::from_utf8(bytes.clone()).map_err(|_| SourceError::Manifest {
                path: manifest_path.clone(),
                message: "the file is not UTF-8 text".into(),
            })?;
            let manifest = if is_python {
                Manifest::python(&path, &text)
            } else {
                manifest::parse(&manifest_path, &text)?
            };
            if let Some(stated) = &manifest.id {
                if stated != &id {
                    return Err(SourceError::InvalidId {
                        path: manifest_path,
                        reason: format!("the manifest says id = \"{stated}\" but the entry is named {id}; make them equal"),
                    });
                }
            }
            if let Some(other) = migrations
                .iter()
                .find(|m| m.version == version || m.id == id)
            {
                return Err(SourceError::DuplicateId {
                    id: if other.id == id {
                        id
                    } else {
                        format!("version {version}")
                    },
                    first: other.path.clone(),
                    second: path,
                });
            }
            let base_dir = if is_dir {
                path.clone()
            } else {
                self.dir.clone()
            };
            let module_path = match &manifest.body {
                crate::manifest::Body::Wasm(spec) => Some(base_dir.join(&spec.module)),
                _ => None,
            };
            let checksum = match &module_path {
                None => checksum(&[&bytes]),
                Some(module) => module_checksum(&bytes, module, &id, strict)?,
            };
            migrations.push(Migration {
                id,
                version,
                path,
                manifest_path,
                manifest,
                base_dir,
                module_path,
                checksum,
            });
        }
        migrations.sort_by(|a, b| version_key(&a.version).cmp(&version_key(&b.version)));
        Ok(migrations)
    }
}

/// What a directory entry is, when it is a migration.
struct Entry {
    id: String,
    manifest_path: PathBuf,
    is_dir: bool,
    is_python: bool,
}

/// The migration entry `name` at `path` is, or `None` for what lives beside
/// migrations (helper directories and modules, READMEs, modules referred to
/// by manifests).
fn entry_of(path: &Path, name: String) -> Result<Option<Entry>, SourceError> {
    let is_dir = path.is_dir();
    let is_python = !is_dir && name.ends_with(".py");
    let (id, manifest_path) = if is_dir {
        let manifest_path = path.join(MANIFEST_FILE);
        if !manifest_path.is_file() {
            if parse_id(&name).is_ok() {
                return Err(SourceError::InvalidId {
                    path: path.to_path_buf(),
                    reason: format!("the directory has no {MANIFEST_FILE}"),
                });
            }
            return Ok(None); // a helper directory (shared code, build output)
        }
        (name, manifest_path)
    } else if let Some(stem) = name.strip_suffix(".toml") {
        (stem.to_string(), path.to_path_buf())
    } else if let Some(stem) = name.strip_suffix(".py") {
        if parse_id(stem).is_err() {
            return Ok(None); // a helper module the migrations import
        }
        (stem.to_string(), path.to_path_buf())
    } else {
        return Ok(None); // READMEs, modules referred to by manifests, …
    };
    Ok(Some(Entry {
        id,
        manifest_path,
        is_dir,
        is_python,
    }))
}

/// The checksum of a manifest (`bytes`) and its module. A module not built
/// yet counts as absent unless `strict`.
fn module_checksum(
    bytes: &[u8],
    module: &Path,
    id: &str,
    strict: bool,
) -> Result<String, SourceError> {
    match std::fs::read(module) {
        Ok(module_bytes) => Ok(checksum(&[bytes, &module_bytes])),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !strict => Ok(checksum(&[bytes])),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(SourceError::ModuleMissing {
            id: id.to_string(),
            path: module.to_path_buf(),
        }),
        Err(source) => Err(SourceError::Io {
            path: module.to_path_buf(),
            source,
        }),
    }
}

/// Whether `path` is a signature file (`<id>.sig`), not a migration.
fn is_signature(path: &Path) -> bool {
    path.is_file() && path.extension().is_some_and(|e| e == SIGNATURE_EXTENSION)
}

fn version_key(v: &str) -> (usize, &str) {
    let trimmed = v.trim_start_matches('0');
    (trimmed.len(), trimmed)
}

/// Checks an id (`<digits>_<name>`) and returns its version.
pub fn parse_id(id: &str) -> Result<String, String> {
    let expected = "expected <timestamp>_<name>, e.g. 20260115093000_add_status";
    let (version, name) = id
        .split_once('_')
        .ok_or_else(|| format!("no `_` in `{id}`; {expected}"))?;
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{id}` does not start with a numeric timestamp; {expected}"
        ));
    }
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "`{id}` has characters other than letters, digits, `_` and `-` in its name; {expected}"
        ));
    }
    Ok(version.to_string())
}

/// SHA-256 over the bytes that define a migration, length-prefixed so that
/// moving bytes from one part to the next changes the sum.
pub fn checksum(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    h.update(b"mongoshift-checksum-v1\0");
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str =
        "kind = \"update\"\ncollection = \"u\"\n[[forward]]\nop = \"delete_many\"\nfilter = {}\n";

    #[test]
    fn loads_in_version_order_and_skips_other_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("20260102_b.toml"), OK).expect("write");
        std::fs::write(dir.path().join("9_a.toml"), OK).expect("write");
        std::fs::write(dir.path().join("README.md"), "hi").expect("write");
        std::fs::write(dir.path().join("20260102_b.sig"), "signature").expect("write");
        std::fs::create_dir(dir.path().join("20260103_c")).expect("mkdir");
        std::fs::write(dir.path().join("20260103_c").join(MANIFEST_FILE), OK).expect("write");
        let ms = MigrationSource::new(dir.path()).load().expect("load");
        let ids: Vec<_> = ms.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["9_a", "20260102_b", "20260103_c"]);
        assert_eq!(ms[0].checksum, ms[1].checksum, "same bytes, same checksum");
        assert_eq!(ms[0].checksum.len(), 64);
    }

    #[test]
    fn rejects_duplicates_and_bad_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("20260102_b.toml"), OK).expect("write");
        std::fs::write(dir.path().join("20260102_c.toml"), OK).expect("write");
        let e = MigrationSource::new(dir.path())
            .load()
            .expect_err("duplicate")
            .to_string();
        assert!(
            e.contains("duplicate migration version 20260102") && e.contains("20260102_c.toml"),
            "{e}"
        );

        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("add_status.toml"), OK).expect("write");
        let e = MigrationSource::new(dir.path())
            .load()
            .expect_err("bad name")
            .to_string();
        assert!(
            e.contains("add_status.toml") && e.contains("numeric timestamp"),
            "{e}"
        );
    }
}
