//! Strict outputs: whatever a transform returns is checked before anything is
//! written, the same way on every path (in place with and without
//! transactions, a rewrite's copy and catch-up, a dry run). A refusal names
//! the document's `_id` and what is wrong, and nothing of its batch is
//! written.

use std::io::BufRead;
use std::process::Stdio;

use bson::{doc, RawDocumentBuf};

use crate::util::{text, TestDb};
use crate::wat::{echo_all, for_each, guest, keep_all, ID};

/// Bounded, escaped messages: the text a transform sends back.
mod messages;

pub const MIGRATION: &str = "20260301000000_outputs";

/// Where [`with_data`] puts its bytes in a guest's memory.
pub const DATA: usize = 16384;

/// A wasm migration of `users` running `wat` on one thread, in batches of
/// 1,000 unless `extra` (more manifest lines) says otherwise.
pub fn migration(t: &TestDb, wat: &str, extra: &str) {
    let batch = if extra.contains("batch_size") {
        ""
    } else {
        "batch_size = 1000\n"
    };
    t.write(&format!("{MIGRATION}/guest.wat"), wat);
    t.write(
        &format!("{MIGRATION}/migration.toml"),
        &format!("kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nthreads = 1\n{batch}{extra}"),
    );
}

/// `wat` with `bytes` in its memory at [`DATA`].
pub fn with_data(wat: &str, bytes: &[u8]) -> String {
    assert!(
        DATA + bytes.len() < 65536,
        "the data must stay below the input"
    );
    let escaped: String = bytes.iter().map(|b| format!("\\{b:02x}")).collect();
    wat.replacen(
        "(func (export \"mongoshift_contract_version\")",
        &format!("(data (i32.const {DATA}) \"{escaped}\")\n  (func (export \"mongoshift_contract_version\")"),
        1,
    )
}

/// A guest that keeps every document but the one whose int32 `_id` is `id`,
/// for which it returns a record with `tag` and `payload`.
pub fn answering(id: i32, tag: u8, payload: &[u8]) -> String {
    let body = for_each(&format!(
        "(if (i32.eq {ID} (i32.const {id})) (then (call $emit (i32.const {tag}) (i32.const {DATA}) (i32.const {}))) (else (call $emit_tag (i32.const 0))))",
        payload.len()
    ));
    with_data(&guest(1, true, "", &body), payload)
}

/// The seed's user `i` (see `TestDb::seed_users`) as raw BSON, then `more`
/// appended as it is: keys may repeat.
pub fn user_then(i: i32, more: impl FnOnce(&mut RawDocumentBuf)) -> Vec<u8> {
    let mut d = RawDocumentBuf::from_document(&doc! {
        "_id": i,
        "name": format!("First{i} Last{i}"),
        "email": format!("user{i}@example.com"),
        "age": 20 + i % 50,
        "n": 0,
    })
    .expect("raw");
    more(&mut d);
    d.into_bytes()
}

/// Runs `up` with `args`, expects it to fail (exit 1) with every piece of
/// `expected` in its message, and checks that no document changed.
pub fn refused(t: &TestDb, args: &[&str], expected: &[&str]) -> String {
    let before = t.raw_users();
    let out = t
        .cmd()
        .arg("up")
        .args(args)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let (stdout, stderr) = text(&out);
    for e in expected {
        assert!(stderr.contains(e), "expected {e:?} in:\n{stderr}\n{stdout}");
    }
    assert!(stderr.contains(MIGRATION), "names the migration: {stderr}");
    assert!(t.raw_users() == before, "no document changed");
    stderr
}

#[test]
fn a_second_id_in_a_replacement_is_refused_in_every_strategy() {
    // The reported case: given 2500, a guest returns {_id: 2500, …, _id: 2501}.
    // The server keeps the last `_id`: 2501 would be overwritten with 2500's
    // output, and the run would end with one document fewer.
    let twice = user_then(2500, |d| d.append("_id", 2501));
    let expected = [
        "batch 3 (documents _id 2000 to 2999), document _id 2500",
        "the replacement has the key `_id` twice",
    ];
    for (name, extra, args) in [
        ("id_twice_rewrite", "strategy = \"rewrite\"\n", &[][..]),
        ("id_twice_in_place", "strategy = \"in-place\"\n", &[][..]),
        (
            "id_twice_no_tx",
            "strategy = \"in-place\"\ntransactions = \"none\"\n",
            &[][..],
        ),
        (
            "id_twice_replace",
            "strategy = \"in-place\"\n",
            &["--in-place-writes", "replace"][..],
        ),
        ("id_twice_dry_run", "", &["--dry-run"][..]),
    ] {
        let t = TestDb::new(name);
        t.seed_users(3_000);
        migration(&t, &answering(2500, 1, &twice), extra);
        refused(&t, args, &expected);
        assert_eq!(t.count("users", doc! {}), 3_000, "{name}");
        assert_eq!(
            t.find("users", doc! { "_id": 2501 })[0].get_str("name"),
            Ok("First2501 Last2501")
        );
    }
}

