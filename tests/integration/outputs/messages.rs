//! What a transform says (a `fail` reason, a trap, a Python exception) is cut
//! to about 4 KiB with a note of how much was cut, and its control characters
//! are escaped wherever it is shown or stored: the terminal, JSON progress,
//! the ledger, the quarantine collection. A failure the ledger cannot record
//! is said, not swallowed.

use std::io::BufRead;
use std::process::Stdio;

use bson::doc;

use super::{answering, migration, refused, MIGRATION};
use crate::util::{block_on, text, TestDb};
use crate::wat::{counter, for_each, guest, ID};

/// The most a cut message (4 KiB) and its context can take, with room to spare.
const BOUNDED: usize = 16 * 1024;

/// A guest that fails the document with `_id` 2500 with 50 MB of `A`.
fn fifty_megabyte_failure() -> String {
    let body = format!(
        r#"(if (i32.lt_u (memory.size) (i32.const 1830))
      (then (drop (memory.grow (i32.sub (i32.const 1830) (memory.size))))))
    (memory.fill (i32.const 67108864) (i32.const 65) (i32.const 52428800))
    {}"#,
        for_each(&format!(
            "(if (i32.eq {ID} (i32.const 2500)) (then (call $emit (i32.const 3) (i32.const 67108864) (i32.const 52428800))) (else (call $emit_tag (i32.const 0))))"
        ))
    );
    guest(1, true, "", &body)
}

#[test]
fn a_huge_fail_message_is_cut_wherever_it_goes() {
    let t = TestDb::new("huge_fail");
    t.seed_users(3_000);
    migration(&t, &fifty_megabyte_failure(), "");
    let stderr = refused(&t, &[], &["document _id 2500", "more bytes cut"]);
    assert!(stderr.len() < BOUNDED, "{} bytes of stderr", stderr.len());
    // The ledger records the failure (an error over 16 MiB could not be written).
    let ledger = t.ledger();
    assert_eq!(ledger[0].get_str("state"), Ok("failed"), "{ledger:?}");
    let error = ledger[0].get_str("error").expect("an error");
    assert!(
        error.contains("more bytes cut") && error.len() < BOUNDED,
        "{}",
        error.len()
    );

    let out = t
        .cmd()
        .args(["up", "--dry-run"])
        .assert()
        .success()
        .get_output()
        .clone();
    let (stdout, stderr) = text(&out);
    assert!(stdout.contains("more bytes cut"), "{stdout}");
    assert!(
        stdout.len() + stderr.len() < BOUNDED,
        "{} bytes",
        stdout.len()
    );

    // Quarantined with its message cut: the entry fits in a document.
    t.cmd()
        .args(["up", "--on-error", "quarantine"])
        .assert()
        .success();
    let q = t.find("mongoshift_quarantine", doc! { "migration": MIGRATION });
    assert_eq!(q.len(), 1);
    let error = q[0].get_str("error").expect("error");
    assert!(
        error.len() <= 4096 && error.starts_with("AAAA"),
        "{}",
        error.len()
    );
    assert!(error.ends_with("more bytes cut]"), "{error}");
    assert_eq!(t.ledger()[0].get_str("state"), Ok("applied_with_errors"));
}

/// Erases the screen, turns text red, returns the cursor, holds a NUL and a
/// C1 control, then starts a line of its own that looks like success.
const HOSTILE: &[u8] = b"\x1b[2J\x1b[31mred\r\x00\xc2\x9b\nup 20260301000000_outputs: done, 3000 modified of 3000 matched in 1.0s\n";

fn assert_escaped(what: &str, s: &str) {
    assert!(
        !s.chars().any(|c| c.is_control() && c != '\n'),
        "{what}: {s:?}"
    );
    assert!(
        s.contains("\\x1b[2J\\x1b[31mred\\r\\0\\u{9b} | up 20260301000000_outputs: done"),
        "{what}: {s:?}"
    );
}

