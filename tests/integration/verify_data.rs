//! `verify --data`: an applied migration's documents checked against what its
//! run kept (a rewrite's backup, the pre-images, or the backward transform),
//! clean after a run; an altered or deleted document found by its `_id`,
//! application writes since the migration reported apart; each migration
//! that cannot be checked refused by name.

#![allow(clippy::unwrap_used)]

use bson::{doc, Bson, Document};
use predicates::prelude::*;

use crate::util::{block_on, packed_record, text, unpack_zdocs, TestDb};
use crate::wat::counter;

const MIG: &str = "20260701000000_count";

/// The counter guest (`n += 1`) on `users`, with or without a backward.
fn counting(t: &TestDb, backward: bool) {
    t.write(&format!("{MIG}/guest.wat"), &counter(backward, None));
    t.write(
        &format!("{MIG}/migration.toml"),
        "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nbatch_size = 500\n",
    );
}

/// `verify --data MIG --json`, with its exit code and report.
fn verify_json(t: &TestDb) -> (i32, serde_json::Value) {
    let out = t
        .cmd()
        .args(["verify", "--data", MIG, "--json"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}{stderr}"));
    (out.status.code().unwrap(), report)
}

/// The differences listed, as (`_id`, kind, changed since).
fn listed(report: &serde_json::Value) -> Vec<(String, String, bool)> {
    report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["id"].as_str().unwrap().to_string(),
                d["kind"].as_str().unwrap().to_string(),
                d["changed_since"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn update(t: &TestDb, coll: &str, filter: Document, change: Document) {
    let c = t.db().collection::<Document>(coll);
    let r = block_on(c.update_one(filter, change)).unwrap();
    assert_eq!(r.matched_count, 1);
}

#[test]
fn a_rewrite_checks_clean_against_its_backup_and_an_altered_original_is_caught() {
    let t = TestDb::new("verify_rewrite");
    t.seed_users(2_500);
    counting(&t, false);
    t.cmd()
        .args(["up", "--strategy", "rewrite"])
        .assert()
        .success();
    t.cmd()
        .args(["verify", "--data", MIG])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(format!(
            "the backup mongoshift_backup_{MIG} transformed again"
        )))
        .stdout(predicate::str::contains(
            "checked 2500, equal 2500, differing 0, missing 0, extra 0, changed since 0",
        ))
        .stdout(predicate::str::contains("the data matches"));

    // The source of truth says otherwise: an original altered in the backup.
    let backup = format!("mongoshift_backup_{MIG}");
    update(
        &t,
        &backup,
        doc! { "_id": 1234 },
        doc! { "$set": { "age": 1000 } },
    );
    let out = t
        .cmd()
        .args(["verify", "--data", MIG, "--show", "5"])
        .assert()
        .code(3)
        .get_output()
        .clone();
    let (stdout, stderr) = text(&out);
    assert!(stdout.contains("different       _id 1234: age"), "{stdout}");
    assert!(
        stdout.contains("differing 1, missing 0, extra 0"),
        "{stdout}"
    );
    assert!(
        stderr.contains(&format!(
            "1 document(s) of {MIG} differ from what its run kept"
        )),
        "{stderr}"
    );
}

/// The application's writes after a rewrite's swap are read from the change
/// stream across the swap's rename: each is listed by its `_id`, marked as
/// changed since the migration, and none is an error.
#[test]
fn application_writes_after_a_rewrite_are_told_apart() {
    let t = TestDb::new("verify_since");
    t.seed_users(1_200);
    counting(&t, false);
    t.cmd()
        .args(["up", "--strategy", "rewrite"])
        .assert()
        .success();
    update(&t, "users", doc! { "_id": 7 }, doc! { "$set": { "n": 99 } });
    let users = t.db().collection::<Document>("users");
    block_on(users.delete_one(doc! { "_id": 9 })).unwrap();
    block_on(users.insert_one(doc! { "_id": 5000, "n": 0 })).unwrap();
    let (code, report) = verify_json(&t);
    assert_eq!(report["checked"], 1_201, "{report}");
    assert_eq!(report["equal"], 1_198, "{report}");
    assert_eq!(report["since"]["by"], "change-stream", "{report}");
    assert_eq!(
        listed(&report),
        vec![
            ("7".into(), "different".into(), true),
            ("9".into(), "missing".into(), true),
            ("5000".into(), "extra".into(), true),
        ]
    );
    assert_eq!(report["differences"][0]["fields"], serde_json::json!(["n"]));
    assert_eq!((code, &report["changed_since"]), (0, &serde_json::json!(3)));
    // An original altered by hand since the run: a difference the
    // application's writes do not explain, so an error.
    let backup = format!("mongoshift_backup_{MIG}");
    update(
        &t,
        &backup,
        doc! { "_id": 11 },
        doc! { "$set": { "n": 40 } },
    );
    let (code, report) = verify_json(&t);
    assert_eq!(
        (code, &report["changed_since"]),
        (3, &serde_json::json!(3)),
        "{report}"
    );
    assert!(
        listed(&report).contains(&("11".into(), "different".into(), false)),
        "{report}"
    );
}

#[test]
fn an_in_place_run_checks_clean_against_its_pre_images_and_a_deleted_one_is_missing() {
    let t = TestDb::new("verify_pre_images");
    t.seed_users(1_500);
    counting(&t, false);
    t.cmd()
        .args(["up", "--strategy", "in-place"])
        .assert()
        .success();
    t.cmd()
        .args(["verify", "--data", MIG])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(format!(
            "the pre-images in mongoshift_preimages_{MIG} transformed again"
        )))
        .stdout(predicate::str::contains("checked 1500, equal 1500"));

    let pre = format!("mongoshift_preimages_{MIG}");
    // The original of 42, changed inside its batch record.
    let records = t.db().collection::<bson::RawDocumentBuf>(&pre);
    let record = block_on(records.find_one(doc! { "ids": 42 }))
        .unwrap()
        .expect("42 is kept");
    let entries: Vec<bson::RawDocumentBuf> = unpack_zdocs(&record)
        .expect("a packed record")
        .into_iter()
        .map(|e| {
            let mut e = Document::try_from(e.as_ref()).unwrap();
            if e.get_i32("_id") == Ok(42) {
                e.get_document_mut("doc").unwrap().insert("name", "X");
            }
            bson::RawDocumentBuf::from_document(&e).unwrap()
        })
        .collect();
    let id = record.get("_id").unwrap().unwrap().to_raw_bson();
    block_on(records.replace_one(
        doc! { "_id": Bson::try_from(id).unwrap() },
        packed_record(&entries),
    ))
    .unwrap();
    let users = t.db().collection::<Document>("users");
    block_on(users.delete_one(doc! { "_id": 77 })).unwrap();
    let (code, report) = verify_json(&t);
    assert_eq!(code, 3, "{report}");
    assert_eq!(report["check"]["kind"], "pre-images", "{report}");
    assert_eq!(report["differing"], 1, "{report}");
    assert_eq!(report["missing"], 1, "{report}");
    assert_eq!(
        listed(&report),
        vec![
            ("42".into(), "different".into(), false),
            ("77".into(), "missing".into(), false),
        ]
    );
    assert_eq!(
        report["differences"][0]["fields"],
        serde_json::json!(["name"])
    );
}

#[test]
fn a_backward_module_checks_by_round_trip_and_against_pre_images_where_kept() {
    let t = TestDb::new("verify_round_trip");
    t.seed_users(800);
    counting(&t, true);
    t.cmd()
        .args(["up", "--strategy", "in-place"])
        .assert()
        .success();
    t.cmd()
        .args(["verify", "--data", MIG])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "taken back by the backward transform and forward again (a round trip)",
        ))
        .stdout(predicate::str::contains("checked 800, equal 800"));

    // With pre-images, the way back must give them: an altered `n` is caught.
    t.cmd().args(["down"]).assert().success();
    t.cmd()
        .args(["up", "--strategy", "in-place", "--pre-images"])
        .assert()
        .success();
    update(&t, "users", doc! { "_id": 5 }, doc! { "$set": { "n": 5 } });
    let (_, report) = verify_json(&t);
    assert_eq!(report["check"]["kind"], "round-trip", "{report}");
    assert_eq!(
        report["check"]["pre_images"],
        format!("mongoshift_preimages_{MIG}")
    );
    assert_eq!(listed(&report)[0].0, "5", "{report}");
    assert_eq!(listed(&report)[0].1, "not-pre-image", "{report}");
    assert_eq!(report["differences"][0]["fields"], serde_json::json!(["n"]));
}

