//! The Wasm engine through the CLI: a core-module guest applies, and every kind
//! of bad guest fails with a clear message and writes nothing of its batch.

use bson::doc;
use predicates::prelude::*;

use crate::util::{text, TestDb};
use crate::wat::{counter, for_each, guest, keep_all, ID};

/// Writes a wasm migration whose module is `wat` (a `.wat` file: the host
/// accepts WAT text for tests and small examples).
fn wasm_migration(t: &TestDb, id: &str, wat: &str, extra: &str) {
    t.write(&format!("{id}/guest.wat"), wat);
    t.write(
        &format!("{id}/migration.toml"),
        &format!("description = \"wat guest\"\nkind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nbatch_size = 1000\nstrategy = \"in-place\"\n{extra}"),
    );
}

const ID1: &str = "20260201000000_guest";

#[test]
fn a_core_module_guest_replaces_every_document_in_batches() {
    let t = TestDb::new("wasm_echo");
    t.seed_users(5_500);
    let before = t.find("users", doc! {});
    wasm_migration(&t, ID1, &counter(true, None), "threads = 2\n");
    let out = t.cmd().arg("up").assert().success().get_output().clone();
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains(&format!(
            "{ID1}: 5500/5500 docs, replaced 5500 deleted 0 failed 0"
        )),
        "{stderr}"
    );
    assert_eq!(
        t.count("users", doc! { "n": 1 }),
        5500,
        "n += 1 in every one"
    );
    let ledger = t.ledger();
    assert_eq!(ledger[0].get_str("state"), Ok("applied"));
    assert_eq!(ledger[0].get_i64("matched"), Ok(5500));
    assert_eq!(ledger[0].get_i64("modified"), Ok(5500));
    // status shows it, and down runs the backward direction (n -= 1).
    t.cmd()
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains("wasm"));
    t.cmd().arg("down").assert().success();
    assert_eq!(t.find("users", doc! {}), before);
}

#[test]
fn plan_counts_the_documents_a_wasm_migration_reads() {
    let t = TestDb::new("wasm_plan");
    t.seed_users(300);
    wasm_migration(
        &t,
        ID1,
        &keep_all(),
        "filter = { age = { \"$lt\" = 30 } }\n",
    );
    t.cmd()
        .arg("plan")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "wasm transform guest.wat (forward) on users",
        ))
        .stdout(predicate::str::contains("(60 documents match)"));
}

/// Runs `up` with a bad guest over 3,000 documents (three batches) and checks
/// the message and that no document changed.
fn refused(name: &str, wat: &str, extra: &str, expected: &[&str]) -> TestDb {
    let t = TestDb::new(name);
    t.seed_users(3_000);
    let before = t.find("users", doc! {});
    wasm_migration(&t, ID1, wat, extra);
    let out = t.cmd().arg("up").assert().code(1).get_output().clone();
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains(&format!("migration {ID1}")),
        "names the migration: {stderr}"
    );
    for e in expected {
        assert!(stderr.contains(e), "expected {e:?} in: {stderr}");
    }
    assert_eq!(t.find("users", doc! {}), before, "no document changed");
    let ledger = t.ledger();
    assert_eq!(ledger[0].get_str("state"), Ok("failed"), "{ledger:?}");
    assert!(ledger[0].get_str("error").is_ok_and(|e| !e.is_empty()));
    t
}

fn refused_at_load(name: &str, file: &str, bytes: &[u8], expected: &[&str]) {
    let t = TestDb::new(name);
    t.seed_users(10);
    let before = t.find("users", doc! {});
    t.write(&format!("{ID1}/{file}"), "");
    std::fs::write(t.migrations().join(ID1).join(file), bytes).expect("module");
    t.write(
        &format!("{ID1}/migration.toml"),
        &format!("kind = \"wasm\"\ncollection = \"users\"\nmodule = \"{file}\"\n"),
    );
    let out = t.cmd().arg("up").assert().code(1).get_output().clone();
    let (_, stderr) = text(&out);
    assert!(stderr.contains(&format!("migration {ID1}")), "{stderr}");
    for e in expected {
        assert!(stderr.contains(e), "expected {e:?} in: {stderr}");
    }
    assert_eq!(t.find("users", doc! {}), before);
}

#[test]
fn a_file_that_is_not_wasm() {
    refused_at_load(
        "wasm_not_wasm",
        "guest.wasm",
        b"#!/bin/sh\necho pwned\n",
        &["guest.wasm is not a WebAssembly module"],
    );
}

#[test]
fn a_module_without_the_transform_export() {
    let wat = keep_all().replace(
        "(export \"mongoshift_transform\")",
        "(export \"something_else\")",
    );
    refused_at_load(
        "wasm_no_export",
        "guest.wat",
        wat.as_bytes(),
        &["missing export `mongoshift_transform`"],
    );
}

#[test]
fn a_wrong_contract_version() {
    let wat = guest(3, false, "", &for_each("(call $emit_tag (i32.const 0))"));
    refused_at_load(
        "wasm_version",
        "guest.wat",
        wat.as_bytes(),
        &["implements contract version 3", "supports version 1"],
    );
}

