//! The Rust guest SDK (`mongoshift-guest` and its `#[transform]` macro) this
//! binary was built with, carried inside it: a Rust guest scaffolded or
//! built outside this repository gets it laid down next to the migrations,
//! in `.mongoshift/guest-sdk-<version>/`, so it builds with no published
//! crate and the SDK always matches the host's contract.

use std::path::{Path, PathBuf};

use mongoshift::SourceError;

/// Where the SDK goes, under the migrations directory.
pub(crate) fn dir_name() -> String {
    format!(".mongoshift/guest-sdk-{}", env!("CARGO_PKG_VERSION"))
}

/// Every file of the SDK but its manifests, by path inside it.
const FILES: &[(&str, &str)] = &[
    ("src/abi.rs", include_str!("../../../guest-sdk/src/abi.rs")),
    (
        "src/abi_v2.rs",
        include_str!("../../../guest-sdk/src/abi_v2.rs"),
    ),
    (
        "src/batch.rs",
        include_str!("../../../guest-sdk/src/batch.rs"),
    ),
    (
        "src/batch_v2.rs",
        include_str!("../../../guest-sdk/src/batch_v2.rs"),
    ),
    (
        "src/context.rs",
        include_str!("../../../guest-sdk/src/context.rs"),
    ),
    (
        "src/edit.rs",
        include_str!("../../../guest-sdk/src/edit.rs"),
    ),
    (
        "src/fields.rs",
        include_str!("../../../guest-sdk/src/fields.rs"),
    ),
    (
        "src/helpers.rs",
        include_str!("../../../guest-sdk/src/helpers.rs"),
    ),
    ("src/lib.rs", include_str!("../../../guest-sdk/src/lib.rs")),
    ("src/log.rs", include_str!("../../../guest-sdk/src/log.rs")),
    (
        "src/native.rs",
        include_str!("../../../guest-sdk/src/native.rs"),
    ),
    (
        "src/scan.rs",
        include_str!("../../../guest-sdk/src/scan.rs"),
    ),
    (
        "src/writer.rs",
        include_str!("../../../guest-sdk/src/writer.rs"),
    ),
    (
        "macro/src/lib.rs",
        include_str!("../../../guest-sdk/macro/src/lib.rs"),
    ),
    (
        "wit/transform.wit",
        include_str!("../../../guest-sdk/wit/transform.wit"),
    ),
    (
        "wit/transform-v2.wit",
        include_str!("../../../guest-sdk/wit/transform-v2.wit"),
    ),
];

/// The SDK's manifest outside the repository's workspace (the workspace's
/// versions of its dependencies, written out).
fn manifest() -> String {
    format!(
        r#"# Laid down by mongoshift {v}: the Rust guest SDK it was built with. It is
# written again when missing or different; edit the migrations, not this.
[package]
name = "mongoshift-guest"
version = "{v}"
edition = "2021"
publish = false

[dependencies]
bson = {{ version = "{BSON}", features = ["chrono-0_4"] }}
wit-bindgen = {{ version = "{WIT_BINDGEN}", default-features = false, features = ["macros", "realloc"] }}
mongoshift-guest-macro = {{ path = "macro", version = "{v}" }}
"#,
        v = env!("CARGO_PKG_VERSION"),
    )
}

/// The macro crate's manifest.
fn macro_manifest() -> String {
    format!(
        r#"[package]
name = "mongoshift-guest-macro"
version = "{v}"
edition = "2021"
publish = false

[lib]
proc-macro = true

[dependencies]
syn = {{ version = "{SYN}", features = ["full"] }}
quote = "{QUOTE}"
proc-macro2 = "{PROC_MACRO2}"
"#,
        v = env!("CARGO_PKG_VERSION"),
    )
}

/// The dependency versions the manifests pin (the workspace's; a test
/// checks they agree).
const BSON: &str = "2.15";
const WIT_BINDGEN: &str = "0.46";
const SYN: &str = "2";
const QUOTE: &str = "1";
const PROC_MACRO2: &str = "1";

/// Lays the SDK down under `migrations` (unless it is there as this binary
/// carries it) and returns its directory.
pub(crate) fn lay_down(migrations: &Path) -> Result<PathBuf, SourceError> {
    lay_down_at(&migrations.join(dir_name()))
}

/// The SDK a Rust guest's manifest points to at `path` (relative to
/// `crate_dir`), laid down again when it is this binary's and missing: a
/// checkout that does not keep `.mongoshift/` still builds.
pub(crate) fn restore_for(crate_dir: &Path, manifest: &str) -> Result<(), SourceError> {
    let wanted = dir_name();
    let Some(path) = manifest
        .split('"')
        .find(|s| s.ends_with(wanted.as_str()) && s.contains(".mongoshift/"))
    else {
        return Ok(());
    };
    let root = crate_dir.join(path);
    if root.join("Cargo.toml").is_file() {
        return Ok(());
    }
    lay_down_at(&root).map(drop)
}

fn lay_down_at(root: &Path) -> Result<PathBuf, SourceError> {
    let root = root.to_path_buf();
    let mut files: Vec<(String, String)> = FILES
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
    files.push(("Cargo.toml".into(), manifest()));
    files.push(("macro/Cargo.toml".into(), macro_manifest()));
    for (path, text) in files {
        let path = root.join(path);
        if std::fs::read_to_string(&path).is_ok_and(|t| t == text) {
            continue;
        }
        let io = |source| SourceError::Io {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(&path, text).map_err(io)?;
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdk() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk")
    }

    #[test]
    fn every_file_of_the_sdk_is_carried() {
        let mut on_disk = Vec::new();
        for dir in ["src", "macro/src", "wit"] {
            for e in std::fs::read_dir(sdk().join(dir)).expect("the sdk") {
                let name = e.expect("entry").file_name().to_string_lossy().to_string();
                on_disk.push(format!("{dir}/{name}"));
            }
        }
        on_disk.sort();
        let mut carried: Vec<String> = FILES.iter().map(|(p, _)| p.to_string()).collect();
        carried.sort();
        assert_eq!(carried, on_disk, "add the new file to FILES");
    }

    #[test]
    fn the_pinned_versions_are_the_workspaces() {
        let text = std::fs::read_to_string(sdk().join("../Cargo.toml")).expect("Cargo.toml");
        let ws: toml::Table = text.parse().expect("toml");
        let deps = ws["workspace"]["dependencies"]
            .as_table()
            .expect("dependencies");
        let version = |name: &str| match &deps[name] {
            toml::Value::String(v) => v.clone(),
            t => t["version"].as_str().expect("version").to_string(),
        };
        assert_eq!(version("bson"), BSON);
        assert_eq!(version("wit-bindgen"), WIT_BINDGEN);
        assert_eq!(version("syn"), SYN);
        assert_eq!(version("quote"), QUOTE);
        assert_eq!(version("proc-macro2"), PROC_MACRO2);
    }
}
