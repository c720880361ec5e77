//! Python migrations from the Rust CLI: the binary hands the command to the
//! Python package (`python -m mongoshift`) of the active virtual environment
//! or of the first `python3` on PATH; without one, Python migrations fail with
//! the reason and the migrations before them apply.

use std::path::PathBuf;
use std::process::Command as StdCommand;
use std::sync::OnceLock;

use bson::doc;
use predicates::prelude::*;

use crate::util::TestDb;
use crate::wat::counter;

/// The test virtual environment with the package built into it
/// (`scripts/python-env`, cached after the first call).
pub fn venv() -> &'static PathBuf {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let out = StdCommand::new(root.join("scripts/python-env"))
            .current_dir(&root)
            .output()
            .expect("run scripts/python-env");
        assert!(
            out.status.success(),
            "scripts/python-env failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8(out.stdout).expect("utf-8").trim())
    })
}

const PY: &str = r#""""multiply n by 10, after the wasm and update migrations ran"""
from mongoshift import Migration, iterative_migration


class Times10(Migration):
    collection = "users"

    @iterative_migration(batch_size=16)
    def forward(self, batch):
        for d in batch:
            if d.get("flag") != 1 or d["n"] != 1:
                raise RuntimeError(f"earlier migrations did not run first: {d}")
            d["n"] = d["n"] * 10
        return batch
"#;

/// n += 1 (wasm; it changes the last field, `n`), then flag = 1 (update), then n *= 10 (python).
fn mixed(t: &TestDb) {
    t.seed_users(40);
    t.write(
        "20260102000000_flag.toml",
        "kind = \"update\"\ncollection = \"users\"\n[[forward]]\nop = \"update_many\"\nfilter = {}\nupdate = { \"$set\" = { flag = 1 } }\n",
    );
    t.write("20260101000000_count/guest.wat", &counter(true, None));
    t.write(
        "20260101000000_count/migration.toml",
        "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nbatch_size = 8\n",
    );
    t.write("20260103000000_times10.py", PY);
}

#[test]
fn up_runs_update_wasm_and_python_in_order_in_one_ledger() {
    let t = TestDb::new("py_mixed");
    mixed(&t);
    t.cmd()
        .env("VIRTUAL_ENV", venv())
        .arg("up")
        .assert()
        .success()
        .stdout(predicate::str::contains("20260103000000_times10"));
    assert_eq!(t.count("users", doc! { "flag": 1, "n": 10 }), 40);
    let out = t
        .cmd()
        .args(["status", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let rows: serde_json::Value = serde_json::from_slice(&out).expect("json");
    let rows: Vec<(String, String, String)> = rows
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap_or_default().to_string(),
                r["kind"].as_str().unwrap_or_default().to_string(),
                r["status"]["recorded"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("20260101000000_count", "wasm", "applied"),
            ("20260102000000_flag", "update", "applied"),
            ("20260103000000_times10", "python", "applied"),
        ]
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    );
    // `down` goes through Python too: no backward, so the pre-images come back.
    t.cmd()
        .env("VIRTUAL_ENV", venv())
        .args(["down", "--steps", "1"])
        .assert()
        .success();
    assert_eq!(t.count("users", doc! { "flag": 1, "n": 1 }), 40);
}

/// A Python migration writes in place only: asked for a rewrite, the run
/// is refused before anything is written, naming the migration and the way on.
#[test]
fn strategy_rewrite_with_a_python_migration_is_refused_before_anything_runs() {
    let t = TestDb::new("py_strategy");
    mixed(&t);
    let before = t.raw_users();
    for cmd in ["plan", "up"] {
        t.cmd()
            .env("VIRTUAL_ENV", venv())
            .args([cmd, "--strategy", "rewrite"])
            .assert()
            .failure()
            .stderr(predicate::str::contains(
                "20260103000000_times10 is a Python migration, which writes in place; \
                 --strategy rewrite applies to Wasm migrations. Nothing was run: run without \
                 --strategy, or stop before it with --to 20260102000000_flag",
            ));
    }
    assert!(t.raw_users() == before, "no document changed");
    assert!(t.ledger().is_empty(), "nothing recorded");
    // Stopping before it, the Wasm migration gets its rewrite.
    t.cmd()
        .env("VIRTUAL_ENV", venv())
        .args(["up", "--strategy", "rewrite", "--to", "20260102000000_flag"])
        .assert()
        .success();
    assert_eq!(t.count("users", doc! { "flag": 1 }), 40);
    assert_eq!(t.ledger().len(), 2);
}

#[test]
fn without_python_the_python_migration_fails_clearly_and_earlier_ones_apply() {
    let t = TestDb::new("py_missing");
    mixed(&t);
    let empty = tempfile::tempdir().expect("tempdir");
    t.cmd()
        .env_remove("VIRTUAL_ENV")
        .env("PATH", empty.path())
        .arg("up")
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "python migration 20260103000000_times10: no Python runtime (no VIRTUAL_ENV and no python3 on PATH)",
        ))
        .stderr(predicate::str::contains("scripts/python-env"));
    assert_eq!(t.count("users", doc! { "flag": 1, "n": 1 }), 40);
    t.cmd()
        .env("PATH", empty.path())
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains("20260103000000_times10"))
        .stdout(predicate::str::contains("failed"));
}

#[test]
fn a_python_without_the_package_is_named() {
    let t = TestDb::new("py_nopkg");
    mixed(&t);
    let bare = tempfile::tempdir().expect("tempdir");
    let status = StdCommand::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(bare.path())
        .status()
        .expect("python3 -m venv");
    assert!(status.success());
    t.cmd()
        .env("VIRTUAL_ENV", bare.path())
        .arg("up")
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!(
            "no Python runtime ({} cannot import the mongoshift package)",
            bare.path().join("bin/python").display()
        )));
}

#[test]
fn a_dry_run_samples_the_python_transform_without_writing() {
    let t = TestDb::new("py_dry_run");
    t.seed_users(40);
    let original = t.raw_users();
    t.write(
        "20260101000000_tag.py",
        r#""""tag every user (not user 3), and mark the collection"""
from mongoshift import Migration, bulk_migration, iterative_migration


class Tag(Migration):
    collection = "users"

    @iterative_migration(batch_size=4)
    def forward(self, batch):
        for d in batch:
            if d["_id"] == 3:
                raise ValueError("user 3 cannot be tagged")
            d["tag"] = "x"
        return batch


class Mark(Migration):
    @bulk_migration
    async def forward(self):
        await self.db["marks"].insert_one({"_id": "tagged"})
"#,
    );
    let out = t
        .cmd()
        .env("VIRTUAL_ENV", venv())
        .args(["up", "--dry-run", "--sample", "10"])
        .assert()
        .success()
        .get_output()
        .clone();
    let (stdout, stderr) = crate::util::text(&out);
    assert!(
        stdout.contains("10 of 40 documents transformed: keep 0, replace 9, delete 0, fail 1"),
        "{stdout}{stderr}"
    );
    assert!(
        stdout.contains("-> replace")
            && stdout.contains(r#""tag":"x""#)
            && stdout.contains("_id 3 -> fail")
            && stdout.contains("ValueError: user 3 cannot be tagged")
            && stdout.contains("1 bulk step(s) not run: they write to the database themselves"),
        "{stdout}"
    );
    assert!(t.raw_users() == original, "nothing written");
    assert_eq!(t.count("marks", doc! {}), 0, "the bulk step did not run");
    assert!(t.ledger().is_empty());
}