#[test]
fn a_disallowed_import_is_refused_by_name() {
    let wat = guest(
        1,
        false,
        r#"(import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))"#,
        &for_each("(call $emit_tag (i32.const 0))"),
    );
    refused_at_load(
        "wasm_import_fs",
        "guest.wat",
        wat.as_bytes(),
        &["imports `wasi_snapshot_preview1.path_open`", "no files"],
    );
    let wat = guest(
        1,
        false,
        r#"(import "wasi_snapshot_preview1" "sock_accept" (func $a (param i32 i32 i32) (result i32)))"#,
        "(unreachable)",
    );
    refused_at_load(
        "wasm_import_net",
        "guest.wat",
        wat.as_bytes(),
        &["imports `wasi_snapshot_preview1.sock_accept`", "no network"],
    );
    let wat = guest(
        1,
        false,
        r#"(import "host" "exec" (func $x))"#,
        "(unreachable)",
    );
    refused_at_load(
        "wasm_import_other",
        "guest.wat",
        wat.as_bytes(),
        &["imports `host.exec`"],
    );
}

#[test]
fn an_infinite_loop_hits_the_deadline() {
    let body = for_each(&format!("(if (i32.eq {ID} (i32.const 1500)) (then (loop $spin (br $spin)))) (call $emit_tag (i32.const 0))"));
    refused(
        "wasm_loop",
        &guest(1, false, "", &body),
        "deadline_ms = 300\n",
        &[
            "batch 2 (documents _id 1000 to 1999), document _id 1500",
            "ran past its deadline of 300 ms",
        ],
    );
}

#[test]
fn a_memory_bomb_hits_the_memory_limit() {
    let body = "(block $full (loop $more (br_if $full (i32.eq (memory.grow (i32.const 16)) (i32.const -1))) (br $more))) (unreachable)";
    refused(
        "wasm_memory",
        &guest(1, false, "", body),
        "memory_limit_mb = 64\n",
        &["more than its memory limit of 64 MiB"],
    );
}

#[test]
fn a_trap_names_the_document_and_nothing_of_its_batch_is_written() {
    // Deletes every document, but traps on _id 2500 (batch 3).
    let body = for_each(&format!(
        "(if (i32.eq {ID} (i32.const 2500)) (then (unreachable))) (call $emit_tag (i32.const 2))"
    ));
    let t = TestDb::new("wasm_trap");
    t.seed_users(3_000);
    wasm_migration(&t, ID1, &guest(1, false, "", &body), "threads = 1\n");
    t.cmd()
        .arg("up")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!("while applying migration {ID1}: batch 3 (documents _id 2000 to 2999), document _id 2500: the transform trapped")))
        .stderr(predicate::str::contains("unreachable"));
    assert_eq!(
        t.count("users", doc! {}),
        1000,
        "batches 1 and 2 deleted their documents; batch 3 wrote nothing"
    );
    assert_eq!(t.count("users", doc! { "_id": { "$gte": 2000 } }), 1000);
    assert_eq!(t.ledger()[0].get_str("state"), Ok("failed"));
}

#[test]
fn invalid_bson_output_is_refused() {
    // Replace with the first 5 bytes of the input (a truncated document).
    let body = for_each("(i32.store (local.get $doc) (i32.const 5)) (call $emit (i32.const 1) (local.get $doc) (i32.const 5))");
    refused(
        "wasm_bad_bson",
        &guest(1, false, "", &body),
        "",
        &[
            "document _id 0",
            "returned invalid output",
            "not valid BSON",
        ],
    );
}

#[test]
fn a_changed_id_is_refused() {
    // Replace every document with {_id: 999999, x: 1}.
    let body = for_each("(call $emit (i32.const 1) (i32.const 4096) (i32.load (i32.const 4096)))");
    refused(
        "wasm_changed_id",
        &guest(1, false, "", &body),
        "",
        &["document _id 0", "changes _id from 0 to 999999"],
    );
}

#[test]
fn an_oversize_output_is_refused() {
    // One replacement claiming 17 MiB (the buffer is there; it is not BSON).
    let body = r#"(drop (memory.grow (i32.const 300)))
    (local.set $n (call $count (local.get $p) (local.get $len)))
    (i32.store8 (global.get $cursor) (i32.const 1))
    (i32.store (i32.add (global.get $cursor) (i32.const 1)) (i32.const 17825792))
    (global.set $cursor (i32.add (global.get $cursor) (i32.const 17825797)))
    (local.set $i (i32.const 1))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (call $emit_tag (i32.const 0))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (call $finish (local.get $n))"#;
    refused(
        "wasm_oversize",
        &guest(1, false, "", body),
        "",
        &["document _id 0", "over MongoDB's 16 MiB document limit"],
    );
}

#[test]
fn the_wrong_number_of_outcomes_is_refused() {
    let body = "(call $emit_tag (i32.const 0)) (call $finish (i32.const 1))";
    refused(
        "wasm_count",
        &guest(1, false, "", body),
        "",
        &["1 outcomes for a batch of 1000 documents"],
    );
}

#[test]
fn down_refuses_a_module_without_backward() {
    let t = TestDb::new("wasm_no_backward");
    t.seed_users(10);
    wasm_migration(
        &t,
        ID1,
        &guest(1, false, "", &for_each("(call $emit_tag (i32.const 0))")),
        "pre_images = false\n",
    );
    t.cmd().arg("up").assert().success();
    t.cmd()
        .arg("down")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "migration {ID1} cannot be rolled back: its module guest.wat has no backward transform"
        )));
}
