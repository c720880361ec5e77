//! Honest resume: a migration that stopped part-way and whose files changed
//! since is not run again from the start; `down` undoes exactly what a
//! partial run committed, by pre-images or by the backward transform on the
//! committed documents only; pre-images are written once.

use bson::{doc, Bson};
use predicates::prelude::*;

use crate::util::{block_on, text, TestDb};
use crate::wat::{for_each, guest, ID};

const MIG: &str = "20260501000000_count";

/// n += 1 going forward, n -= 1 going backward (when `backward`); fails the
/// document whose `_id` is `fail_up` going forward, `fail_down` going back.
fn counter_with(backward: bool, fail_up: Option<i32>, fail_down: Option<i32>) -> String {
    let fail = |id: Option<i32>, dir: &str| {
        match id {
        Some(k) => format!(
            "(if (i32.and ({dir}) (i32.eq {ID} (i32.const {k}))) (then (call $emit (i32.const 3) (i32.const 8192) (i32.const 32)) (br $skip)))"
        ),
        None => String::new(),
    }
    };
    let body = for_each(&format!(
        r#"(block $skip
        {}
        {}
        (call $emit (i32.const 1) (local.get $doc) (i32.load (local.get $doc)))
        (i32.store (i32.sub (global.get $cursor) (i32.const 5))
          (i32.add (i32.load (i32.sub (global.get $cursor) (i32.const 5)))
                   (select (i32.const -1) (i32.const 1) (local.get $dir)))))"#,
        fail(fail_up, "i32.eqz (local.get $dir)"),
        fail(fail_down, "i32.ne (local.get $dir) (i32.const 0)"),
    ));
    guest(1, backward, "", &body)
}

fn migration(t: &TestDb, wat: &str) {
    t.write(&format!("{MIG}/guest.wat"), wat);
    t.write(
        &format!("{MIG}/migration.toml"),
        "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nbatch_size = 500\nstrategy = \"in-place\"\n",
    );
}

fn state(t: &TestDb) -> String {
    t.ledger()[0].get_str("state").expect("state").to_string()
}

/// 5,000 users; the module fails `_id` 2100, so batches 1-4 (`_id` 0-1999)
/// commit and the run fails. Returns the checksum it ran with and the
/// documents as they were.
fn failed_part_way(
    t: &TestDb,
    backward: bool,
    flags: &[&str],
) -> (String, Vec<bson::RawDocumentBuf>) {
    t.seed_users(5_000);
    let original = t.raw_users();
    migration(t, &counter_with(backward, Some(2_100), None));
    t.cmd()
        .arg("up")
        .args(flags)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "document _id 2100 in batch 5 failed",
        ));
    assert_eq!(t.count("users", doc! { "n": 1 }), 2_000);
    assert_eq!(t.count("users", doc! { "n": 0 }), 3_000);
    let ledger = t.ledger();
    let checksum = ledger[0].get_str("checksum").expect("checksum");
    (checksum.to_string(), original)
}

fn refused_then_resumed_with_consent(name: &str, backward: bool, flags: &[&str]) {
    let t = TestDb::new(name);
    let (old, _) = failed_part_way(&t, backward, flags);
    // The cause fixed: the module changes, so does the checksum.
    migration(&t, &counter_with(backward, None, None));
    let out = t.cmd().arg("up").args(flags).output().expect("run");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
    for part in [
        format!("migration {MIG} stopped part-way (failed) with checksum {old}"),
        "2000 document(s) up to _id 1999 were done by the earlier version".into(),
        "`mongoshift down`".into(),
        format!("`mongoshift up --dangerously-resume-changed {MIG}`"),
    ] {
        assert!(stderr.contains(&part), "{part:?} in {stderr}");
    }
    assert_eq!(
        t.count("users", doc! { "n": 1 }),
        2_000,
        "nothing run again"
    );
    assert_eq!(state(&t), "failed");

    t.cmd()
        .arg("up")
        .args(flags)
        .args(["--dangerously-resume-changed", MIG])
        .assert()
        .success();
    assert_eq!(
        t.count("users", doc! { "n": 1 }),
        5_000,
        "every document exactly once"
    );
    let e = &t.ledger()[0];
    assert_eq!(e.get_str("state"), Ok("applied"));
    let new = e.get_str("checksum").expect("checksum");
    assert_ne!(new, old);
    let accepted = e.get_array("accepted_changes").expect("accepted_changes");
    let Some(Bson::Document(a)) = accepted.first() else {
        panic!("no accepted change in {e}");
    };
    assert_eq!(a.get_str("direction"), Ok("up"));
    assert_eq!(a.get_str("from"), Ok(old.as_str()));
    assert_eq!(a.get_str("to"), Ok(new));
    assert_eq!(a.get("last_id"), Some(&Bson::Int32(1_999)));
    assert_eq!(a.get_i64("done"), Ok(2_000));
}

