//! `mongoshift test`: fixtures run through a migration's transform with no
//! database (the connection string points nowhere), passing and failing
//! cases with their diff and exit code, bad fixtures named by file and
//! case, and Python transforms through the Python package.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

use crate::util::{bin, text};
use crate::wat::{counter, for_each, guest};

/// A project directory whose commands can reach no server.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("migrations")).expect("migrations dir");
        Project { dir }
    }

    pub fn migrations(&self) -> PathBuf {
        self.dir.path().join("migrations")
    }

    pub fn write(&self, file: &str, text: &str) -> PathBuf {
        let p = self.migrations().join(file);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, text).expect("write");
        p
    }

    /// The CLI in the project; port 1 has no server, so a command that
    /// tried to connect would fail.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(bin());
        c.current_dir(self.dir.path())
            .env("MONGODB_URI", "mongodb://127.0.0.1:1/nowhere")
            .env("MONGOSHIFT_PROGRESS", "plain")
            .env_remove("VIRTUAL_ENV")
            .timeout(std::time::Duration::from_secs(300));
        c
    }

    /// Runs `args`; returns the exit code, stdout and stderr.
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd().args(args).output().expect("run mongoshift");
        let (stdout, stderr) = text(&out);
        (out.status.code().unwrap_or(-1), stdout, stderr)
    }
}

const COUNT: &str = "20260101000000_count";

/// `n` + 1 forward, − 1 backward; a document whose `_id` is a multiple of 3
/// fails with "this document cannot be migrated".
fn counting(p: &Project) {
    p.write(&format!("{COUNT}/guest.wat"), &counter(true, Some(3)));
    p.write(
        &format!("{COUNT}/migration.toml"),
        "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\n",
    );
}

const PASSING: &str = r#"[
  { "name": "adds one", "input": { "_id": 1, "name": "a", "n": 41 },
    "expect": { "replace": { "_id": 1, "name": "a", "n": 42 } } },
  { "name": "fails a multiple of three", "input": { "_id": 3, "n": 1 },
    "expect": { "fail": "cannot be migrated" } },
  { "name": "by a pattern", "input": { "_id": 6, "n": 1 },
    "expect": { "fail": "/^this .* migrated$/" } },
  { "name": "backward", "direction": "backward", "input": { "_id": 1, "n": { "$numberInt": "42" } },
    "expect": { "replace": { "_id": 1, "n": 41 } } }
]"#;

#[test]
fn passing_fixtures_of_a_wasm_migration_pass_with_no_database() {
    let p = Project::new();
    counting(&p);
    p.write(&format!("{COUNT}/tests/cases.json"), PASSING);
    let (code, stdout, stderr) = p.run(&["test"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains(COUNT), "{stdout}");
    assert!(
        stdout.contains("ok   tests/cases.json case 1 (\"adds one\") (forward)")
            || stdout.contains(
                "ok   20260101000000_count/tests/cases.json case 1 (\"adds one\") (forward)"
            ),
        "{stdout}"
    );
    assert!(stdout.contains("4 passed, 0 failed"), "{stdout}");
}

#[test]
fn a_failing_case_shows_a_typed_field_diff_and_exits_7() {
    let p = Project::new();
    counting(&p);
    p.write(&format!("{COUNT}/tests/cases.json"), PASSING);
    p.write(
        &format!("{COUNT}/tests/wrong.json"),
        r#"[
  { "name": "wrong type", "input": { "_id": 1, "a": { "b": 1 }, "n": 41 },
    "expect": { "replace": { "_id": 1, "a": { "b": 1, "c": "x" }, "n": { "$numberLong": "42" } } } },
  { "name": "expects keep", "input": { "_id": 2, "n": 1 }, "expect": "keep" },
  { "name": "expects delete", "input": { "_id": 3, "n": 1 }, "expect": "delete" },
  { "name": "wrong message", "input": { "_id": 9, "n": 1 }, "expect": { "fail": "too old" } }
]"#,
    );
    let (code, stdout, stderr) = p.run(&["test", COUNT]);
    assert_eq!(code, 7, "{stdout}{stderr}");
    for want in [
        "FAIL 20260101000000_count/tests/wrong.json case 1 (\"wrong type\") (forward)",
        "n: expected int64 42, got int32 42",
        "a.c: missing (expected string \"x\")",
        "expected keep, got replace with {\"_id\":2,\"n\":2}",
        "expected delete, got fail with \"this document cannot be migrated\"",
        "expected a failure matching \"too old\", got the message \"this document cannot be migrated\"",
        "4 passed, 4 failed",
    ] {
        assert!(stdout.contains(want), "{want}\n{stdout}");
    }
}

/// `n` + 1 in both directions: backward does not undo forward.
fn not_undone() -> String {
    let body = for_each(
        r#"(call $emit (i32.const 1) (local.get $doc) (i32.load (local.get $doc)))
        (i32.store (i32.sub (global.get $cursor) (i32.const 5))
          (i32.add (i32.load (i32.sub (global.get $cursor) (i32.const 5))) (i32.const 1)))"#,
    );
    guest(1, true, "", &body)
}

