//! `mongoshift new`: writing a fresh migration from a template.

use std::path::{Path, PathBuf};

use crate::build::{sdk, Language};
use mongoshift::source::parse_id;
use mongoshift::SourceError;

mod fixture;
mod guests;
mod python;

/// A new migration's id: now as `YYYYMMDDHHMMSS`, or, when a migration
/// in `dir` already has that version or a later one (`new` run twice within
/// a second, a clock behind a teammate's), one second after the newest, so
/// the directory never holds two migrations of one version.
fn new_id(dir: &Path, name: &str) -> String {
    // Whole seconds: a version has no fraction to tell two apart.
    let now = chrono::Utc::now().naive_utc();
    let now = chrono::Timelike::with_nanosecond(&now, 0).unwrap_or(now);
    let newest = newest_version(dir)
        .and_then(|v| chrono::NaiveDateTime::parse_from_str(&v, "%Y%m%d%H%M%S").ok());
    let stamp = match newest {
        Some(v) if v >= now => v + chrono::Duration::seconds(1),
        _ => now,
    };
    let slug: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{}_{slug}", stamp.format("%Y%m%d%H%M%S"))
}

/// The newest 14-digit version among the entries of `dir` (a version of
/// another form cannot be followed by a timestamp, and is left alone).
fn newest_version(dir: &Path) -> Option<String> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let version = parse_id(name.split('.').next()?).ok()?;
            (version.len() == 14).then_some(version)
        })
        .max()
}

/// Writes a new `wasm` migration: a directory with `migration.toml` and a Rust
/// guest crate in `guest/`, built by `mongoshift build`. Returns the directory.
pub fn new_wasm_migration(
    dir: &Path,
    name: &str,
    collection: &str,
) -> Result<PathBuf, SourceError> {
    new_wasm_migration_in(dir, name, collection, Language::Rust)
}

/// The transform a new Rust guest starts with.
const RUST_GUEST_LIB: &str = r#"//! The transform of this migration. `mongoshift build` compiles it to Wasm.
use mongoshift_guest::{transform, Document, Outcome};

/// Called once per document; return Keep, Replace(new document), Delete or Fail(message).
#[transform(backward = backward)]
fn forward(mut doc: Document) -> Outcome {
    if doc.contains_key("status") {
        return Outcome::Keep;
    }
    doc.insert("status", "active");
    Outcome::Replace(doc)
}

/// What `mongoshift down` runs.
fn backward(mut doc: Document) -> Outcome {
    match doc.remove("status") {
        Some(_) => Outcome::Replace(doc),
        None => Outcome::Keep,
    }
}
"#;

/// The `Cargo.toml` of a new Rust guest: its own workspace with a release
/// profile for small, fast modules, unless the migrations directory is one.
fn rust_guest_manifest(crate_name: &str, sdk: &str, in_workspace: bool) -> String {
    format!(
        r#"[package]
name = "{crate_name}"
version = "0.1.0"
edition = "2021"
publish = false

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
{sdk}
{}"#,
        if in_workspace {
            ""
        } else {
            "
[workspace]

[profile.release]
lto = true
codegen-units = 1
opt-level = 3
"
        }
    )
}

