//! Python migrations from the Rust CLI: the binary hands the command to the
//! Python package (`python -m mongoshift`) of the active virtual environment
//! or of the first `python3` on PATH; without one, Python migrations fail with
//! the reason and the migrations before them apply.

use std::path::PathBuf;
use std::process::Command as StdCommand;
use std::sync::OnceLock;

use bson::doc;
use predicates::prelude::*;

use crate::util::{block_on, text, TestDb};
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

/// An example Python migration of `python/tests/cross` (pytest runs them
/// through the package's API; these run them through the CLI).
fn cross_example(file: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../python/tests/cross")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// 60 users with an org (org 4 does not exist) and 0 to 3 addresses, last.
fn seed_cross(t: &TestDb) {
    let users = (0..60).map(|i: i32| {
        let addresses: Vec<bson::Document> = (0..i % 4)
            .map(|j| doc! { "street": format!("{i} Main St"), "n": j })
            .collect();
        doc! { "_id": i, "name": format!("user {i}"), "org_id": i % 5, "addresses": addresses }
    });
    block_on(
        t.db()
            .collection::<bson::Document>("users")
            .insert_many(users),
    )
    .expect("seed users");
    let orgs = (0..4).map(|i| doc! { "_id": i, "name": format!("Org {i}"), "size": i * 10 });
    block_on(
        t.db()
            .collection::<bson::Document>("orgs")
            .insert_many(orgs),
    )
    .expect("seed orgs");
}

#[test]
fn python_move_addresses_and_denormalize_org_name_up_then_down_leave_every_collection_as_it_was() {
    let t = TestDb::new("py_cross");
    seed_cross(&t);
    let (users, orgs) = (t.raw_users(), t.find("orgs", doc! {}));
    t.write(
        "20260301000000_move_addresses.py",
        &cross_example("20260301000000_move_addresses.py"),
    );
    t.write(
        "20260302000000_denormalize_org_name.py",
        &cross_example("20260302000000_denormalize_org_name.py"),
    );
    let out = t
        .cmd()
        .env("VIRTUAL_ENV", venv())
        .arg("plan")
        .assert()
        .success();
    let (plan, _) = text(out.get_output());
    assert!(
        plan.contains(
            "; outputs to addresses; looks up `moved` in addresses (user_id = _id, at most 1000)"
        ) && plan.contains("; looks up `org` in orgs (_id = org_id, at most 1)"),
        "{plan}"
    );
    t.cmd()
        .env("VIRTUAL_ENV", venv())
        .arg("up")
        .assert()
        .success();
    let moved: i32 = (0..60).map(|i| i % 4).sum();
    assert_eq!(t.count("addresses", doc! {}), moved as u64);
    assert_eq!(
        t.find("addresses", doc! { "_id": "7:2" }),
        [doc! { "_id": "7:2", "user_id": 7, "i": 2, "street": "7 Main St", "n": 2 }]
    );
    assert_eq!(
        t.count("users", doc! { "addresses": { "$exists": true } }),
        15,
        "users without addresses keep their empty list"
    );
    assert_eq!(
        t.count("users", doc! { "org_id": 2, "org_name": "Org 2" }),
        12
    );
    assert_eq!(
        t.count("users", doc! { "org_name": { "$exists": false } }),
        12
    );
    t.cmd()
        .env("VIRTUAL_ENV", venv())
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("{moved} to addresses")));
    // Backward gathers the addresses back (a lookup) and deletes them
    // (outputs); the denormalization, without backward, restores its pre-images.
    t.cmd()
        .env("VIRTUAL_ENV", venv())
        .args(["down", "--steps", "2"])
        .assert()
        .success();
    assert!(t.raw_users() == users, "users byte for byte as before");
    assert_eq!(t.count("addresses", doc! {}), 0);
    assert_eq!(t.find("orgs", doc! {}), orgs);
}

