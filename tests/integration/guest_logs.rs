//! Guest logs: what a transform logs (its language's `log` helper, stdout,
//! stderr, a panic or abort message, a Python transform's `logging` records)
//! shows with its batch's failure, in a quarantined document's entry and as
//! progress events; a guest that logs without end is bounded.

use std::path::{Path, PathBuf};

use bson::{doc, Document};
use predicates::prelude::*;

use crate::util::{bin, text, TestDb};
use crate::wat::{for_each, guest, ID};

const MIG: &str = "20260401000000_logs";

/// The logging guest of each language (`guest_logs/<lang>/`): it logs
/// "checking" (warn) for every document; one with a `boom` field traps after
/// logging "boom in document"; one with a `bad` field logs "bad field"
/// (error) and fails "bad document".
fn fixture(lang: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/integration/guest_logs")
        .join(lang)
}

/// Copies the files under `from` into `to`; a Rust guest's `Cargo.toml.in`
/// becomes its `Cargo.toml` with the SDK's path, and gets the example
/// guests' lock file, so it builds with the dependencies they already built.
fn copy_guest(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture").flatten() {
        let (path, name) = (entry.path(), entry.file_name());
        if path.is_dir() {
            copy_guest(&path, &to.join(&name));
        } else if name == "Cargo.toml.in" {
            let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk");
            let text = std::fs::read_to_string(&path).expect("read");
            let text = text.replace("@GUEST_SDK@", &sdk.display().to_string());
            std::fs::write(to.join("Cargo.toml"), text).expect("write");
            std::fs::copy(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/Cargo.lock"),
                to.join("Cargo.lock"),
            )
            .expect("copy the lock file");
        } else {
            std::fs::copy(&path, to.join(&name)).expect("copy");
        }
    }
}

/// Writes the language's logging guest as migration [`MIG`] and builds it
/// with `mongoshift build`.
fn build(t: &TestDb, lang: &str) {
    copy_guest(&fixture(lang), &t.migrations().join(MIG));
    t.write(
        &format!("{MIG}/migration.toml"),
        "description = \"logs\"\nkind = \"wasm\"\ncollection = \"users\"\nmodule = \"logs.wasm\"\nbuild = \".\"\nbatch_size = 10\nthreads = 1\n",
    );
    let out = std::process::Command::new(bin())
        .arg("build")
        .arg(t.migrations().join(MIG))
        .output()
        .expect("run mongoshift build");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{lang}: {stdout}{stderr}");
}

fn seed(t: &TestDb, docs: Vec<Document>) {
    crate::util::block_on(t.db().collection::<Document>("users").insert_many(docs)).expect("seed");
}

/// The JSON progress events of `stdout` with this `event` field.
fn events(stdout: &str, kind: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == kind)
        .collect()
}

/// Whether the language's guest prints a line to stdout too.
fn prints(lang: &str) -> bool {
    !matches!(lang, "c" | "assemblyscript")
}

/// The whole story for one language: a trap's error shows the guest's last
/// lines, a failed document's error its own, and with quarantine its entry
/// keeps them; `--progress json` carries every line with its document.
fn logs_show_everywhere(lang: &str) {
    let t = TestDb::new(&format!("logs_{lang}"));
    build(&t, lang);
    seed(
        &t,
        vec![
            doc! { "_id": 1 },
            doc! { "_id": 2, "bad": true },
            doc! { "_id": 3 },
            doc! { "_id": 4, "boom": true },
        ],
    );

    let out = t.cmd().arg("up").assert().code(1).get_output().clone();
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains(&format!(
            "while applying migration {MIG}: batch 1 (documents _id 1 to 4), document _id 4: "
        )),
        "{lang}: {stderr}"
    );
    assert!(
        stderr.contains("the transform's last log lines: ") && stderr.contains("boom in document"),
        "{lang}: {stderr}"
    );
    if lang == "rust" {
        assert!(
            stderr.contains("[error] panicked at src/lib.rs:8:9: boom in document"),
            "{lang}: {stderr}"
        );
    }

    crate::util::block_on(
        t.db()
            .collection::<Document>("users")
            .update_one(doc! { "_id": 4 }, doc! { "$unset": { "boom": 1 } }),
    )
    .expect("defuse");
    // C and AssemblyScript guests print nothing; the others print a line
    // after "checking".
    let printed = if prints(lang) {
        " | [info] printed line"
    } else {
        ""
    };
    t.cmd()
        .arg("up")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "document _id 2 in batch 1 failed: bad document; the transform's log lines for it: [warn] checking{printed} | [error] bad field",
        )));

    let out = t
        .cmd()
        .args(["up", "--on-error", "quarantine", "--progress", "json"])
        .assert()
        .success()
        .get_output()
        .clone();
    let (stdout, _) = text(&out);
    let q = t.find("mongoshift_quarantine", doc! { "migration": MIG });
    assert_eq!(q.len(), 1, "{lang}: {q:?}");
    let logs = q[0].get_array("logs").expect("logs");
    let logs: Vec<(&str, &str)> = logs
        .iter()
        .map(|l| {
            let l = l.as_document().expect("a line");
            (
                l.get_str("level").expect("level"),
                l.get_str("message").expect("message"),
            )
        })
        .filter(|(_, m)| *m != "printed line")
        .collect();
    assert_eq!(
        logs,
        [("warn", "checking"), ("error", "bad field")],
        "{lang}"
    );
    let lines = events(&stdout, "guest_log");
    let bad = lines
        .iter()
        .find(|e| e["message"] == "bad field")
        .unwrap_or_else(|| panic!("{lang}: {stdout}"));
    assert_eq!(bad["document"], "2", "{lang}");
    assert_eq!(bad["level"], "error", "{lang}");
    assert_eq!(bad["id"], MIG, "{lang}");
    assert_eq!(
        lines.iter().filter(|e| e["message"] == "checking").count(),
        4,
        "{lang}: one per document"
    );
    if prints(lang) {
        assert!(
            lines
                .iter()
                .any(|e| e["message"] == "printed line" && e["level"] == "info"),
            "{lang}: stdout is captured: {stdout}"
        );
    }
}