#[test]
fn verify_data_refuses_what_it_cannot_check_by_name() {
    let t = TestDb::new("verify_refusals");
    t.seed_users(50);
    counting(&t, false);
    let refused = |id: &str, says: &str| {
        let out = t
            .cmd()
            .args(["verify", "--data", id])
            .assert()
            .code(1)
            .get_output()
            .clone();
        let (_, stderr) = text(&out);
        assert!(stderr.contains(says), "{stderr}");
        assert!(
            stderr.contains(&format!("cannot verify the data of {id}")),
            "{stderr}"
        );
    };
    refused("20990101000000_nope", "no migration 20990101000000_nope in");
    refused(MIG, "it is pending, not applied");

    t.cmd()
        .args(["up", "--strategy", "in-place", "--no-pre-images"])
        .assert()
        .success();
    refused(
        MIG,
        "its run kept no pre-images and its module has no backward transform",
    );

    t.write(
        "20260702000000_flag.toml",
        "kind = \"update\"\ncollection = \"users\"\n[[forward]]\nop = \"update_many\"\nfilter = {}\nupdate = { \"$set\" = { flagged = true } }\n",
    );
    t.cmd().arg("up").assert().success();
    refused(
        "20260702000000_flag",
        "an update migration runs on the server and has no transform",
    );
}