#[test]
fn a_python_output_to_an_undeclared_collection_is_refused_with_nothing_written() {
    let t = TestDb::new("py_cross_undeclared");
    t.seed_users(20);
    let users = t.raw_users();
    t.write(
        "20260301000000_copy.py",
        &cross_example("copy_to_undeclared.py"),
    );
    let out = t
        .cmd()
        .env("VIRTUAL_ENV", venv())
        .arg("up")
        .output()
        .expect("run");
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains(
            "migration 20260301000000_copy: document _id 0: an output (upsert) to `copies`, which is not among the manifest's outputs ([elsewhere])"
        ),
        "{stderr}"
    );
    assert_eq!(t.count("copies", doc! {}), 0);
    assert!(t.raw_users() == users);
    assert_eq!(t.ledger()[0].get_str("state"), Ok("failed"));
}

#[test]
fn a_bad_python_declaration_is_named_with_its_file_and_field() {
    let t = TestDb::new("py_cross_bad");
    t.seed_users(3);
    t.write(
        "20260301000000_bad.py",
        r#"from mongoshift import Lookup, Migration, document_migration


class Bad(Migration):
    collection = "users"
    lookups = [Lookup(from_="orgs", local_field="org_id", foreign_field="_id", as_="org", limit=0)]

    @document_migration()
    def forward(self, user):
        return user
"#,
    );
    t.cmd()
        .env("VIRTUAL_ENV", venv())
        .arg("up")
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "python migration 20260301000000_bad: migrations/20260301000000_bad.py: \
             Bad.lookups[0]: `limit` must be at least 1, not 0",
        ));
    assert_eq!(t.count("users", doc! { "org": { "$exists": true } }), 0);
}

/// Replacements a Python transform can hand back as raw BSON
/// (`bson.raw_bson.RawBSONDocument`, which `bson.encode` passes through as
/// it is), and an `_id` of another type from a plain dict: each is refused
/// naming the migration and the document, and nothing is written.
const PY_BAD: &str = r#""""a replacement the server would misread, for _id 150"""
import bson
from bson.int64 import Int64
from bson.raw_bson import RawBSONDocument
from mongoshift import Migration, iterative_migration

KIND = "{kind}"


def appended(doc, key, value):
    body = bson.encode(doc)[4:-1] + bson.encode({key: value})[4:-1]
    return RawBSONDocument((len(body) + 5).to_bytes(4, "little") + body + b"\0")


class Bad(Migration):
    collection = "users"

    @iterative_migration(batch_size=500)
    def forward(self, batch):
        out = []
        for d in batch:
            d["n"] += 1
            if d["_id"] == 150:
                if KIND == "id_twice":
                    d = appended(d, "_id", 151)
                elif KIND == "key_twice":
                    d = appended(d, "name", "Other")
                else:
                    d["_id"] = Int64(150)
            out.append(d)
        return out
"#;

#[test]
fn python_replacements_with_a_key_twice_or_another_id_are_refused_naming_the_document() {
    for (kind, expected) in [
        ("id_twice", "the replacement has the key `_id` twice"),
        ("key_twice", "the key `name` twice"),
        ("id_type", "changes _id from 150 (int) to 150 (long)"),
    ] {
        let t = TestDb::new(&format!("py_bad_{kind}"));
        t.seed_users(300);
        let before = t.raw_users();
        let id = "20260104000000_bad";
        t.write(&format!("{id}.py"), &PY_BAD.replace("{kind}", kind));
        let out = t
            .cmd()
            .env("VIRTUAL_ENV", venv())
            .arg("up")
            .output()
            .expect("run");
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{kind}: {stdout}{stderr}");
        for part in [id, "document _id 150", expected] {
            assert!(stderr.contains(part), "{kind}: {part:?} in {stderr}");
        }
        assert!(t.raw_users() == before, "{kind}: no document changed");
        assert_eq!(t.count("users", doc! { "_id": 151 }), 1, "{kind}");
        assert_eq!(t.ledger()[0].get_str("state"), Ok("failed"), "{kind}");
    }
}