#[test]
fn a_key_twice_at_any_depth_is_refused() {
    let nested = user_then(1500, |d| {
        d.append("a", bson::rawdoc! { "x": 1, "b": 2, "x": 3 });
    });
    // An array is a document with the keys 0, 1, …: here 0 and 0.
    let mut tags = RawDocumentBuf::new();
    tags.append("0", "beta");
    tags.append("0", "vip");
    let mut in_array = user_then(1500, |d| d.append("tags", tags));
    let at = in_array
        .windows(5)
        .position(|w| w == b"tags\0")
        .expect("the key")
        - 1;
    assert_eq!(in_array[at], 0x03);
    in_array[at] = 0x04;
    let deep = user_then(1500, |d| {
        d.append(
            "a",
            bson::rawdoc! { "b": [ { "ok": 1 }, { "y": 1, "z": 2, "y": 1 } ] },
        );
    });
    for (name, bytes, expected) in [
        ("twice_nested", nested, "the key `x` twice (in `a`)"),
        ("twice_array", in_array, "the key `0` twice (in `tags`)"),
        ("twice_deep", deep, "the key `y` twice (in `a.b.1`)"),
    ] {
        let t = TestDb::new(name);
        t.seed_users(2_000);
        migration(&t, &answering(1500, 1, &bytes), "strategy = \"in-place\"\n");
        refused(&t, &[], &["document _id 1500", expected]);
        assert_eq!(t.ledger()[0].get_str("state"), Ok("failed"));
    }
}

#[test]
fn an_id_of_another_type_is_refused_naming_both_types() {
    let t = TestDb::new("id_type");
    t.seed_users(3_000);
    let mut long = bson::RawDocumentBuf::new();
    long.append("_id", 2500_i64);
    long.append("name", "x");
    migration(&t, &answering(2500, 1, long.as_bytes()), "");
    refused(
        &t,
        &[],
        &[
            "document _id 2500",
            "changes _id from 2500 (int) to 2500 (long)",
        ],
    );
}

#[test]
fn outcome_records_are_parsed_strictly_and_name_their_document() {
    let trailing = guest(1, true, "", &for_each("(call $emit_tag (i32.const 0))").replace(
        "(call $finish (local.get $n))",
        "(global.set $cursor (i32.add (global.get $cursor) (i32.const 3))) (call $finish (local.get $n))",
    ));
    for (name, wat, expected) in [
        (
            "keep_payload",
            answering(500, 0, b"xyz"),
            &["document _id 500", "its keep outcome carries 3 bytes"][..],
        ),
        (
            "delete_payload",
            answering(500, 2, b"xyz"),
            &["document _id 500", "its delete outcome carries 3 bytes"][..],
        ),
        (
            "unknown_tag",
            answering(500, 9, b""),
            &["document _id 500", "unknown tag 9"][..],
        ),
        (
            "trailing",
            trailing,
            &[
                "batch 1 (documents _id 0 to 999)",
                "3 bytes follow the last of the 1000 outcomes",
            ][..],
        ),
    ] {
        let t = TestDb::new(name);
        t.seed_users(2_000);
        migration(&t, &wat, "");
        let stderr = refused(&t, &[], expected);
        assert!(!stderr.contains("outcome 500"), "{stderr}");
        assert_eq!(t.ledger()[0].get_str("state"), Ok("failed"));
    }
}

#[test]
fn a_describe_claiming_another_contract_version_is_refused() {
    // The exported function says 1, describe says 3: version 3 is not
    // implemented here, whichever way it is stated.
    let wat = guest(3, false, "", &for_each("(call $emit_tag (i32.const 0))")).replace(
        "(func (export \"mongoshift_contract_version\") (result i32) (i32.const 3))",
        "(func (export \"mongoshift_contract_version\") (result i32) (i32.const 1))",
    );
    let t = TestDb::new("describe_v2");
    t.seed_users(10);
    migration(&t, &wat, "");
    refused(
        &t,
        &[],
        &[
            "guest.wat implements contract version 3",
            "this mongoshift supports version 1",
        ],
    );
}