/// Writes a new `wasm` migration with its guest in `guest/` written in
/// `language`: the transform, the language's helper, a build file and a
/// README line. `mongoshift build` compiles it as it is. Returns the directory.
pub fn new_wasm_migration_in(
    dir: &Path,
    name: &str,
    collection: &str,
    language: Language,
) -> Result<PathBuf, SourceError> {
    let id = new_id(dir, name);
    let entry = dir.join(&id);
    parse_id(&id).map_err(|reason| SourceError::InvalidId {
        path: entry.clone(),
        reason,
    })?;
    if entry.exists() {
        return Err(SourceError::InvalidId {
            path: entry,
            reason: "a migration with this name already exists".into(),
        });
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SourceError::Io { path, source }
    };
    let crate_name = id
        .split_once('_')
        .map_or(id.as_str(), |(_, n)| n)
        .replace('_', "-");
    let wasm_name = crate_name.replace('-', "_");
    if language != Language::Rust {
        std::fs::create_dir_all(entry.join("guest")).map_err(io(&entry))?;
        std::fs::write(
            entry.join("migration.toml"),
            manifest(&id, name, collection, &wasm_name, language),
        )
        .map_err(io(&entry))?;
        for (file, text) in guests::files(language, &format!("{wasm_name}.wasm")) {
            let path = entry.join("guest").join(file);
            std::fs::write(&path, text).map_err(io(&path))?;
        }
        fixture::write(&entry.join("tests"))?;
        return Ok(entry);
    }
    std::fs::create_dir_all(entry.join("guest/src")).map_err(io(&entry))?;
    std::fs::write(
        entry.join("migration.toml"),
        manifest(&id, name, collection, &wasm_name, language),
    )
    .map_err(io(&entry))?;
    let workspace = dir.join("Cargo.toml");
    let in_workspace = std::fs::read_to_string(&workspace).is_ok_and(|t| t.contains("[workspace]"));
    // This checkout's SDK, else the one this binary carries, laid down next
    // to the migrations.
    let sdk_path = match find_sdk(dir) {
        Some(p) => p,
        None => {
            sdk::lay_down(dir)?;
            PathBuf::from("../..").join(sdk::dir_name())
        }
    };
    let sdk = format!(
        r#"mongoshift-guest = {{ path = "{}" }}"#,
        sdk_path.display()
    );
    std::fs::write(
        entry.join("guest/Cargo.toml"),
        rust_guest_manifest(&crate_name, &sdk, in_workspace),
    )
    .map_err(io(&entry))?;
    std::fs::write(entry.join("guest/src/lib.rs"), RUST_GUEST_LIB).map_err(io(&entry))?;
    fixture::write(&entry.join("tests"))?;
    if in_workspace {
        if let Ok(text) = std::fs::read_to_string(&workspace) {
            let member = format!("members = [\n    \"{id}/guest\",");
            if let Some(updated) = text
                .contains("members = [")
                .then(|| text.replacen("members = [", &member, 1))
            {
                std::fs::write(&workspace, updated).map_err(io(&workspace))?;
            }
        }
    }
    Ok(entry)
}

fn manifest(id: &str, name: &str, collection: &str, wasm_name: &str, language: Language) -> String {
    let from = match language {
        Language::Rust => "the Rust crate it is built from",
        Language::C => "the C sources it is built from (zig)",
        Language::AssemblyScript => "the AssemblyScript it is built from (asc)",
        Language::JavaScript => "the JavaScript it is built from (componentize-js)",
        Language::Python => "the Python it is built from (componentize-py)",
    };
    format!(
        r#"# {id}: a sandboxed WebAssembly transform run on every matching document.
description = "{name}"
kind = "wasm"
collection = "{collection}"
# filter = {{ status = {{ "$exists" = false }} }}   # which documents (default: all)
module = "{wasm_name}.wasm"                   # what runs; `mongoshift build` writes it
build = "guest"                               # {from}
# batch_size = 1000        # documents per call
# threads = 0              # worker threads (0: one per core)
# deadline_ms = 30000      # CPU deadline per batch
# memory_limit_mb = 512    # memory cap per instance
"#
    )
}

/// The guest SDK of this checkout, relative to `dir/<id>/guest`, if there is one.
fn find_sdk(dir: &Path) -> Option<PathBuf> {
    let abs = dir.canonicalize().ok()?;
    let mut up = PathBuf::from("../..");
    for ancestor in abs.ancestors() {
        if ancestor.join("guest-sdk/Cargo.toml").is_file() {
            return Some(up.join("guest-sdk"));
        }
        up.push("..");
    }
    None
}

/// Writes a new `update` migration named `<timestamp>_<name>.toml` in `dir` and
/// returns its path. `name` is lower-cased and spaces become `_`.
pub fn new_update_migration(
    dir: &Path,
    name: &str,
    collection: &str,
) -> Result<PathBuf, SourceError> {
    let id = new_id(dir, name);
    let path = dir.join(format!("{id}.toml"));
    parse_id(&id).map_err(|reason| SourceError::InvalidId {
        path: path.clone(),
        reason,
    })?;
    std::fs::create_dir_all(dir).map_err(|source| SourceError::Dir {
        path: dir.to_path_buf(),
        source,
    })?;
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
        return Err(SourceError::InvalidId {
            path,
            reason: "a migration with this name already exists".into(),
        });
    }
    std::fs::write(&path, text).map_err(|source| SourceError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Writes a new Python migration `<timestamp>_<name>.py` in `dir` (a
/// per-document transform run through the Python package) and its fixture
/// in `dir/tests/<id>/`; returns the file.
pub fn new_python_migration(
    dir: &Path,
    name: &str,
    collection: &str,
) -> Result<PathBuf, SourceError> {
    let id = new_id(dir, name);
    parse_id(&id).map_err(|reason| SourceError::InvalidId {
        path: dir.join(&id),
        reason,
    })?;
    python::new_python_migration(dir, &id, name, collection)
}