#[test]
fn a_changed_module_does_not_rerun_from_the_start_with_a_backward_transform() {
    refused_then_resumed_with_consent("changed_backward", true, &[]);
}

#[test]
fn a_changed_module_does_not_rerun_from_the_start_without_pre_images() {
    refused_then_resumed_with_consent("changed_no_pre_images", false, &["--no-pre-images"]);
}

#[test]
fn a_changed_module_with_pre_images_is_refused_and_down_restores_them() {
    let t = TestDb::new("changed_pre_images");
    let (_, original) = failed_part_way(&t, false, &[]);
    migration(&t, &counter_with(false, None, None));
    t.cmd()
        .arg("up")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("it restores their pre-images"))
        .stderr(predicate::str::contains("E11000").not());
    // The pre-images need no module: no consent asked.
    t.cmd().arg("down").assert().success();
    assert!(t.raw_users() == original, "byte for byte as before");
    assert_eq!(state(&t), "rolled_back");
    t.cmd().arg("up").assert().success();
    assert_eq!(t.count("users", doc! { "n": 1 }), 5_000);
}

/// With pre-images on, consent to go on with the changed module: the
/// pre-images of the documents done before are kept (no E11000), every
/// document is done once, and `down` restores every original byte for byte.
#[test]
fn a_changed_module_with_pre_images_resumed_with_consent_is_exact_and_down_restores_them() {
    let t = TestDb::new("changed_pre_images_consent");
    let (old, original) = failed_part_way(&t, false, &[]);
    migration(&t, &counter_with(false, None, None));
    let out = t
        .cmd()
        .args(["up", "--dangerously-resume-changed", MIG])
        .output()
        .expect("run");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(!format!("{stdout}{stderr}").contains("E11000"), "{stderr}");
    assert_eq!(
        t.count("users", doc! { "n": 1 }),
        5_000,
        "every document exactly once"
    );
    let backup = format!("mongoshift_preimages_{MIG}");
    let kept = t.pre_images(&backup);
    assert_eq!(kept.len(), 5_000, "one pre-image each");
    assert!(
        kept.iter()
            .all(|p| p.get_document("doc").expect("an original").get_i32("n") == Ok(0)),
        "the originals"
    );
    let e = &t.ledger()[0];
    assert_eq!(e.get_str("state"), Ok("applied"));
    let new = e.get_str("checksum").expect("checksum");
    let accepted = e.get_array("accepted_changes").expect("accepted_changes");
    let Some(Bson::Document(a)) = accepted.first() else {
        panic!("no accepted change in {e}");
    };
    assert_eq!(a.get_str("from"), Ok(old.as_str()));
    assert_eq!(a.get_str("to"), Ok(new));
    assert_eq!(a.get("last_id"), Some(&Bson::Int32(1_999)));
    assert_eq!(a.get_i64("done"), Ok(2_000));
    t.cmd().arg("down").assert().success();
    assert!(t.raw_users() == original, "byte for byte as before");
    assert_eq!(t.count(&backup, doc! {}), 0);
    assert_eq!(state(&t), "rolled_back");
}

#[test]
fn down_of_a_partial_run_by_backward_undoes_only_what_was_committed() {
    let t = TestDb::new("partial_down");
    let (_, original) = failed_part_way(&t, true, &[]);
    t.cmd().arg("down").assert().success();
    assert!(
        t.raw_users() == original,
        "the 2000 committed documents undone, the others left alone"
    );
    assert_eq!(state(&t), "rolled_back");

    // Nothing committed (the first batch failed): nothing to undo.
    let u = TestDb::new("partial_down_none");
    u.seed_users(1_000);
    let original = u.raw_users();
    migration(&u, &counter_with(true, Some(100), None));
    u.cmd().arg("up").assert().code(1);
    u.cmd().arg("down").assert().success();
    assert!(u.raw_users() == original, "untouched");
}