#[test]
fn rust_guest_logs_and_its_panic_show_in_failures_quarantine_and_progress() {
    logs_show_everywhere("rust");
}

#[test]
fn c_guest_logs_show_in_failures_quarantine_and_progress() {
    logs_show_everywhere("c");
}

#[test]
fn assemblyscript_guest_logs_and_abort_show_in_failures_quarantine_and_progress() {
    logs_show_everywhere("assemblyscript");
}

#[test]
fn js_guest_logs_and_exception_show_in_failures_quarantine_and_progress() {
    logs_show_everywhere("js");
}

#[test]
fn python_guest_logs_and_exception_show_in_failures_quarantine_and_progress() {
    logs_show_everywhere("python");
}

/// A WAT guest importing `env.log`: for each document, `repeat` lines of
/// "again" (after marking the document), then `keep`; it traps on `_id`
/// `trap_on` after logging "about to trap".
fn wat_logger(repeat: i32, trap_on: i32) -> String {
    let body = for_each(&format!(
        r#"(call $log (i32.const -1) (local.get $i) (i32.const 0))
        (local.set $k (i32.const 0))
        (block $enough (loop $more
          (br_if $enough (i32.ge_u (local.get $k) (i32.const {repeat})))
          (call $log (i32.const 1) (i32.const 12288) (i32.const 5))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br $more)))
        (if (i32.eq {ID} (i32.const {trap_on}))
          (then (call $log (i32.const 4) (i32.const 12320) (i32.const 13)) (unreachable)))
        (call $emit_tag (i32.const 0))"#
    ));
    let imports = r#"(import "env" "log" (func $log (param i32 i32 i32)))
  (data (i32.const 12288) "again")
  (data (i32.const 12320) "about to trap")"#;
    guest(1, false, imports, &body).replace(
        "(local $i i32) (local $n i32) (local $doc i32)",
        "(local $i i32) (local $n i32) (local $doc i32) (local $k i32)",
    )
}

fn wat_migration(t: &TestDb, wat: &str, batch_size: u32) {
    t.write(&format!("{MIG}/guest.wat"), wat);
    t.write(
        &format!("{MIG}/migration.toml"),
        &format!("description = \"wat logs\"\nkind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nbatch_size = {batch_size}\nthreads = 1\n"),
    );
}

