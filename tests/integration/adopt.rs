//! Adopting mongoshift on a database that already has some migrations:
//! `baseline` (applied by hand or by another tool).

use bson::{doc, DateTime};
use predicates::prelude::*;

use crate::util::{block_on, text, TestDb};

const A: &str = "20260101000000_set_a";
const B: &str = "20260102000000_set_b";
const C: &str = "20260103000000_set_c";

/// `$set field = 1` on every user, with backward steps when `backward`.
fn set_field(field: &str, backward: bool) -> String {
    let mut s = format!(
        "description = \"set {field}\"\nkind = \"update\"\ncollection = \"users\"\n\n[[forward]]\nop = \"update_many\"\nfilter = {{}}\nupdate = {{ \"$set\" = {{ {field} = 1 }} }}\n"
    );
    if backward {
        s.push_str(&format!(
            "\n[[backward]]\nop = \"update_many\"\nfilter = {{}}\nupdate = {{ \"$unset\" = {{ {field} = \"\" }} }}\n"
        ));
    }
    s
}

/// A without a way back, B and C with backward steps.
fn three(t: &TestDb) {
    t.seed_users(5);
    t.write(&format!("{A}.toml"), &set_field("a", false));
    t.write(&format!("{B}.toml"), &set_field("b", true));
    t.write(&format!("{C}.toml"), &set_field("c", true));
}

fn states(t: &TestDb) -> Vec<(String, String)> {
    t.ledger()
        .iter()
        .map(|e| {
            (
                e.get_str("_id").expect("id").to_string(),
                e.get_str("state").expect("state").to_string(),
            )
        })
        .collect()
}

#[test]
fn baseline_records_without_running_and_up_runs_only_the_rest() {
    let t = TestDb::new("baseline_rest");
    three(&t);
    let out = t
        .cmd()
        .args(["baseline", "--to", B])
        .assert()
        .success()
        .get_output()
        .clone();
    let (stdout, _) = text(&out);
    assert!(stdout.contains(&format!("baselined {A}")), "{stdout}");
    assert!(stdout.contains(&format!("baselined {B}")), "{stdout}");
    assert!(stdout.contains("2 migration(s) baselined"), "{stdout}");
    assert_eq!(
        states(&t),
        [
            (A.into(), "baselined".into()),
            (B.into(), "baselined".into())
        ]
    );
    assert_eq!(
        t.ledger()[0].get_str("baselined_from"),
        Ok("mongoshift baseline")
    );
    assert_eq!(t.count("users", doc! { "a": 1 }), 0, "nothing was run");
    assert_eq!(t.count("users", doc! { "b": 1 }), 0, "nothing was run");
    // The audit trail says who baselined what.
    let out = t
        .cmd()
        .args(["audit", "--json", "--limit", "1"])
        .output()
        .expect("audit");
    let (stdout, _) = text(&out);
    let record: serde_json::Value =
        serde_json::from_str(stdout.lines().next().expect("a record")).expect("json");
    assert_eq!(
        (&record["command"], &record["status"]),
        (&serde_json::json!("baseline"), &serde_json::json!("ok")),
        "{record}"
    );

    let out = t
        .cmd()
        .arg("status")
        .assert()
        .success()
        .get_output()
        .clone();
    let (stdout, _) = text(&out);
    let line = |id: &str| {
        stdout
            .lines()
            .find(|l| l.contains(id))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line(A).contains("baselined (from mongoshift baseline)"),
        "{stdout}"
    );
    assert!(line(C).contains("pending"), "{stdout}");

    t.cmd()
        .arg("plan")
        .assert()
        .success()
        .stdout(predicate::str::contains(C))
        .stdout(predicate::str::contains(A).not());
    t.cmd().arg("up").assert().success();
    assert_eq!(t.count("users", doc! { "c": 1 }), 5, "only C ran");
    assert_eq!(t.count("users", doc! { "a": 1 }), 0, "A was not run");
    assert_eq!(t.ledger()[2].get_str("state"), Ok("applied"));
    t.cmd()
        .arg("up")
        .assert()
        .success()
        .stdout(predicate::str::contains("nothing to do"));
}

#[test]
fn down_of_a_baselined_migration_runs_its_backward_or_is_refused_naming_it() {
    let t = TestDb::new("baseline_down");
    three(&t);
    t.cmd().args(["baseline", "--to", B]).assert().success();
    t.cmd().arg("up").assert().success();
    // A has no way back: the whole rollback is refused before anything runs.
    t.cmd()
        .args(["down", "--steps", "3"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "migration {A} cannot be rolled back"
        )));
    assert_eq!(t.count("users", doc! { "c": 1 }), 5, "nothing rolled back");
    assert_eq!(states(&t)[2].1, "applied");
    // B's backward steps run like an applied migration's.
    block_on(
        t.db()
            .collection::<bson::Document>("users")
            .update_many(doc! {}, doc! { "$set": { "b": 1 } }),
    )
    .expect("the hand-run B");
    t.cmd().args(["down", "--steps", "2"]).assert().success();
    assert_eq!(t.count("users", doc! { "c": 1 }), 0);
    assert_eq!(t.count("users", doc! { "b": 1 }), 0, "B's backward ran");
    assert_eq!(
        states(&t),
        [
            (A.into(), "baselined".into()),
            (B.into(), "rolled_back".into()),
            (C.into(), "rolled_back".into()),
        ]
    );
    // Rolled back, B runs again with the next up.
    t.cmd().arg("up").assert().success();
    assert_eq!(t.count("users", doc! { "b": 1, "c": 1 }), 5);
}