#[test]
fn a_load_error_names_the_migration_once() {
    let t = TestDb::new("named_once");
    t.seed_users(10);
    migration(&t, &guest(3, false, "", "(unreachable)"), "");
    let stderr = refused(
        &t,
        &[],
        &[&format!(
            "while applying migration {MIGRATION}: module migrations/{MIGRATION}/guest.wat implements contract version 3"
        )],
    );
    assert_eq!(
        stderr.matches(&format!("migration {MIGRATION}")).count(),
        1,
        "{stderr}"
    );
}

#[test]
fn an_endless_loop_in_the_allocator_blames_no_document() {
    let wat = keep_all().replace(
        "(func (export \"mongoshift_alloc\") (param $n i32) (result i32)\n    (local $need i32)",
        "(func (export \"mongoshift_alloc\") (param $n i32) (result i32)\n    (local $need i32)\n    (loop $spin (br $spin))",
    );
    assert_ne!(wat, keep_all(), "the loop is in");
    let t = TestDb::new("alloc_loop");
    t.seed_users(2_000);
    migration(&t, &wat, "deadline_ms = 300\n");
    let stderr = refused(
        &t,
        &[],
        &[
            "batch 1 (documents _id 0 to 999): the module's mongoshift_alloc failed",
            "before any document was transformed",
            "ran past its deadline of 300 ms",
        ],
    );
    assert!(!stderr.contains("document _id 0"), "{stderr}");
}

#[test]
fn a_byte_identical_replacement_is_a_keep() {
    let t = TestDb::new("echo_keep");
    t.seed_users(3_000);
    let before = t.raw_users();
    migration(&t, &echo_all(), "pre_images = true\n");
    let out = t.cmd().arg("up").assert().success().get_output().clone();
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains(&format!(
            "{MIGRATION}: 3000/3000 docs, replaced 0 deleted 0 failed 0"
        )),
        "{stderr}"
    );
    assert!(t.raw_users() == before);
    let ledger = t.ledger();
    assert_eq!(ledger[0].get_str("state"), Ok("applied"));
    assert_eq!(ledger[0].get_i64("matched"), Ok(3_000));
    assert_eq!(ledger[0].get_i64("modified"), Ok(0));
    assert_eq!(
        t.count(&format!("mongoshift_preimages_{MIGRATION}"), doc! {}),
        0,
        "no pre-image of a document that did not change"
    );
}

#[test]
fn a_change_caught_up_by_a_rewrite_is_checked_like_the_copy() {
    // A slow guest, so the copy is still running when a document appears
    // behind its cursor: only the catch-up transforms that one, and its
    // replacement has `_id` twice.
    let twice = user_then(-1, |d| d.append("_id", 5));
    let spin = "(local.set $i (i32.const 30000000)) (loop $slow (local.set $i (i32.sub (local.get $i) (i32.const 1))) (br_if $slow (local.get $i))) (local.set $i (i32.const 0))";
    let body = format!(
        "{spin} {}",
        for_each(&format!(
            "(if (i32.eq {ID} (i32.const -1)) (then (call $emit (i32.const 1) (i32.const {DATA}) (i32.const {}))) (else (call $emit_tag (i32.const 0))))",
            twice.len()
        ))
    );
    let t = TestDb::new("catch_up_twice");
    t.seed_users(3_000);
    migration(
        &t,
        &with_data(&guest(1, true, "", &body), &twice),
        "strategy = \"rewrite\"\nbatch_size = 100\n",
    );
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
    // The first committed batch: the copy's cursor is past _id -1.
    for line in lines.by_ref() {
        if line.expect("line").contains("\"event\":\"documents\"") {
            break;
        }
    }
    let d = RawDocumentBuf::from_bytes(user_then(-1, |_| {})).expect("raw");
    crate::util::block_on(t.db().collection::<RawDocumentBuf>("users").insert_one(d))
        .expect("insert behind the copy");
    for _ in lines {}
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("(documents _id -1 to -1), document _id -1")
            && stderr.contains("the replacement has the key `_id` twice"),
        "{stderr}"
    );
    assert_eq!(t.count("users", doc! {}), 3_001, "nothing lost");
    assert_eq!(
        t.find("users", doc! { "_id": 5 })[0].get_str("name"),
        Ok("First5 Last5")
    );
}