#[test]
fn a_guest_that_logs_without_end_is_bounded_and_the_dropped_lines_counted() {
    let t = TestDb::new("logs_flood");
    t.seed_users(300);
    // 2 000 lines per document, 600 000 in all: each batch keeps 200 of
    // its 200 000 (more would only measure how fast a debug build logs,
    // against the batch's deadline).
    wat_migration(&t, &wat_logger(2_000, -1), 100);
    let out = t
        .cmd()
        .args(["up", "--progress", "json"])
        .assert()
        .success()
        .get_output()
        .clone();
    let (stdout, _) = text(&out);
    let lines = events(&stdout, "guest_log").len() as u64;
    let dropped = events(&stdout, "guest_log_dropped");
    let batches = events(&stdout, "documents").len() as u64;
    assert_eq!(dropped.len() as u64, batches, "every batch dropped lines");
    assert!(
        lines <= 200 * batches,
        "at most 200 lines per batch: {lines}"
    );
    let counted: u64 = dropped
        .iter()
        .map(|d| d["dropped"].as_u64().expect("a count"))
        .sum();
    assert_eq!(lines + counted, 300 * 2_000, "every line kept or counted");
    assert_eq!(t.ledger()[0].get_str("state"), Ok("applied"));

    // Shown under -v in plain progress, not without it.
    let t2 = TestDb::new("logs_flood_v");
    t2.seed_users(10);
    wat_migration(&t2, &wat_logger(1_000, -1), 100);
    let (_, quiet) = text(&t2.cmd().arg("up").assert().success().get_output().clone());
    assert!(!quiet.contains("again"), "{quiet}");
    let t3 = TestDb::new("logs_flood_v3");
    t3.seed_users(10);
    wat_migration(&t3, &wat_logger(1_000, -1), 100);
    let (_, loud) = text(
        &t3.cmd()
            .args(["up", "-v"])
            .assert()
            .success()
            .get_output()
            .clone(),
    );
    assert!(
        loud.contains(&format!("  {MIG} [batch 1, _id 0] info: again")),
        "{loud}"
    );
    assert!(
        loud.contains(&format!(
            "  {MIG} [batch 1] … 9800 more lines dropped (a batch keeps at most 200 lines, 64 KiB)"
        )),
        "{loud}"
    );
}

#[test]
fn a_trap_shows_the_last_lines_the_wat_guest_logged() {
    let t = TestDb::new("logs_trap");
    t.seed_users(30);
    wat_migration(&t, &wat_logger(1, 25), 10);
    t.cmd()
        .arg("up")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "while applying migration {MIG}: batch 3 (documents _id 20 to 29), document _id 25: the transform trapped"
        )))
        .stderr(predicate::str::contains(
            "; the transform's last log lines: [info] again | [info] again | [info] again | [info] again | [error] about to trap",
        ));
}

const PY_LOGS: &str = r#""""log each user; user 2 is bad, user 4 breaks the batch"""
import logging

from mongoshift import Migration, document_migration

log = logging.getLogger("tidy")


class Tidy(Migration):
    collection = "users"

    @document_migration(batch_size=10)
    def forward(self, doc):
        log.warning("checking %s", doc["_id"])
        if doc.get("bad"):
            log.error("bad field")
            raise ValueError("bad document")
        doc["tidy"] = True
        return doc
"#;

#[test]
fn a_python_transforms_logging_records_show_in_failures_quarantine_and_progress() {
    let venv = crate::python::venv();
    let t = TestDb::new("logs_python");
    seed(
        &t,
        vec![
            doc! { "_id": 1 },
            doc! { "_id": 2, "bad": true },
            doc! { "_id": 3 },
        ],
    );
    t.write("20260101000000_tidy.py", PY_LOGS);
    let (_, stderr) = text(
        &t.cmd()
            .env("VIRTUAL_ENV", venv)
            .arg("up")
            .assert()
            .code(1)
            .get_output()
            .clone(),
    );
    assert!(
        stderr.contains("document _id 2 in batch 1 failed: ")
            && stderr.contains(
                "; the transform's log lines for it: [warn] tidy: checking 2 | [error] tidy: bad field"
            ),
        "{stderr}"
    );
    let out = t
        .cmd()
        .env("VIRTUAL_ENV", venv)
        .args(["up", "--on-error", "quarantine", "--progress", "json"])
        .assert()
        .success()
        .get_output()
        .clone();
    let (stdout, _) = text(&out);
    let q = t.find(
        "mongoshift_quarantine",
        doc! { "migration": "20260101000000_tidy" },
    );
    assert_eq!(q.len(), 1);
    assert_eq!(
        q[0].get_array("logs").expect("logs"),
        &vec![
            bson::Bson::Document(doc! { "level": "warn", "message": "tidy: checking 2" }),
            bson::Bson::Document(doc! { "level": "error", "message": "tidy: bad field" }),
        ]
    );
    let lines = events(&stdout, "guest_log");
    let checked: Vec<(&str, &str)> = lines
        .iter()
        .map(|e| {
            (
                e["document"].as_str().unwrap_or("?"),
                e["message"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(
        checked,
        [
            ("1", "tidy: checking 1"),
            ("2", "tidy: checking 2"),
            ("2", "tidy: bad field"),
            ("3", "tidy: checking 3"),
        ],
        "{stdout}"
    );
}
