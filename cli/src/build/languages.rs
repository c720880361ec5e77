//! Guests in other languages than Rust: telling the language from the files,
//! finding the compiler, and running it on a staged copy of the guest with the
//! language's helper (from `guest-sdk/<lang>/`, built into this binary) beside
//! it, so a guest needs nothing but its own source.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use super::{tail, BuildError};

/// The C helper (`#include "mongoshift.h"`, which includes its parts).
pub(crate) const C_HEADERS: [(&str, &str); 3] = [
    (
        "mongoshift.h",
        include_str!("../../../guest-sdk/c/mongoshift.h"),
    ),
    (
        "mongoshift_text.h",
        include_str!("../../../guest-sdk/c/mongoshift_text.h"),
    ),
    (
        "mongoshift_v2.h",
        include_str!("../../../guest-sdk/c/mongoshift_v2.h"),
    ),
];
/// The AssemblyScript helper (`import … from "./mongoshift"`, and
/// `"./mongoshift_v2"` for contract version 2).
pub(crate) const AS_LIBRARIES: [(&str, &str); 2] = [
    (
        "mongoshift.ts",
        include_str!("../../../guest-sdk/assemblyscript/mongoshift.ts"),
    ),
    (
        "mongoshift_v2.ts",
        include_str!("../../../guest-sdk/assemblyscript/mongoshift_v2.ts"),
    ),
];
/// The JavaScript helper (`import … from "./mongoshift.js"`).
pub(crate) const JS_LIBRARY: &str = include_str!("../../../guest-sdk/js/mongoshift.js");
/// The Python helper (`from mongoshift import …`).
pub(crate) const PY_LIBRARY: &str = include_str!("../../../guest-sdk/python/mongoshift.py");
/// The contract, for the component toolchains.
pub(crate) const WIT: &str = include_str!("../../../guest-sdk/wit/transform.wit");
/// Contract version 2, for component guests that use it.
const WIT_V2: &str = include_str!("../../../guest-sdk/wit/transform-v2.wit");

const INSTALL_HINT: &str = "run `scripts/install-guest-tools` from the mongoshift checkout (it installs every guest compiler into ~/.cache/mongoshift/guest-tools)";

/// The language a guest is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Language {
    /// A cargo crate, built for `wasm32-wasip2` (a component).
    Rust,
    /// `*.c` files with `mongoshift.h`, built by zig (a core module).
    C,
    /// `index.ts` with `mongoshift.ts`, built by asc (a core module).
    AssemblyScript,
    /// `index.js` with `mongoshift.js`, built by esbuild and componentize-js.
    JavaScript,
    /// `app.py` with `mongoshift.py`, built by componentize-py.
    Python,
}

impl Language {
    /// Every language, in the order `--lang` lists them.
    pub const ALL: [Language; 5] = [
        Language::Rust,
        Language::C,
        Language::AssemblyScript,
        Language::JavaScript,
        Language::Python,
    ];

    /// The name `--lang` takes.
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::C => "c",
            Language::AssemblyScript => "assemblyscript",
            Language::JavaScript => "js",
            Language::Python => "python",
        }
    }

    /// Tells the language of the guest in `dir` from its files: `Cargo.toml`
    /// (Rust), `*.c` (C), `asconfig.json` or a `package.json` that uses
    /// assemblyscript (AssemblyScript), a `package.json` that uses
    /// componentize-js or `index.js` (JavaScript), `app.py` (Python).
    pub fn detect(dir: &Path) -> Option<Language> {
        let has = |name: &str| dir.join(name).is_file();
        let package = std::fs::read_to_string(dir.join("package.json")).unwrap_or_default();
        let any_ext = |ext: &str| {
            std::fs::read_dir(dir).is_ok_and(|rd| {
                rd.flatten()
                    .any(|e| e.path().extension().is_some_and(|x| x == ext))
            })
        };
        if has("Cargo.toml") {
            Some(Language::Rust)
        } else if any_ext("c") {
            Some(Language::C)
        } else if has("asconfig.json") || package.contains("\"assemblyscript\"") {
            Some(Language::AssemblyScript)
        } else if package.contains("componentize-js") || has("index.js") {
            Some(Language::JavaScript)
        } else if has("app.py") {
            Some(Language::Python)
        } else {
            None
        }
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Language {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "rust" | "rs" => Language::Rust,
            "c" => Language::C,
            "assemblyscript" | "as" => Language::AssemblyScript,
            "js" | "javascript" => Language::JavaScript,
            "python" | "py" => Language::Python,
            other => {
                return Err(format!(
                    "unknown guest language `{other}`; known: rust, c, assemblyscript, js, python"
                ))
            }
        })
    }
}

