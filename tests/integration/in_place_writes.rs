//! How in-place writes reach the server: `$set`/`$unset` only when they give
//! exactly the transform's document, and a document the server refuses inside
//! a transaction fails its batch at once, with the reason.

use bson::doc;
use predicates::prelude::*;

use crate::util::{text, TestDb};
use crate::wat::{for_each, guest, ID};

const MIG: &str = "20260401000000_shape";

fn migration(t: &TestDb, wat: &str, extra: &str) {
    t.write(&format!("{MIG}/guest.wat"), wat);
    t.write(
        &format!("{MIG}/migration.toml"),
        &format!("kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nstrategy = \"in-place\"\npre_images = false\n{extra}"),
    );
}

/// Appends `zz: 1` and then `aa: 1` to every document.
fn append_zz_then_aa() -> String {
    // The two int32 elements and the document's terminator, stored at 12288.
    let tail = "\\10zz\\00\\01\\00\\00\\00\\10aa\\00\\01\\00\\00\\00\\00";
    let each = r#"(global.set $w (global.get $cursor))
      (call $emit (i32.const 1) (local.get $doc) (i32.load (local.get $doc)))
      ;; overwrite the copy's terminator with the new fields and a new terminator
      (memory.copy (i32.sub (global.get $cursor) (i32.const 1)) (i32.const 12288) (i32.const 17))
      (global.set $cursor (i32.add (global.get $cursor) (i32.const 16)))
      (i32.store (i32.add (global.get $w) (i32.const 1)) (i32.add (i32.load (i32.add (global.get $w) (i32.const 1))) (i32.const 16)))
      (i32.store (i32.add (global.get $w) (i32.const 5)) (i32.add (i32.load (i32.add (global.get $w) (i32.const 5))) (i32.const 16)))"#;
    guest(
        1,
        false,
        &format!("(global $w (mut i32) (i32.const 0)) (data (i32.const 12288) \"{tail}\")"),
        &for_each(each),
    )
}

#[test]
fn set_writes_keep_the_order_of_added_fields() {
    let t = TestDb::new("set_order");
    t.seed_users(20);
    migration(&t, &append_zz_then_aa(), "in_place_writes = \"set\"\n");
    t.cmd().arg("up").assert().success();
    for d in t.raw_users() {
        let keys: Vec<&str> = d.iter().map(|e| e.expect("element").0).collect();
        assert_eq!(
            keys,
            ["_id", "name", "email", "age", "n", "zz", "aa"],
            "stored exactly as the transform returned it"
        );
    }
}

/// Replaces the document with `_id` 1 by one of exactly 16 MiB (its `_id`
/// and a binary field of zeros); keeps the others.
fn sixteen_mib_for_id_1() -> String {
    let each = format!(
        r#"(if (i32.eq {ID} (i32.const 1))
        (then
          (i32.store8 (global.get $cursor) (i32.const 1))
          (i32.store (i32.add (global.get $cursor) (i32.const 1)) (i32.const 16777216))
          (global.set $w (i32.add (global.get $cursor) (i32.const 5)))
          (i32.store (global.get $w) (i32.const 16777216))
          (memory.copy (i32.add (global.get $w) (i32.const 4)) (i32.add (local.get $doc) (i32.const 4)) (i32.const 9))
          (i32.store (i32.add (global.get $w) (i32.const 13)) (i32.const 0x64617005))
          (i32.store8 (i32.add (global.get $w) (i32.const 17)) (i32.const 0))
          (i32.store (i32.add (global.get $w) (i32.const 18)) (i32.const 16777192))
          (i32.store8 (i32.add (global.get $w) (i32.const 22)) (i32.const 0))
          (memory.fill (i32.add (global.get $w) (i32.const 23)) (i32.const 0) (i32.const 16777192))
          (i32.store8 (i32.add (global.get $w) (i32.const 16777215)) (i32.const 0))
          (global.set $cursor (i32.add (global.get $w) (i32.const 16777216))))
        (else (call $emit_tag (i32.const 0))))"#
    );
    guest(
        1,
        false,
        "(global $w (mut i32) (i32.const 0))",
        &format!("(drop (memory.grow (i32.const 300)))\n{}", for_each(&each)),
    )
}

#[test]
fn a_sixteen_mib_replacement_in_a_transaction_is_written_or_refused_by_name() {
    // On the shared server (256 MiB cache) such a transaction may or may not
    // fit; either way the run ends with the document written or with its
    // refusal named, never by waiting out the transaction.
    let t = TestDb::new("sixteen_mib_tx");
    t.seed_users(3);
    migration(
        &t,
        &sixteen_mib_for_id_1(),
        "in_place_writes = \"replace\"\n",
    );
    let out = t.cmd().arg("up").output().expect("run");
    let (stdout, stderr) = text(&out);
    assert!(!stderr.contains("transaction already closed"), "{stderr}");
    if out.status.success() {
        assert_eq!(t.raw_users()[1].as_bytes().len(), 16 << 20);
    } else {
        assert!(
            stderr.contains(
                "document _id 1 in batch 1 (16777216 bytes) cannot be written inside a transaction"
            ),
            "{stdout}{stderr}"
        );
    }
}

#[test]
fn a_document_too_large_for_a_transaction_fails_at_once_naming_it() {
    // A server whose cache cannot hold a 16 MiB write in one transaction.
    let server = crate::util::LocalServer::start(&["--cache-size", "64M"]);
    let t = TestDb::on(&server.uri, "too_large_tx");
    t.seed_users(3);
    let small = t.raw_users();
    migration(
        &t,
        &sixteen_mib_for_id_1(),
        "in_place_writes = \"replace\"\n",
    );
    // At once: the run gives up before a tenth attempt at a commit (the fail
    // point would stop it there); a refusal retried as a passing conflict
    // would be attempted up to 30 times, with backoff.
    let out = t
        .cmd()
        .env(
            mongoshift::failpoint::ENV,
            format!("{}:10", mongoshift::failpoint::BATCH_BEFORE_TRANSACTION),
        )
        .arg("up")
        .output()
        .expect("run");
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{:?}: {stdout}{stderr}",
        out.status
    );
    for part in [
        &format!("while applying migration {MIG}: document _id 1 in batch 1 (16777216 bytes) cannot be written inside a transaction"),
        "will not fit in the storage engine cache",
        "transactions = \"none\"",
        "strategy = \"rewrite\"",
    ] {
        assert!(stderr.contains(part), "{part:?} in {stderr}");
    }
    assert!(t.raw_users() == small, "nothing written");
    assert_eq!(t.ledger()[0].get_str("state"), Ok("failed"));

    // As the message says: without transactions it is written.
    t.cmd()
        .args(["up", "--transactions", "none"])
        .assert()
        .success()
        .stderr(predicate::str::contains("1 modified of 3 matched"));
    let users = t.raw_users();
    assert_eq!(users[1].as_bytes().len(), 16 << 20);
    assert!(users[0] == small[0] && users[2] == small[2]);
    assert_eq!(t.count("users", doc! { "pad": { "$exists": true } }), 1);
}