#[test]
fn backward_after_forward_must_give_the_input_back() {
    let p = Project::new();
    p.write("20260101000000_up/guest.wat", &not_undone());
    p.write(
        "20260101000000_up/migration.toml",
        "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\n",
    );
    p.write(
        "20260101000000_up/tests/one.json",
        r#"{ "name": "adds one", "input": { "_id": 1, "n": 1 }, "expect": { "replace": { "_id": 1, "n": 2 } } }"#,
    );
    let (code, stdout, _) = p.run(&["test"]);
    assert_eq!(code, 7, "{stdout}");
    assert!(
        stdout.contains("backward after forward does not give the input back:")
            && stdout.contains("n: expected int32 1, got int32 3"),
        "{stdout}"
    );
    assert!(stdout.contains("0 passed, 1 failed"), "{stdout}");
}

#[test]
fn bad_fixtures_are_named_by_file_and_case_and_exit_8() {
    let p = Project::new();
    counting(&p);
    let cases = [
        (
            r#"[{ "name": "ok", "input": { "_id": 1, "n": 1 }, "expect": "keep" }, { "name": "typo", "input": { "_id": 2 }, "expect": "kep" }]"#,
            "case 2 (\"typo\"): `expect`: expected \"keep\", \"delete\"",
        ),
        (
            r#"{ "input": { "n": 1 }, "expect": "keep" }"#,
            "case 1: `input`: the document has no _id",
        ),
        (
            r#"{ "input": { "_id": 1, "d": { "$date": "yesterday" } }, "expect": "keep" }"#,
            "case 1: `input`: invalid Extended JSON",
        ),
        (
            r#"{ "input": { "_id": 1 }, "expect": "keep", "expected": "keep" }"#,
            "case 1: unknown key `expected`",
        ),
        (
            r#"{ "input": { "_id": 1 }, "expect": "keep", "lookups": { "orgs": [] } }"#,
            "case 1: `lookups.orgs`: the migration has no lookup with `as = \"orgs\"`",
        ),
        ("{ \"input\": {\n  \"_id\": 1,,\n} }", "line 2"),
    ];
    for (text, want) in cases {
        p.write(&format!("{COUNT}/tests/bad.json"), text);
        let (code, stdout, stderr) = p.run(&["test"]);
        assert_eq!(code, 8, "{text}\n{stdout}{stderr}");
        assert!(
            stderr.contains("migrations/20260101000000_count/tests/bad.json")
                && stderr.contains(want),
            "{want}\n{stderr}"
        );
    }
}

#[test]
fn update_migrations_are_skipped_with_a_note_and_an_unknown_id_is_named() {
    let p = Project::new();
    counting(&p);
    p.write(&format!("{COUNT}/tests/cases.json"), PASSING);
    p.write(
        "20260102000000_flag.toml",
        "kind = \"update\"\ncollection = \"users\"\n[[forward]]\nop = \"update_many\"\nfilter = {}\nupdate = { \"$set\" = { flag = 1 } }\n",
    );
    let (code, stdout, _) = p.run(&["test"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("20260102000000_flag: skipped, an update migration runs on the server"),
        "{stdout}"
    );
    let (code, _, stderr) = p.run(&["test", "20260103000000_nope"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("no migration 20260103000000_nope in migrations"),
        "{stderr}"
    );
}

#[test]
fn json_output_holds_every_case_and_the_summary() {
    let p = Project::new();
    counting(&p);
    p.write(&format!("{COUNT}/tests/cases.json"), PASSING);
    let (code, stdout, _) = p.run(&["test", "--json"]);
    assert_eq!(code, 0, "{stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(v["summary"]["passed"], 4);
    assert_eq!(v["migrations"][0]["id"], COUNT);
    assert_eq!(v["migrations"][0]["cases"][3]["direction"], "backward");
}

/// The version-2 example guest of guest-sdk/ABI.md: keeps each document
/// and upserts `{_id, n: <keys of its lookups document>}` into `copies`.
fn emit_v2(p: &Project, id: &str, manifest_extra: &str) {
    let wat = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../guest-sdk/wat/emit_v2.wat"
    ))
    .expect("guest-sdk/wat/emit_v2.wat");
    p.write(&format!("{id}/guest.wat"), &wat);
    p.write(
        &format!("{id}/migration.toml"),
        &format!(
            "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\n{manifest_extra}"
        ),
    );
}

#[test]
fn lookups_and_outputs_of_a_version_2_module_are_given_and_compared() {
    let p = Project::new();
    let id = "20260101000000_copy";
    emit_v2(
        &p,
        id,
        "outputs = [\"copies\"]\n[[lookup]]\nfrom = \"orgs\"\nlocal_field = \"org\"\nforeign_field = \"_id\"\nas = \"org\"\n",
    );
    p.write(
        &format!("{id}/tests/cases.json"),
        r#"[
  { "name": "copied", "input": { "_id": 1, "org": 5 },
    "lookups": { "org": [ { "_id": 5, "name": "Acme" } ] },
    "expect": "keep",
    "outputs": [ { "op": "upsert", "collection": "copies", "document": { "_id": 1, "n": 1 } } ] },
  { "name": "wrong op", "input": { "_id": 2, "org": 5 }, "expect": "keep",
    "outputs": [ { "op": "insert", "collection": "copies", "document": { "_id": 2, "n": 1 } } ] },
  { "name": "wrong document", "input": { "_id": 3 }, "expect": "keep",
    "outputs": [ { "op": "upsert", "collection": "copies", "document": { "_id": 3, "n": 2 } } ] },
  { "name": "none expected", "input": { "_id": 4 }, "expect": "keep" }
]"#,
    );
    let (code, stdout, stderr) = p.run(&["test"]);
    assert_eq!(code, 7, "{stdout}{stderr}");
    for want in [
        r#"output 1: expected insert into copies {"_id":2,"n":1}, got upsert into copies {"_id":2,"n":1}"#,
        "output 1 (upsert into copies): n: expected int32 2, got int32 1",
        r#"output 1: not expected (got upsert into copies {"_id":4,"n":1})"#,
        "1 passed, 3 failed",
    ] {
        assert!(stdout.contains(want), "{want}\n{stdout}");
    }
    // Without `outputs` in the manifest, the output is refused as `up`
    // refuses it.
    let undeclared = "20260102000000_undeclared";
    emit_v2(&p, undeclared, "");
    p.write(
        &format!("{undeclared}/tests/cases.json"),
        r#"{ "input": { "_id": 1 }, "expect": "keep" }"#,
    );
    let (code, stdout, _) = p.run(&["test", undeclared]);
    assert_eq!(code, 7, "{stdout}");
    assert!(
        stdout.contains("expected keep, got an error: an output (upsert) to `copies`, which is not among the manifest's outputs ([])"),
        "{stdout}"
    );
}