/// Where `scripts/install-guest-tools` puts the guest compilers:
/// `$MONGOSHIFT_GUEST_TOOLS`, else `$MONGOSHIFT_CACHE/guest-tools`, else
/// `~/.cache/mongoshift/guest-tools`.
pub fn guest_tools_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("MONGOSHIFT_GUEST_TOOLS") {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("MONGOSHIFT_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/mongoshift")))
        .map(|root| root.join("guest-tools"))
}

/// A copy of the guest's sources with the helper beside them, removed when
/// dropped.
struct Stage(PathBuf);

impl Drop for Stage {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let n = name.to_string_lossy();
        if n.starts_with('.')
            || ["node_modules", "target", "__pycache__", "zig-out"].contains(&n.as_ref())
            || n.ends_with(".wasm")
        {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(&name))?;
        } else {
            std::fs::copy(&path, to.join(&name))?;
        }
    }
    Ok(())
}

fn stage(id: &str, guest: &Path, helpers: &[(&str, &str)]) -> Result<Stage, BuildError> {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "mongoshift-build-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let stage = Stage(dir);
    let io = |e: std::io::Error| BuildError::Io {
        id: id.into(),
        message: format!("cannot stage {} for building: {e}", guest.display()),
    };
    let _ = std::fs::remove_dir_all(&stage.0);
    std::fs::create_dir_all(stage.0.join("wit")).map_err(io)?;
    // The helper first: a guest that carries its own copy wins.
    for (name, text) in helpers {
        std::fs::write(stage.0.join(name), text).map_err(io)?;
    }
    std::fs::write(stage.0.join("wit/transform.wit"), WIT).map_err(io)?;
    copy_tree(guest, &stage.0).map_err(io)?;
    Ok(stage)
}

/// The WIT world a component guest is built against (and the file that
/// defines it): `transform-v2` when any
/// of its own sources (`*.ext` beside its entry file, the helper aside) calls
/// the helper's version-2 entry point `v2_entry`, else `transform`. The
/// world must be known before the guest runs, and a component exports no
/// version of its own, so the source is what tells.
fn component_world(
    id: &str,
    stage: &Stage,
    ext: &str,
    v2_entry: &str,
) -> Result<(&'static str, &'static str), BuildError> {
    let io = |e: std::io::Error| BuildError::Io {
        id: id.into(),
        message: format!("cannot stage the contract for building: {e}"),
    };
    let uses_v2 = std::fs::read_dir(&stage.0)
        .map_err(io)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .filter(|p| p.file_stem().is_none_or(|s| s != "mongoshift"))
        .any(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains(v2_entry)));
    if !uses_v2 {
        return Ok(("transform", "wit/transform.wit"));
    }
    // One package per WIT folder: version 2's replaces version 1's.
    std::fs::remove_file(stage.0.join("wit/transform.wit")).map_err(io)?;
    std::fs::write(stage.0.join("wit/transform-v2.wit"), WIT_V2).map_err(io)?;
    Ok(("transform-v2", "wit/transform-v2.wit"))
}

/// A command line for a tool: the program and the arguments before ours.
struct Tool {
    program: PathBuf,
    prefix: Vec<String>,
}

