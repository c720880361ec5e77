//! What `mongoshift new` writes: a version after the newest one (two `new`
//! within a second never collide), and, for a transform, one fixture that
//! `mongoshift test` passes once the scaffold is built, in Rust, in another
//! language and as a Python migration.

use std::path::Path;

use crate::fixtures_cmd::Project;
use crate::util::text;

/// The ids of the migrations `mongoshift new` wrote (the `created` lines).
fn created(stdout: &str) -> String {
    let path = stdout
        .lines()
        .find_map(|l| l.strip_prefix("created "))
        .unwrap_or_else(|| panic!("no `created` line: {stdout}"));
    let name = Path::new(path).file_name().expect("name").to_string_lossy();
    name.split('.').next().expect("id").to_string()
}

#[test]
fn new_twice_in_a_row_picks_a_later_version_and_the_directory_loads() {
    let p = Project::new();
    let mut ids = Vec::new();
    for name in ["first", "second", "third"] {
        let (code, stdout, stderr) = p.run(&["new", name]);
        assert_eq!(code, 0, "{stdout}{stderr}");
        ids.push(created(&stdout));
    }
    let versions: Vec<&str> = ids.iter().map(|i| &i[..14]).collect();
    assert!(
        versions.windows(2).all(|w| w[0] < w[1]),
        "versions must increase: {ids:?}"
    );
    // The directory loads: `test` reads every migration, with no database.
    let (code, stdout, stderr) = p.run(&["test"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("{}: skipped, an update migration", ids[2])),
        "{stdout}"
    );
    // A teammate's migration from a clock ahead: the next one follows it.
    p.write("29990101000000_future.toml", "kind = \"update\"\ncollection = \"users\"\n[[forward]]\nop = \"update_many\"\nfilter = {}\nupdate = { \"$set\" = { f = 1 } }\n");
    let (code, stdout, _) = p.run(&["new", "after"]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(created(&stdout), "29990101000001_after");
}

/// `new --kind wasm --lang LANG`, `build`, `test` in `migrations`: the
/// scaffold's fixture passes, and, changed to expect something else, fails
/// with its diff.
fn scaffold_build_test(p: &Project, lang: &str) {
    let (code, stdout, stderr) = p.run(&["new", "add status", "--kind", "wasm", "--lang", lang]);
    assert_eq!(code, 0, "{lang}: {stdout}{stderr}");
    let id = created(&stdout);
    let (code, stdout, stderr) = p.run(&["build", &id]);
    assert_eq!(code, 0, "{lang}: {stdout}{stderr}");
    let (code, stdout, stderr) = p.run(&["test", &id]);
    assert_eq!(code, 0, "{lang}: {stdout}{stderr}");
    assert!(stdout.contains("2 passed, 0 failed"), "{lang}: {stdout}");
    let fixture = p.migrations().join(&id).join("tests/status.json");
    let text = std::fs::read_to_string(&fixture).expect("fixture");
    std::fs::write(&fixture, text.replace("\"active\" }", "\"inactive\" }")).expect("write");
    let (code, stdout, _) = p.run(&["test", &id]);
    assert_eq!(code, 7, "{lang}: {stdout}");
    assert!(
        stdout.contains(r#"status: expected string "inactive", got string "active""#),
        "{lang}: {stdout}"
    );
}

#[test]
fn a_rust_scaffold_builds_and_its_fixture_passes() {
    // Inside this checkout, so the scaffold finds guest-sdk by path.
    let project = tempfile::Builder::new()
        .prefix(".scaffold-test-")
        .tempdir_in(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .expect("tempdir");
    std::fs::create_dir(project.path().join("migrations")).expect("migrations dir");
    scaffold_build_test(&Project { dir: project }, "rust");
}

#[test]
fn an_assemblyscript_scaffold_builds_and_its_fixture_passes() {
    scaffold_build_test(&Project::new(), "assemblyscript");
}

#[test]
fn a_python_scaffold_comes_with_a_fixture_that_passes() {
    let venv = crate::python::venv();
    let p = Project::new();
    let (code, stdout, stderr) = p.run(&["new", "add status", "--kind", "python"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let id = created(&stdout);
    assert!(
        p.migrations()
            .join(format!("tests/{id}/status.json"))
            .is_file(),
        "{stdout}"
    );
    let out = p
        .cmd()
        .env("VIRTUAL_ENV", venv)
        .arg("test")
        .output()
        .expect("run");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("2 passed, 0 failed"), "{stdout}");
}