const PY: &str = r#""""title-case the name; delete the empty ones"""
from mongoshift import Migration, document_migration


class Title(Migration):
    collection = "users"

    @document_migration(batch_size=10)
    def forward(self, doc):
        if not doc.get("name"):
            return None
        if doc["name"] == "boom":
            raise ValueError("cannot title-case boom")
        doc["name"] = doc["name"].title()
        return doc
"#;

pub fn python_project(venv: &Path) -> (Project, Command) {
    let p = Project::new();
    p.write("20260101000000_title.py", PY);
    p.write(
        "tests/20260101000000_title/cases.json",
        r#"[
  { "name": "titled", "input": { "_id": 1, "name": "ada lovelace" },
    "expect": { "replace": { "_id": 1, "name": "Ada Lovelace" } } },
  { "name": "deleted", "input": { "_id": 2, "name": "" }, "expect": "delete" },
  { "name": "raises", "input": { "_id": 3, "name": "boom" }, "expect": { "fail": "cannot title-case" } }
]"#,
    );
    let mut c = p.cmd();
    c.env("VIRTUAL_ENV", venv);
    (p, c)
}

#[test]
fn python_transforms_run_their_fixtures_through_the_python_package() {
    let venv = crate::python::venv();
    let (p, mut c) = python_project(venv);
    let out = c.arg("test").output().expect("run");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("3 passed, 0 failed"), "{stdout}");
    p.write(
        "tests/20260101000000_title/wrong.json",
        r#"{ "name": "typed", "input": { "_id": 4, "name": "x", "age": 42 }, "expect": { "replace": { "_id": 4, "name": "X", "age": "42" } } }"#,
    );
    let mut c = p.cmd();
    let out = c
        .env("VIRTUAL_ENV", venv)
        .arg("test")
        .output()
        .expect("run");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(7), "{stdout}{stderr}");
    assert!(
        stdout.contains("age: expected string \"42\", got int32 42"),
        "{stdout}"
    );
    assert!(stdout.contains("3 passed, 1 failed"), "{stdout}");
}

#[test]
fn a_python_transform_without_the_python_package_fails_with_the_reason() {
    let p = Project::new();
    p.write("20260101000000_title.py", PY);
    p.write(
        "tests/20260101000000_title/cases.json",
        r#"{ "input": { "_id": 2, "name": "" }, "expect": "delete" }"#,
    );
    let (code, _, stderr) = p
        .cmd()
        .env("PATH", "/nonexistent")
        .args(["test"])
        .output()
        .map(|o| {
            let (a, b) = text(&o);
            (o.status.code().unwrap_or(-1), a, b)
        })
        .expect("run");
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("20260101000000_title") && stderr.contains("no Python runtime"),
        "{stderr}"
    );
}