#[test]
fn baseline_is_refused_when_the_ledger_holds_any_of_them_naming_which() {
    let t = TestDb::new("baseline_held");
    three(&t);
    t.cmd().args(["up", "--to", A]).assert().success();
    let before = t.ledger();
    t.cmd()
        .args(["baseline", "--to", B])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "cannot baseline: the ledger already records {A}; nothing was recorded"
        )));
    assert_eq!(t.ledger(), before, "nothing half-written");
    // Baselined twice: refused the same way.
    let u = TestDb::new("baseline_twice");
    three(&u);
    u.cmd().args(["baseline", "--to", A]).assert().success();
    u.cmd()
        .args(["baseline", "--to", C])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!("already records {A};")));
    assert_eq!(states(&u), [(A.into(), "baselined".into())]);
}

#[test]
fn baseline_to_an_unknown_id_is_refused_naming_it() {
    let t = TestDb::new("baseline_unknown");
    three(&t);
    t.cmd()
        .args(["baseline", "--to", "20260109000000_nope"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "no migration 20260109000000_nope in",
        ));
    assert!(t.ledger().is_empty(), "nothing recorded");
}

#[test]
fn baseline_waits_for_the_lock_and_writes_nothing_without_it() {
    let t = TestDb::new("baseline_lock");
    three(&t);
    let now = DateTime::now();
    block_on(
        t.db()
            .collection::<bson::Document>(mongoshift::LOCK_COLLECTION)
            .insert_one(doc! {
                "_id": "migrations",
                "token": 7_i64,
                "owner": { "host": "build-agent-7", "pid": 4242_i64, "run_id": "other-run" },
                "acquired_at": now,
                "renewed_at": now,
                "expires_at": DateTime::from_millis(now.timestamp_millis() + 600_000),
            }),
    )
    .expect("insert lease");
    t.cmd()
        .args(["--lock-timeout", "1", "baseline", "--to", B])
        .assert()
        .code(4)
        .stderr(predicate::str::contains(
            "the migration lock is held by build-agent-7",
        ));
    assert!(t.ledger().is_empty(), "nothing recorded");
}

/// A and C applied; B, merged later from another branch, sorts between.
fn b_arrives_late(t: &TestDb) {
    t.seed_users(5);
    t.write(&format!("{A}.toml"), &set_field("a", true));
    t.write(&format!("{C}.toml"), &set_field("c", true));
    t.cmd().arg("up").assert().success();
    t.write(&format!("{B}.toml"), &set_field("b", true));
}

#[test]
fn an_out_of_order_migration_is_refused_by_default_naming_both_ids() {
    let t = TestDb::new("ooo_refused");
    b_arrives_late(&t);
    let before = t.ledger();
    for cmd in ["plan", "up"] {
        t.cmd()
            .arg(cmd)
            .assert()
            .code(1)
            .stderr(predicate::str::contains(format!(
                "{B} is pending but sorts before {C}, which is already applied"
            )))
            .stderr(predicate::str::contains("--allow-out-of-order"));
    }
    assert_eq!(t.ledger(), before, "nothing written");
    assert_eq!(t.count("users", doc! { "b": 1 }), 0, "nothing run");
    // A baselined migration counts as applied too.
    let u = TestDb::new("ooo_baselined");
    u.seed_users(1);
    u.write(&format!("{A}.toml"), &set_field("a", true));
    u.write(&format!("{C}.toml"), &set_field("c", true));
    u.cmd().args(["baseline", "--to", C]).assert().success();
    u.write(&format!("{B}.toml"), &set_field("b", true));
    u.cmd()
        .arg("up")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "{B} is pending but sorts before {C}"
        )));
}

#[test]
fn allowed_out_of_order_is_recorded_and_down_rolls_back_in_applied_order() {
    let t = TestDb::new("ooo_allowed");
    b_arrives_late(&t);
    t.cmd()
        .args(["plan", "--allow-out-of-order"])
        .assert()
        .success()
        .stdout(predicate::str::contains(B));
    t.cmd()
        .args(["up", "--allow-out-of-order"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "applied 1 migration(s): {B}"
        )));
    assert_eq!(t.count("users", doc! { "b": 1 }), 5);
    let ledger = t.ledger();
    let b = ledger
        .iter()
        .find(|e| e.get_str("_id") == Ok(B))
        .expect("B");
    assert_eq!(b.get_bool("out_of_order"), Ok(true));
    let c = ledger
        .iter()
        .find(|e| e.get_str("_id") == Ok(C))
        .expect("C");
    assert!(c.get("out_of_order").is_none(), "C ran in order");
    // B was applied last: it is the first rolled back.
    t.cmd()
        .args(["down", "--steps", "1"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "rolled back 1 migration(s): {B}"
        )));
    assert_eq!(t.count("users", doc! { "b": 1 }), 0);
    assert_eq!(t.count("users", doc! { "c": 1 }), 5, "C stays");
    t.cmd()
        .args(["down", "--steps", "2"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "rolled back 2 migration(s): {C}, {A}"
        )));
}

#[test]
fn allow_out_of_order_in_the_config_file_applies_it() {
    let t = TestDb::new("ooo_config");
    b_arrives_late(&t);
    std::fs::write(
        t.migrations().join("../mongoshift.toml"),
        "allow_out_of_order = true\n",
    )
    .expect("config");
    t.cmd().arg("up").assert().success();
    assert_eq!(t.count("users", doc! { "b": 1 }), 5);
    let ledger = t.ledger();
    let b = ledger
        .iter()
        .find(|e| e.get_str("_id") == Ok(B))
        .expect("B");
    assert_eq!(b.get_bool("out_of_order"), Ok(true));
}