#[test]
fn down_by_a_changed_backward_transform_needs_consent() {
    let t = TestDb::new("changed_down");
    let (old, original) = failed_part_way(&t, true, &[]);
    migration(&t, &counter_with(true, None, None));
    t.cmd()
        .arg("down")
        .assert()
        .code(3)
        .stderr(predicate::str::contains(format!(
            "migration {MIG} ran with checksum {old}"
        )))
        .stderr(predicate::str::contains(format!(
            "`mongoshift down --dangerously-allow-changed {MIG}`"
        )));
    assert_eq!(t.count("users", doc! { "n": 1 }), 2_000, "nothing undone");
    t.cmd()
        .args(["down", "--dangerously-allow-changed", MIG])
        .assert()
        .success();
    assert!(t.raw_users() == original);
    let e = &t.ledger()[0];
    assert_eq!(e.get_str("state"), Ok("rolled_back"));
    let accepted = e.get_array("accepted_changes").expect("accepted_changes");
    assert!(
        matches!(accepted.first(), Some(Bson::Document(a)) if a.get_str("direction") == Ok("down") && a.get_str("from") == Ok(old.as_str())),
        "{e}"
    );
    t.cmd().arg("up").assert().success();
    assert_eq!(t.count("users", doc! { "n": 1 }), 5_000);
}

#[test]
fn a_partly_rolled_back_migration_is_not_applied_over() {
    let t = TestDb::new("partial_rollback");
    t.seed_users(5_000);
    let original = t.raw_users();
    // Going back fails at _id 3100: batches 1-6 of the rollback commit.
    migration(&t, &counter_with(true, None, Some(3_100)));
    t.cmd().arg("up").assert().success();
    t.cmd()
        .arg("down")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "while rolling back migration {MIG}: document _id 3100 in batch 7 failed"
        )));
    assert_eq!(t.count("users", doc! { "n": 0 }), 3_000);
    t.cmd()
        .arg("up")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "migration {MIG} is failed from an earlier run that did not finish: its rollback (`mongoshift down`) stopped part-way"
        )));
    assert_eq!(
        t.count("users", doc! { "n": 0 }),
        3_000,
        "nothing applied over it"
    );
    // Fixed, the rollback finishes where it stopped.
    migration(&t, &counter_with(true, None, None));
    t.cmd()
        .args(["down", "--dangerously-allow-changed", MIG])
        .assert()
        .success();
    assert!(t.raw_users() == original, "every document back, once");
    t.cmd().arg("up").assert().success();
    assert_eq!(t.count("users", doc! { "n": 1 }), 5_000);
}

#[test]
fn a_resumed_run_keeps_the_pre_images_choice_of_the_run_it_resumes() {
    let t = TestDb::new("resume_pre_images");
    // Without pre-images and without a backward transform: irreversible.
    failed_part_way(&t, false, &["--no-pre-images"]);
    migration(&t, &counter_with(false, None, None));
    // Going on, pre-images (the default for this module) would cover only
    // the documents done from now on.
    t.cmd()
        .args(["up", "--dangerously-resume-changed", MIG])
        .assert()
        .success();
    assert_eq!(t.count("users", doc! { "n": 1 }), 5_000);
    assert_eq!(
        t.count(&format!("mongoshift_preimages_{MIG}"), doc! {}),
        0,
        "none kept from the middle on"
    );
    t.cmd()
        .arg("down")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot be rolled back"));
    assert_eq!(
        t.count("users", doc! { "n": 1 }),
        5_000,
        "nothing half undone"
    );
    assert_eq!(state(&t), "applied");
}

#[test]
fn pre_images_are_written_once_keeping_the_first_original() {
    let t = TestDb::new("pre_images_once");
    t.seed_users(3_000);
    let original = t.raw_users();
    migration(&t, &counter_with(false, None, None));
    t.cmd().arg("up").assert().success();
    // An operator removes the ledger entry to run the migration again.
    block_on(
        t.db()
            .collection::<bson::Document>(mongoshift::LEDGER_COLLECTION)
            .delete_one(doc! { "_id": MIG }),
    )
    .expect("delete ledger entry");
    t.cmd().arg("up").assert().success();
    assert_eq!(
        t.count("users", doc! { "n": 2 }),
        3_000,
        "run twice, as asked"
    );
    let backup = format!("mongoshift_preimages_{MIG}");
    let kept = t.pre_images(&backup);
    assert_eq!(kept.len(), 3_000);
    assert!(
        kept.iter()
            .all(|p| p.get_document("doc").expect("an original").get_i32("n") == Ok(0)),
        "the first originals kept"
    );
    t.cmd().arg("down").assert().success();
    assert!(t.raw_users() == original, "back to the originals");
}

const PY_MIG: &str = "20260502000000_count";