impl Tool {
    fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.prefix);
        c
    }
}

fn runs(program: &Path, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// An npm tool: the guest's own node_modules, the installed guest tools, PATH.
fn find_npm_tool(guest: &Path, name: &str) -> Option<Tool> {
    let mut candidates = vec![guest.join("node_modules/.bin").join(name)];
    if let Some(tools) = guest_tools_dir() {
        candidates.push(tools.join("node/node_modules/.bin").join(name));
    }
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .or_else(|| runs(Path::new(name), &["--version"]).then(|| PathBuf::from(name)))
        .map(|program| Tool {
            program,
            prefix: vec![],
        })
}

/// zig: on PATH, or the PyPI package `ziglang` (`python -m ziglang`) in the
/// installed guest tools or the system Python.
fn find_zig() -> Option<Tool> {
    if runs(Path::new("zig"), &["version"]) {
        return Some(Tool {
            program: "zig".into(),
            prefix: vec![],
        });
    }
    let mut pythons: Vec<PathBuf> = guest_tools_dir()
        .map(|t| t.join("venv/bin/python"))
        .into_iter()
        .filter(|p| p.is_file())
        .collect();
    pythons.push("python3".into());
    pythons
        .into_iter()
        .find(|p| runs(p, &["-m", "ziglang", "version"]))
        .map(|program| Tool {
            program,
            prefix: vec!["-m".into(), "ziglang".into()],
        })
}

fn find_componentize_py() -> Option<Tool> {
    guest_tools_dir()
        .map(|t| t.join("venv/bin/componentize-py"))
        .filter(|p| p.is_file())
        .or_else(|| {
            runs(Path::new("componentize-py"), &["--version"]).then(|| "componentize-py".into())
        })
        .map(|program| Tool {
            program,
            prefix: vec![],
        })
}

fn missing(id: &str, guest: &Path, tool: &str, language: Language, direct: &str) -> BuildError {
    BuildError::MissingTool {
        id: id.into(),
        crate_dir: guest.to_path_buf(),
        tool: tool.into(),
        hint: format!("{language} guests need it; {INSTALL_HINT}, or {direct}"),
    }
}

fn run(id: &str, guest: &Path, what: &str, mut cmd: Command) -> Result<(), BuildError> {
    // componentize-py is a Rust program: its own backtrace would bury the
    // guest's error.
    cmd.env("RUST_BACKTRACE", "0")
        .env("RUST_LIB_BACKTRACE", "0");
    let out: Output = cmd.output().map_err(|e| BuildError::Io {
        id: id.into(),
        message: format!("cannot run {what}: {e}"),
    })?;
    if out.status.success() {
        return Ok(());
    }
    let mut text = out.stderr;
    text.extend_from_slice(&out.stdout);
    if let Some(at) = text.windows(16).position(|w| w == b"Stack backtrace:") {
        text.truncate(at);
    }
    Err(BuildError::Failed {
        id: id.into(),
        crate_dir: guest.to_path_buf(),
        output: format!("{what} failed:\n{}", tail(&text)),
    })
}

/// Builds a non-Rust guest in `guest` into `module`.
pub(crate) fn build(
    language: Language,
    id: &str,
    guest: &Path,
    module: &Path,
) -> Result<(), BuildError> {
    let module = std::path::absolute(module).unwrap_or_else(|_| module.to_path_buf());
    match language {
        Language::Rust => unreachable!("Rust guests are built by cargo"),
        Language::C => build_c(id, guest, &module),
        Language::AssemblyScript => build_assemblyscript(id, guest, &module),
        Language::JavaScript => build_javascript(id, guest, &module),
        Language::Python => build_python(id, guest, &module),
    }
}

/// Builds a C (zig cc) guest.
fn build_c(id: &str, guest: &Path, module: &Path) -> Result<(), BuildError> {
    let zig = find_zig().ok_or_else(|| {
        missing(
            id,
            guest,
            "zig",
            Language::C,
            "`pip install ziglang` (PyPI) to get `python3 -m ziglang`",
        )
    })?;
    let stage = stage(id, guest, &C_HEADERS)?;
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&stage.0)
        .map_err(|e| BuildError::Io {
            id: id.into(),
            message: format!("cannot list the C sources: {e}"),
        })?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    sources.sort();
    let mut cmd = zig.command();
    cmd.current_dir(&stage.0)
        .args([
            "cc",
            "-target",
            "wasm32-freestanding",
            "-O2",
            "-s",
            "-Wl,--no-entry",
            "-I.",
            "-o",
        ])
        .arg(module)
        .args(&sources);
    run(id, guest, "zig cc", cmd)
}

