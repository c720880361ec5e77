//! The example guests in other languages than Rust
//! (`examples/guests/<lang>/<name>`), each built once per test binary by
//! `mongoshift build <dir>`, as a user would.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::util::{bin, text};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A language's `split_name` example.
pub fn example(lang: &str) -> PathBuf {
    example_named(lang, "split_name")
}

/// A language's example `name` (its directory, holding `migration.toml`).
pub fn example_named(lang: &str, name: &str) -> PathBuf {
    repo().join("examples/guests").join(lang).join(name)
}

/// Builds a language's `split_name` example and returns its module.
pub fn built_example(lang: &str) -> PathBuf {
    built_example_named(lang, "split_name")
}

/// Builds a language's example `name` with `mongoshift build <dir>` once per
/// test binary and returns its module (`<name>.wasm`).
pub fn built_example_named(lang: &str, name: &str) -> PathBuf {
    built_dir(&example_named(lang, name), lang).join(format!("{name}.wasm"))
}

/// Builds the example migration in `dir` (written in `lang`) with
/// `mongoshift build <dir>` once per test binary, and returns `dir`.
pub fn built_dir(dir: &Path, lang: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<Vec<PathBuf>>> = OnceLock::new();
    let cell = BUILT.get_or_init(|| Mutex::new(Vec::new()));
    let mut done = cell.lock().unwrap_or_else(|p| p.into_inner());
    if done.iter().any(|d| d == dir) {
        return dir.to_path_buf();
    }
    let name = dir
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let out = std::process::Command::new(bin())
        .arg("build")
        .arg(dir)
        .output()
        .expect("run mongoshift build");
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "building the {lang} example {name} failed (run scripts/install-guest-tools first):\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("bytes, {lang}) for {name}")),
        "{stdout}"
    );
    done.push(dir.to_path_buf());
    dir.to_path_buf()
}
