//! `mongoshift build`: compiling the guests of `wasm` migrations into the
//! modules their manifests name. The language of a guest is told by its files
//! (see [`Language::detect`]): Rust crates through cargo, C through zig,
//! AssemblyScript through asc, JavaScript through esbuild and componentize-js,
//! Python through componentize-py.

use std::path::{Path, PathBuf};
use std::process::Command;

use mongoshift::manifest::Body;
use mongoshift::MigrationSource;

pub(crate) mod languages;
pub(crate) mod sdk;

pub use languages::{guest_tools_dir, Language};

/// The Rust target guest crates are built for: the result is a component.
pub const RUST_GUEST_TARGET: &str = "wasm32-wasip2";

/// Building a guest failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The migrations could not be read.
    #[error(transparent)]
    Source(#[from] mongoshift::SourceError),
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
    /// The guest's language cannot be told from its files.
    #[error("migration {id}: cannot tell which language {dir} is written in: expected Cargo.toml (Rust), *.c (C), asconfig.json or a package.json using assemblyscript (AssemblyScript), index.js (JavaScript) or app.py (Python)")]
    UnknownLanguage {
        /// The migration.
        id: String,
        /// The guest's directory.
        dir: PathBuf,
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
    /// The language it was written in.
    pub language: Language,
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
        built.push(build_guest(&m.id, &crate_dir, &module)?);
    }
    Ok(built)
}

/// Builds the guest of the one migration in `dir` (a directory holding
/// `migration.toml`, such as `examples/guests/c/split_name`), whatever its
/// name. The migration's id in messages is the directory's name.
pub fn build_dir(dir: &Path) -> Result<Built, BuildError> {
    let id = dir.file_name().map_or_else(
        || dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let manifest_path = dir.join(mongoshift::source::MANIFEST_FILE);
    let text = std::fs::read_to_string(&manifest_path).map_err(|e| BuildError::Io {
        id: id.clone(),
        message: format!("cannot read {}: {e}", manifest_path.display()),
    })?;
    let manifest = mongoshift::manifest::parse(&manifest_path, &text)?;
    let Body::Wasm(spec) = &manifest.body else {
        return Err(BuildError::Io {
            id,
            message: format!("{} is not a `wasm` migration", manifest_path.display()),
        });
    };
    let Some(guest) = &spec.build else {
        return Err(BuildError::Io {
            id,
            message: format!(
                "{} names no `build` folder to compile",
                manifest_path.display()
            ),
        });
    };
    let guest_dir = if guest.as_os_str() == "." {
        dir.to_path_buf()
    } else {
        dir.join(guest)
    };
    build_guest(&id, &guest_dir, &dir.join(&spec.module))
}

/// Builds the guest in `guest_dir` (any supported language) into `module`.
pub fn build_guest(id: &str, guest_dir: &Path, module: &Path) -> Result<Built, BuildError> {
    let language = Language::detect(guest_dir).ok_or_else(|| BuildError::UnknownLanguage {
        id: id.into(),
        dir: guest_dir.to_path_buf(),
    })?;
    let io = |e: std::io::Error, what: &str| BuildError::Io {
        id: id.into(),
        message: format!("{what}: {e}"),
    };
    if language == Language::Rust {
        let wasm = build_rust_guest(id, guest_dir)?;
        std::fs::copy(&wasm, module).map_err(|e| {
            io(
                e,
                &format!("cannot copy {} to {}", wasm.display(), module.display()),
            )
        })?;
    } else {
        languages::build(language, id, guest_dir, module)?;
    }
    let bytes = std::fs::metadata(module)
        .map_err(|e| io(e, "cannot stat the module"))?
        .len();
    Ok(Built {
        id: id.into(),
        module: module.to_path_buf(),
        bytes,
        language,
    })
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
    if let Ok(text) = std::fs::read_to_string(&manifest) {
        sdk::restore_for(crate_dir, &text).map_err(|e| BuildError::Io {
            id: id.into(),
            message: e.to_string(),
        })?;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    check_tools(&cargo, &missing)?;
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
    let package = cdylib_name(&meta, &manifest, id)?;

    let remap = remap_flags(&meta);
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

/// Cargo and the guest target are installed.
fn check_tools(cargo: &str, missing: &dyn Fn(&str, &str) -> BuildError) -> Result<(), BuildError> {
    if Command::new(cargo).arg("--version").output().is_err() {
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
    Ok(())
}

/// The library name (`a_b` for package `a-b`) of the cdylib target of the
/// package at `manifest`, from `cargo metadata`.
fn cdylib_name(meta: &serde_json::Value, manifest: &Path, id: &str) -> Result<String, BuildError> {
    let canonical = manifest.canonicalize().unwrap_or(manifest.to_path_buf());
    meta["packages"]
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
        })
}

/// Rustflags that remap the project's and cargo's paths, so the module's
/// bytes (and so its checksum) do not depend on where the checkout lives.
fn remap_flags(meta: &serde_json::Value) -> Vec<String> {
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
    remap
}

fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