/// Builds a AssemblyScript (asc) guest.
fn build_assemblyscript(id: &str, guest: &Path, module: &Path) -> Result<(), BuildError> {
    let asc = find_npm_tool(guest, "asc").ok_or_else(|| {
        missing(
            id,
            guest,
            "asc",
            Language::AssemblyScript,
            "`npm install assemblyscript` in the guest's folder",
        )
    })?;
    let stage = stage(id, guest, &AS_LIBRARIES)?;
    let mut cmd = asc.command();
    cmd.current_dir(&stage.0)
        .args([
            "index.ts",
            "--optimizeLevel",
            "3",
            "--shrinkLevel",
            "0",
            "--noAssert",
            "--runtime",
            "incremental",
            "--outFile",
        ])
        .arg(module);
    run(id, guest, "asc", cmd)
}

/// Builds a JavaScript (esbuild, componentize-js) guest.
fn build_javascript(id: &str, guest: &Path, module: &Path) -> Result<(), BuildError> {
    let hint = "`npm install @bytecodealliance/componentize-js esbuild` in the guest's folder";
    let esbuild = find_npm_tool(guest, "esbuild")
        .ok_or_else(|| missing(id, guest, "esbuild", Language::JavaScript, hint))?;
    let componentize = find_npm_tool(guest, "componentize-js")
        .ok_or_else(|| missing(id, guest, "componentize-js", Language::JavaScript, hint))?;
    let stage = stage(id, guest, &[("mongoshift.js", JS_LIBRARY)])?;
    let (world, wit) = component_world(id, &stage, "js", "defineTransformV2")?;
    let mut bundle = esbuild.command();
    bundle.current_dir(&stage.0).args([
        "index.js",
        "--bundle",
        "--format=esm",
        "--platform=neutral",
        "--log-level=warning",
        "--outfile=bundle.js",
    ]);
    run(id, guest, "esbuild", bundle)?;
    let mut cmd = componentize.command();
    // No WASI feature the sandbox would only stub anyway; stdio stays:
    // `console.log` and the helper's `log` go into the batch's log.
    cmd.current_dir(&stage.0)
        .args([
            "bundle.js",
            "--wit",
            wit,
            "--world-name",
            world,
            "--disable",
            "random",
            "clocks",
            "http",
            "fetch-event",
            "--out",
        ])
        .arg(module);
    run(id, guest, "componentize-js", cmd)
}

/// Builds a Python (componentize-py) guest.
fn build_python(id: &str, guest: &Path, module: &Path) -> Result<(), BuildError> {
    let cpy = find_componentize_py().ok_or_else(|| {
        missing(
            id,
            guest,
            "componentize-py",
            Language::Python,
            "`pip install componentize-py` (PyPI)",
        )
    })?;
    let stage = stage(id, guest, &[("mongoshift.py", PY_LIBRARY)])?;
    let (world, _) = component_world(id, &stage, "py", "export_v2")?;
    let mut cmd = cpy.command();
    cmd.current_dir(&stage.0)
        .args(["-d", "wit", "-w", world, "componentize", "app", "-p", "."])
        .arg("-o")
        .arg(module);
    run(id, guest, "componentize-py", cmd)
}