#[test]
fn guest_messages_are_escaped_wherever_they_are_shown_or_stored() {
    let t = TestDb::new("hostile_fail");
    t.seed_users(2_000);
    migration(&t, &answering(500, 3, HOSTILE), "");
    let stderr = refused(&t, &[], &["document _id 500"]);
    assert_escaped("terminal", &stderr);
    assert!(
        !stderr
            .lines()
            .any(|l| l.starts_with(&format!("up {MIGRATION}: done"))),
        "no forged line: {stderr}"
    );
    assert_escaped("ledger", t.ledger()[0].get_str("error").expect("error"));

    let out = t
        .cmd()
        .env("MONGOSHIFT_PROGRESS", "json")
        .arg("up")
        .assert()
        .code(1)
        .get_output()
        .clone();
    let (stdout, _) = text(&out);
    let failed = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "migration_failed")
        .expect("a migration_failed event");
    assert_escaped("json", failed["error"].as_str().expect("error"));

    t.cmd()
        .args(["up", "--on-error", "quarantine"])
        .assert()
        .success();
    let q = t.find("mongoshift_quarantine", doc! { "migration": MIGRATION });
    assert_escaped("quarantine", q[0].get_str("error").expect("error"));
}

#[test]
fn a_trap_message_is_cut_and_escaped() {
    // The backtrace names the guest's functions, and the guest names them.
    let name = format!("\\1b[31m{}", "x".repeat(20_000));
    let wat = guest(
        1,
        false,
        "",
        &for_each(&format!(
            "(if (i32.eq {ID} (i32.const 500)) (then (call $\"{name}\"))) (call $emit_tag (i32.const 0))"
        )),
    )
    .replacen(
        "(func (export \"mongoshift_contract_version\")",
        &format!("(func $\"{name}\" (unreachable))\n  (func (export \"mongoshift_contract_version\")"),
        1,
    );
    let t = TestDb::new("hostile_trap");
    t.seed_users(1_000);
    migration(&t, &wat, "");
    let stderr = refused(
        &t,
        &[],
        &["document _id 500", "the transform trapped", "\\x1b[31mxxx"],
    );
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
    assert!(stderr.len() < BOUNDED, "{} bytes", stderr.len());
}

#[test]
fn a_python_exception_is_cut_and_escaped() {
    let t = TestDb::new("py_hostile");
    t.seed_users(10);
    t.write(
        "20260301000000_loud.py",
        r#"from mongoshift import Migration, document_migration


class Loud(Migration):
    collection = "users"

    @document_migration(batch_size=4)
    def forward(self, doc):
        if doc["_id"] == 3:
            raise ValueError("\x1b[31m" + "y" * 5_000_000)
        return doc
"#,
    );
    let out = t
        .cmd()
        .env("VIRTUAL_ENV", crate::python::venv())
        .arg("up")
        .assert()
        .code(1)
        .get_output()
        .clone();
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("document _id 3") && stderr.contains("\\x1b[31myyy"),
        "{stderr:.2000}"
    );
    assert!(
        stderr.contains("more bytes cut") && !stderr.contains('\x1b'),
        "{stderr:.2000}"
    );
    assert!(stderr.len() < BOUNDED, "{} bytes", stderr.len());
    let ledger = t.ledger();
    assert_eq!(ledger[0].get_str("state"), Ok("failed"));
    assert!(ledger[0].get_str("error").is_ok_and(|e| e.len() < BOUNDED));
}

#[test]
fn a_failure_the_ledger_cannot_record_is_reported() {
    // n += 1, slowly, so the run is still going when another run takes the
    // ledger entry over (a newer fencing token): this run can neither commit
    // its next batch nor record its failure, and says both.
    let slow = "(local.set $i (i32.const 50000000)) (loop $slow (local.set $i (i32.sub (local.get $i) (i32.const 1))) (br_if $slow (local.get $i)))";
    let wat = counter(false, None).replacen(
        "(local.set $n (call $count",
        &format!("{slow} (local.set $n (call $count"),
        1,
    );
    assert_ne!(wat, counter(false, None));
    let t = TestDb::new("unrecorded");
    t.seed_users(3_000);
    migration(&t, &wat, "batch_size = 300\n");
    let mut child = t
        .std_cmd()
        .env("MONGOSHIFT_PROGRESS", "json")
        .arg("up")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        if line.expect("line").contains("\"event\":\"documents\"") {
            break;
        }
    }
    block_on(
        t.db()
            .collection::<bson::Document>(mongoshift::LEDGER_COLLECTION)
            .update_one(doc! { "_id": MIGRATION }, doc! { "$inc": { "fence": 1 } }),
    )
    .expect("take the entry over");
    for _ in lines {}
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("this run lost the migration lock"),
        "{stderr}"
    );
    assert!(
        stderr.contains("this failure could not be recorded in the ledger"),
        "{stderr}"
    );
    assert_eq!(t.ledger()[0].get_str("state"), Ok("running"));
}
