//! `mongoshift build`: compiling the guest crates of `wasm` migrations into the
//! modules their manifests name.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::manifest::Body;
use crate::source::MigrationSource;

/// The Rust target guest crates are built for: the result is a component.
pub const RUST_GUEST_TARGET: &str = "wasm32-wasip2";

/// Building a guest failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The migrations could not be read.
    #[error(transparent)]
    Source(#[from] crate::SourceError),
    /// A tool is missing.
    #[error("migration {id}: building {crate_dir} needs `{tool}`, which is not installed: {hint}")]
    MissingTool {
        /// The migration.
        id: String,
        /// The guest crate.
        crate_dir: PathBuf,
        /// The tool.
        tool: String,
        /// How to install it.
        hint: String,
    },
    /// The build ran and failed.
    #[error("migration {id}: building {crate_dir} failed:\n{output}")]
    Failed {
        /// The migration.
        id: String,
        /// The guest crate.
        crate_dir: PathBuf,
        /// The last lines of the compiler's output.
        output: String,
    },
    /// Files could not be read or written.
    #[error("migration {id}: {message}")]
    Io {
        /// The migration.
        id: String,
        /// What failed.
        message: String,
    },
}

/// One module built.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Built {
    /// The migration.
    pub id: String,
    /// The module written.
    pub module: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Builds every `wasm` migration that has a `build` crate (or only `only`).
pub fn build_all(source: &MigrationSource, only: Option<&str>) -> Result<Vec<Built>, BuildError> {
    let mut built = Vec::new();
    for m in source.load_unbuilt()? {
        if only.is_some_and(|id| id != m.id) {
            continue;
        }
        let Body::Wasm(spec) = &m.manifest.body else {
            continue;
        };
        let Some(crate_rel) = &spec.build else {
            continue;
        };
        let crate_dir = m.base_dir.join(crate_rel);
        let module = m.base_dir.join(&spec.module);
        let wasm = build_rust_guest(&m.id, &crate_dir)?;
        let io = |e: std::io::Error, what: &str| BuildError::Io {
            id: m.id.clone(),
            message: format!("{what}: {e}"),
        };
        std::fs::copy(&wasm, &module).map_err(|e| {
            io(
                e,
                &format!("cannot copy {} to {}", wasm.display(), module.display()),
            )
        })?;
        let bytes = std::fs::metadata(&module)
            .map_err(|e| io(e, "cannot stat the module"))?
            .len();
        built.push(Built {
            id: m.id.clone(),
            module,
            bytes,
        });
    }
    Ok(built)
}

/// Builds one Rust guest crate for [`RUST_GUEST_TARGET`] in release mode and
/// returns the `.wasm` it produced. Paths are remapped so the bytes (and so the
/// checksum) do not depend on where the checkout lives.
pub fn build_rust_guest(id: &str, crate_dir: &Path) -> Result<PathBuf, BuildError> {
    let manifest = crate_dir.join("Cargo.toml");
    let missing = |tool: &str, hint: &str| BuildError::MissingTool {
        id: id.into(),
        crate_dir: crate_dir.to_path_buf(),
        tool: tool.into(),
        hint: hint.into(),
    };
    if !manifest.is_file() {
        return Err(BuildError::Io {
            id: id.into(),
            message: format!("{} has no Cargo.toml", crate_dir.display()),
        });
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    if Command::new(&cargo).arg("--version").output().is_err() {
        return Err(missing(
            "cargo",
            "install Rust with rustup (https://rustup.rs)",
        ));
    }
    if let Ok(out) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
    {
        if out.status.success()
            && !String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.trim() == RUST_GUEST_TARGET)
        {
            return Err(missing(
                &format!("the Rust target {RUST_GUEST_TARGET}"),
                &format!("run `rustup target add {RUST_GUEST_TARGET}`"),
            ));
        }
    }
    let meta = Command::new(&cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .map_err(|e| BuildError::Io {
            id: id.into(),
            message: format!("cannot run cargo metadata: {e}"),
        })?;
    if !meta.status.success() {
        return Err(BuildError::Failed {
            id: id.into(),
            crate_dir: crate_dir.to_path_buf(),
            output: tail(&meta.stderr),
        });
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&meta.stdout).map_err(|e| BuildError::Io {
            id: id.into(),
            message: format!("cannot read cargo metadata: {e}"),
        })?;
    let target_dir = PathBuf::from(meta["target_directory"].as_str().unwrap_or("target"));
    let canonical = manifest.canonicalize().unwrap_or(manifest.clone());
    let package = meta["packages"]
        .as_array()
        .and_then(|ps| {
            ps.iter().find(|p| {
                p["manifest_path"].as_str().map(PathBuf::from).as_deref()
                    == Some(canonical.as_path())
            })
        })
        .and_then(|p| p["targets"].as_array())
        .and_then(|ts| {
            ts.iter().find(|t| {
                t["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "cdylib"))
            })
        })
        .and_then(|t| t["name"].as_str())
        .map(|n| n.replace('-', "_"))
        .ok_or_else(|| BuildError::Io {
            id: id.into(),
            message: format!(
                "{} has no cdylib target (add crate-type = [\"cdylib\"])",
                manifest.display()
            ),
        })?;

    let mut remap = Vec::new();
    // The project around the guest workspace (its path dependencies, such as
    // mongoshift-guest, usually live there too).
    if let Some(root) = meta["workspace_root"]
        .as_str()
        .map(Path::new)
        .and_then(Path::parent)
    {
        remap.push(format!("--remap-path-prefix={}=/project", root.display()));
    }
    if let Some(home) = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
    {
        remap.push(format!("--remap-path-prefix={}=/cargo", home.display()));
    }
    let out = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--target",
            RUST_GUEST_TARGET,
            "--manifest-path",
        ])
        .arg(&manifest)
        .env("CARGO_ENCODED_RUSTFLAGS", remap.join("\u{1f}"))
        .env_remove("RUSTFLAGS")
        .output()
        .map_err(|e| BuildError::Io {
            id: id.into(),
            message: format!("cannot run cargo build: {e}"),
        })?;
    if !out.status.success() {
        return Err(BuildError::Failed {
            id: id.into(),
            crate_dir: crate_dir.to_path_buf(),
            output: tail(&out.stderr),
        });
    }
    let wasm = target_dir
        .join(RUST_GUEST_TARGET)
        .join("release")
        .join(format!("{package}.wasm"));
    if !wasm.is_file() {
        return Err(BuildError::Io {
            id: id.into(),
            message: format!("cargo succeeded but {} is missing", wasm.display()),
        });
    }
    Ok(wasm)
}

fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