/// A Python migration: n += 1 going forward (failing `_id` `fail_at`), n -= 1
/// going back.
fn py_counter(fail_at: Option<i32>) -> String {
    let fail = fail_at.map_or_else(String::new, |k| {
        format!("if d[\"_id\"] == {k}:\n                raise ValueError(\"{k} cannot be counted\")\n            ")
    });
    format!(
        r#""""n += 1"""
from mongoshift import Migration, iterative_migration


class Count(Migration):
    collection = "users"

    @iterative_migration(batch_size=500)
    def forward(self, batch):
        for d in batch:
            {fail}d["n"] += 1
        return batch

    @iterative_migration(batch_size=500)
    def backward(self, batch):
        for d in batch:
            d["n"] -= 1
        return batch
"#
    )
}

#[test]
fn a_changed_python_migration_is_refused_and_its_partial_run_undone_or_resumed() {
    let t = TestDb::new("py_changed");
    t.seed_users(5_000);
    let original = t.raw_users();
    let file = format!("{PY_MIG}.py");
    t.write(&file, &py_counter(Some(2_100)));
    let venv = crate::python::venv();
    let fails = || {
        t.cmd()
            .env("VIRTUAL_ENV", venv)
            .arg("up")
            .assert()
            .code(1)
            .stderr(predicate::str::contains("2100 cannot be counted"));
        assert_eq!(t.count("users", doc! { "n": 1 }), 2_000);
    };
    fails();
    // The backward step undoes the committed batches only.
    t.cmd()
        .env("VIRTUAL_ENV", venv)
        .arg("down")
        .assert()
        .success();
    assert!(
        t.raw_users() == original,
        "exactly what was committed undone"
    );

    fails();
    t.write(&file, &py_counter(None));
    t.cmd()
        .env("VIRTUAL_ENV", venv)
        .arg("up")
        .assert()
        .code(3)
        .stderr(predicate::str::contains(format!(
            "migration {PY_MIG} stopped part-way (failed)"
        )))
        .stderr(predicate::str::contains(
            "2000 document(s) up to _id 1999 were done by the earlier version",
        ));
    assert_eq!(
        t.count("users", doc! { "n": 1 }),
        2_000,
        "nothing run again"
    );
    t.cmd()
        .env("VIRTUAL_ENV", venv)
        .args(["up", "--dangerously-resume-changed", PY_MIG])
        .assert()
        .success();
    assert_eq!(
        t.count("users", doc! { "n": 1 }),
        5_000,
        "every document exactly once"
    );
    assert_eq!(state(&t), "applied");
}

#[test]
fn consent_for_a_migration_that_does_not_exist_is_refused() {
    let t = TestDb::new("consent_unknown");
    t.seed_users(100);
    let original = t.raw_users();
    migration(&t, &counter_with(true, None, None));
    for args in [
        &["up", "--dangerously-resume-changed", "20990101000000_nope"][..],
        &["down", "--dangerously-allow-changed", "20990101000000_nope"],
    ] {
        t.cmd()
            .args(args)
            .assert()
            .code(1)
            .stderr(predicate::str::contains(
                "no migration 20990101000000_nope in",
            ));
    }
    assert!(t.raw_users() == original, "nothing written");
    assert!(t.ledger().is_empty());
}

/// A collection whose `_id`s are numbers, strings and ObjectIds, stopped
/// after two batches of numbers: the resumed run goes on through the later
/// types too (a `$gt` on a number alone matches numbers only), and every
/// document is transformed exactly once.
#[test]
fn a_resumed_run_reaches_every_id_type_after_the_checkpoint() {
    let t = TestDb::new("resume_id_types");
    let mut docs: Vec<bson::Document> = (0..30).map(|i| doc! { "_id": i, "n": 0 }).collect();
    docs.extend((0..30).map(|i| doc! { "_id": format!("s{i:02}"), "n": 0 }));
    docs.extend((0..30).map(|_| doc! { "_id": bson::oid::ObjectId::new(), "n": 0 }));
    block_on(
        t.db()
            .collection::<bson::Document>("users")
            .insert_many(docs),
    )
    .expect("seed");
    t.write(
        &format!("{MIG}/guest.wat"),
        &counter_with(false, None, None),
    );
    t.write(
        &format!("{MIG}/migration.toml"),
        "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nbatch_size = 10\nthreads = 1\nstrategy = \"in-place\"\npre_images = false\n",
    );
    let out = t
        .std_cmd()
        .env(mongoshift::failpoint::ENV, "batch.after_commit:2")
        .arg("up")
        .output()
        .expect("run");
    assert!(!out.status.success(), "the fail point stopped the run");
    assert_eq!(t.count("users", doc! { "n": 1 }), 20);
    t.cmd().arg("up").assert().success();
    assert_eq!(
        t.count("users", doc! { "n": 1 }),
        90,
        "every type reached once"
    );
    assert_eq!(t.count("users", doc! { "n": { "$ne": 1 } }), 0);
    assert_eq!(state(&t), "applied");
}
