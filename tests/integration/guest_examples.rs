//! The example guests in other languages than Rust
//! (`examples/guests/<lang>/<name>`), each built once per test binary by
//! `mongoshift build <dir>`, as a user would.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::util::{bin, text};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn example(lang: &str) -> PathBuf {
    repo().join("examples/guests").join(lang).join("split_name")
}

/// Builds a language's example with `mongoshift build <dir>` once per test
/// binary and returns its module.
pub fn built_example(lang: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<Vec<(String, PathBuf)>>> = OnceLock::new();
    let cell = BUILT.get_or_init(|| Mutex::new(Vec::new()));
    let mut done = cell.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, p)) = done.iter().find(|(l, _)| l == lang) {
        return p.clone();
    }
    let dir = example(lang);
    let out = std::process::Command::new(bin())
        .arg("build")
        .arg(&dir)
        .output()
        .expect("run mongoshift build");
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "building the {lang} example failed (run scripts/install-guest-tools first):\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("bytes, {lang}) for split_name")),
        "{stdout}"
    );
    let module = dir.join("split_name.wasm");
    done.push((lang.to_string(), module.clone()));
    module
}
