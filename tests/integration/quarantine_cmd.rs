//! `mongoshift quarantine list|show|export|replay`: what a run set aside,
//! looked at and run again through fixed files.

use bson::{doc, Bson, Document};

use crate::util::{block_on, text, TestDb};
use crate::wat::counter;

const MIG: &str = "20260601000000_count";

/// n += 1 on every user; documents whose `_id` is a multiple of
/// `fail_every` fail.
fn migration(t: &TestDb, fail_every: Option<i32>) {
    t.write(&format!("{MIG}/guest.wat"), &counter(false, fail_every));
    t.write(
        &format!("{MIG}/migration.toml"),
        "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nbatch_size = 100\nstrategy = \"in-place\"\n",
    );
}

fn stdout_of(t: &TestDb, args: &[&str]) -> String {
    let out = t.cmd().args(args).assert().success().get_output().clone();
    text(&out).0
}

/// 1,000 users, every 100th set aside: `_id` 0, 100, ..., 900.
fn set_aside(name: &str) -> TestDb {
    let t = TestDb::new(name);
    t.seed_users(1_000);
    migration(&t, Some(100));
    t.cmd()
        .args(["up", "--on-error", "quarantine"])
        .assert()
        .success();
    t
}

#[test]
fn list_show_and_export_what_a_run_set_aside() {
    let t = set_aside("quar_look");
    let all = stdout_of(&t, &["quarantine", "list"]);
    assert!(
        all.contains(&format!("{MIG}: 10 document(s) set aside")),
        "{all}"
    );
    let listed = stdout_of(&t, &["quarantine", "list", MIG]);
    assert_eq!(listed.lines().filter(|l| l.starts_with("100 ")).count(), 1);
    assert!(listed.contains("10 document(s) of"), "{listed}");

    let shown = stdout_of(&t, &["quarantine", "show", MIG, "--document", "300"]);
    assert!(shown.starts_with("_id: 300\n"), "{shown}");
    assert!(shown.contains("collection: users"), "{shown}");
    assert!(
        shown.contains("\"email\": \"user300@example.com\""),
        "{shown}"
    );
    assert_eq!(shown.matches("_id: ").count(), 1, "{shown}");

    // Canonical Extended JSON, one document a line, every type kept.
    let file = t.dir.path().join("set-aside.jsonl");
    t.cmd()
        .args(["quarantine", "export", MIG, "-o"])
        .arg(&file)
        .assert()
        .success();
    let lines: Vec<String> = std::fs::read_to_string(&file)
        .expect("export")
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines.len(), 10);
    let first: serde_json::Value = serde_json::from_str(&lines[0]).expect("json");
    assert_eq!(first["_id"], serde_json::json!({ "$numberInt": "0" }));
    let back = Bson::try_from(first).expect("extended json");
    let users = t.find("users", doc! { "_id": 0 });
    assert_eq!(Bson::Document(users[0].clone()), back, "exactly as stored");

    // Bad input: names what was asked for.
    let out = t
        .cmd()
        .args(["quarantine", "show", MIG, "--document", "12345"])
        .assert()
        .failure()
        .get_output()
        .clone();
    assert!(
        text(&out)
            .1
            .contains(&format!("{MIG} set no document with _id 12345 aside")),
        "{}",
        text(&out).1
    );
    let out = t
        .cmd()
        .args(["quarantine", "show", MIG, "--document", "{\"$oid\": 1"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(text(&out).1.contains("is not an _id in Extended JSON"));
}

#[test]
fn replay_after_a_fix_clears_what_now_succeeds_and_ends_applied() {
    let t = set_aside("quar_replay");
    let users = t.db().collection::<Document>("users");
    // Since the run: the application changed one set-aside document and
    // deleted another.
    block_on(users.update_one(
        doc! { "_id": 200 },
        doc! { "$set": { "email": "changed@example.com" } },
    ))
    .expect("update");
    block_on(users.delete_one(doc! { "_id": 300 })).expect("delete");

    // A partial fix: multiples of 200 still fail.
    migration(&t, Some(200));
    let out = t
        .cmd()
        .args(["quarantine", "replay", MIG, "--json"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["entries"], 10);
    assert_eq!(report["gone"], 1, "{report}");
    assert_eq!(report["failing"], 5, "0, 200, 400, 600, 800: {report}");
    assert_eq!(report["fixed"], 4, "100, 500, 700, 900: {report}");
    let ledger = t.ledger();
    assert_eq!(ledger[0].get_str("state"), Ok("applied_with_errors"));
    assert_eq!(ledger[0].get_i64("quarantined"), Ok(5));
    assert_eq!(t.count("users", doc! { "n": 1 }), 990 + 4);
    // The one that fails again is set aside as it is now.
    let q = t.find("mongoshift_quarantine", doc! { "original._id": 200 });
    assert_eq!(
        q[0].get_document("original")
            .expect("original")
            .get_str("email"),
        Ok("changed@example.com")
    );

    // The whole fix.
    migration(&t, None);
    let out = stdout_of(&t, &["quarantine", "replay", MIG]);
    assert!(
        out.contains(&format!(
            "{MIG}: 5 of 5 set-aside document(s) transformed and cleared"
        )),
        "{out}"
    );
    assert!(
        out.contains("its files changed since it was applied"),
        "{out}"
    );
    assert_eq!(t.count("users", doc! {}), 999);
    assert_eq!(t.count("users", doc! { "n": 1 }), 999, "each exactly once");
    assert_eq!(
        t.count(
            "users",
            doc! { "_id": 200, "email": "changed@example.com", "n": 1 }
        ),
        1,
        "transformed as it is now"
    );
    assert_eq!(t.count("mongoshift_quarantine", doc! {}), 0);
    let ledger = t.ledger();
    assert_eq!(ledger[0].get_str("state"), Ok("applied"), "{ledger:?}");
    assert_eq!(ledger[0].get_i64("quarantined"), Ok(0));
    let accepted = ledger[0].get_array("accepted_changes").expect("recorded");
    assert_eq!(accepted.len(), 2, "{ledger:?}");
    // The ledger records the files on disk: status shows them unchanged.
    let status = stdout_of(&t, &["status"]);
    assert!(!status.contains("CHANGED"), "{status}");
    // Nothing left: a replay does nothing, and says so.
    let again = stdout_of(&t, &["quarantine", "replay", MIG]);
    assert!(again.contains("0 of 0"), "{again}");
    // And the migration rolls back from its pre-images, the replayed too.
    t.cmd().args(["down"]).assert().success();
    assert_eq!(t.count("users", doc! { "n": 0 }), 999);
}

#[test]
fn replay_refuses_what_it_cannot_run_by_name() {
    let t = TestDb::new("quar_refuse");
    t.seed_users(10);
    migration(&t, Some(5));
    let out = t
        .cmd()
        .args(["quarantine", "replay", "20990101000000_nope"])
        .assert()
        .failure()
        .get_output()
        .clone();
    assert!(
        text(&out).1.contains("no migration 20990101000000_nope"),
        "{}",
        text(&out).1
    );
    let out = t
        .cmd()
        .args(["quarantine", "replay", MIG])
        .assert()
        .failure()
        .get_output()
        .clone();
    let err = text(&out).1;
    assert!(
        err.contains(&format!(
            "cannot replay the quarantined documents of {MIG}: it is not applied"
        )),
        "{err}"
    );
    assert_eq!(t.count("users", doc! { "n": 1 }), 0, "nothing written");
    assert!(t.ledger().is_empty());
}

#[test]
fn a_replay_killed_part_way_is_finished_by_another_and_undone_by_down() {
    let t = TestDb::new("quar_killed");
    t.seed_users(1_000);
    let manifest = |every: Option<i32>| {
        t.write(&format!("{MIG}/guest.wat"), &counter(false, every));
        t.write(
            &format!("{MIG}/migration.toml"),
            "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nbatch_size = 10\nstrategy = \"in-place\"\n",
        );
    };
    // Every 20th of 1,000 set aside: 50 entries, five batches to replay.
    manifest(Some(20));
    t.cmd()
        .args(["up", "--on-error", "quarantine"])
        .assert()
        .success();
    assert_eq!(t.count("mongoshift_quarantine", doc! {}), 50);
    manifest(None);
    // Killed (SIGKILL, lock left behind) after its second batch committed.
    t.cmd()
        .args(["quarantine", "replay", MIG])
        .env("MONGOSHIFT_FAILPOINT", "batch.after_commit:2")
        .env("MONGOSHIFT_LOCK_TTL", "2")
        .assert()
        .failure();
    let left = t.count("mongoshift_quarantine", doc! {});
    assert_eq!(
        left, 30,
        "two batches committed, each with its entries cleared"
    );
    assert_eq!(t.count("users", doc! { "n": 1 }), 950 + 20);
    // Run again: it takes the expired lock over and finishes the rest once.
    let out = stdout_of(&t, &["quarantine", "replay", MIG]);
    assert!(out.contains("30 of 30"), "{out}");
    assert_eq!(
        t.count("users", doc! { "n": 1 }),
        1_000,
        "each exactly once"
    );
    assert_eq!(t.ledger()[0].get_str("state"), Ok("applied"));
    // And the whole migration, replayed documents included, rolls back.
    t.cmd().args(["down"]).assert().success();
    assert_eq!(t.count("users", doc! { "n": 0 }), 1_000);
}
