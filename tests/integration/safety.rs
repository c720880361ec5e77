//! Safe execution: exact resume after SIGKILL, a server restart mid-run,
//! rollback from pre-images, quarantine, dry run.

use std::process::Stdio;
use std::time::Duration;

use bson::doc;
use predicates::prelude::*;

use crate::util::{block_on, text, TestDb};
use crate::wat::{counter, for_each, guest, ID};

const MIG: &str = "20260301000000_count";

fn counting_migration(t: &TestDb, backward: bool, fail_every: Option<i32>, extra: &str) {
    t.write(&format!("{MIG}/guest.wat"), &counter(backward, fail_every));
    t.write(
        &format!("{MIG}/migration.toml"),
        &format!("description = \"n += 1\"\nkind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nbatch_size = 500\nstrategy = \"in-place\"\n{extra}"),
    );
}

/// n += 1 for every document but `_id` = `bad`, which fails.
fn failing_at(t: &TestDb, bad: i32, extra: &str) {
    let body = for_each(&format!(
        "(if (i32.eq {ID} (i32.const {bad})) (then (call $emit (i32.const 3) (i32.const 8192) (i32.const 32))) (else (call $emit (i32.const 1) (local.get $doc) (i32.load (local.get $doc))) (i32.store (i32.sub (global.get $cursor) (i32.const 5)) (i32.add (i32.load (i32.sub (global.get $cursor) (i32.const 5))) (i32.const 1)))))"
    ));
    t.write(&format!("{MIG}/guest.wat"), &guest(1, false, "", &body));
    t.write(
        &format!("{MIG}/migration.toml"),
        &format!("kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nbatch_size = 500\nstrategy = \"in-place\"\n{extra}"),
    );
}

#[test]
fn killed_at_many_points_the_run_resumes_exactly_once() {
    let t = TestDb::new("kill_resume");
    t.seed_users(200_000);
    counting_migration(&t, false, None, "");
    let delays_ms = [
        300, 450, 550, 600, 650, 700, 750, 800, 850, 900, 950, 1000, 1050,
    ];
    let mut progress = Vec::new();
    let kills = t.up_killed_after(&delays_ms, || {
        progress.push(t.count("users", doc! { "n": 1 }))
    });
    let out = t.cmd().arg("up").assert().success().get_output().clone();
    let (stdout, stderr) = text(&out);
    assert!(
        kills >= 10,
        "only {kills} runs were killed before finishing; progress {progress:?}\n{stdout}{stderr}"
    );
    assert_eq!(t.count("users", doc! {}), 200_000);
    assert_eq!(
        t.count("users", doc! { "n": 1 }),
        200_000,
        "every document exactly once; progress per kill: {progress:?}"
    );
    let ledger = t.ledger();
    assert_eq!(ledger[0].get_str("state"), Ok("applied"));
    assert_eq!(
        ledger[0].get_i64("matched"),
        Ok(200_000),
        "counters carried across resumes"
    );

    // The same as an uninterrupted run.
    let u = TestDb::new("kill_reference");
    u.seed_users(200_000);
    counting_migration(&u, false, None, "");
    u.cmd().arg("up").assert().success();
    assert!(
        t.raw_users() == u.raw_users(),
        "the interrupted run's collection equals the uninterrupted one"
    );
}

#[test]
fn the_server_going_away_mid_run_is_retried_or_fails_cleanly_and_up_completes() {
    // secantusd-rs 0.5.3-beta.196 can hit a WiredTiger panic when restarted
    // after transactions that wrote several collections (see the README), so
    // the server "goes away" here by having every connection cut for a while.
    let t = TestDb::new("server_away");
    t.seed_users(60_000);
    counting_migration(&t, false, None, "");
    let upstream = t
        .uri
        .trim_start_matches("mongodb://")
        .split(['/', '?'])
        .next()
        .unwrap_or_default()
        .to_string();
    let proxy = crate::util::CuttableProxy::start(&upstream);
    let run = |p: &crate::util::CuttableProxy| {
        let mut c = t.std_cmd();
        c.env("MONGODB_URI", &p.uri)
            .arg("up")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c.spawn().expect("spawn")
    };
    let child = run(&proxy);
    std::thread::sleep(Duration::from_millis(900));
    proxy.cut(Duration::from_millis(1500));
    let out = child.wait_with_output().expect("wait");
    let (_, stderr) = text(&out);
    assert!(
        out.status.success() || out.status.code() == Some(1),
        "clean exit: {stderr}"
    );
    if !out.status.success() {
        assert!(
            stderr.contains(&format!("while applying migration {MIG}")),
            "{stderr}"
        );
    }
    let again = run(&proxy).wait_with_output().expect("wait");
    assert!(again.status.success(), "{}", text(&again).1);
    assert_eq!(
        t.count("users", doc! { "n": 1 }),
        60_000,
        "every document exactly once"
    );
    assert_eq!(t.ledger()[0].get_str("state"), Ok("applied"));
}

#[test]
fn down_after_a_pre_image_run_restores_the_original_exactly() {
    let t = TestDb::new("pre_images");
    t.seed_users(5_000);
    let original = t.raw_users();
    // No backward transform: pre-images are kept by default.
    counting_migration(&t, false, None, "");
    t.cmd()
        .arg("plan")
        .assert()
        .success()
        .stdout(predicate::str::contains("exactly-once"));
    t.cmd().arg("up").assert().success();
    assert_eq!(t.count("users", doc! { "n": 1 }), 5_000);
    let backup = format!("mongoshift_preimages_{MIG}");
    assert_eq!(t.pre_images(&backup).len(), 5_000);
    t.cmd().arg("down").assert().success();
    assert!(t.raw_users() == original, "byte-for-byte equal after down");
    assert_eq!(t.count(&backup, doc! {}), 0, "pre-images consumed");
    assert_eq!(t.ledger()[0].get_str("state"), Ok("rolled_back"));
}

#[test]
fn deleted_documents_come_back_and_prune_drops_pre_images() {
    let t = TestDb::new("pre_images_delete");
    t.seed_users(3_000);
    let original = t.raw_users();
    // Deletes documents with an even _id.
    let body = for_each(&format!("(if (i32.eqz (i32.rem_u {ID} (i32.const 2))) (then (call $emit_tag (i32.const 2))) (else (call $emit_tag (i32.const 0))))"));
    t.write(&format!("{MIG}/guest.wat"), &guest(1, false, "", &body));
    t.write(
        &format!("{MIG}/migration.toml"),
        "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nstrategy = \"in-place\"\n",
    );
    t.cmd().arg("up").assert().success();
    assert_eq!(t.count("users", doc! {}), 1_500);
    t.cmd().arg("down").assert().success();
    assert!(
        t.raw_users() == original,
        "deleted documents re-inserted, identical"
    );

    t.cmd().arg("up").assert().success();
    t.cmd()
        .arg("prune")
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "dropped mongoshift_preimages_{MIG}"
        )));
    t.cmd()
        .arg("down")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no pre-images were kept"));
}

#[test]
fn down_after_a_failed_run_undoes_exactly_what_was_committed() {
    let t = TestDb::new("failed_down");
    t.seed_users(10_000);
    let original = t.raw_users();
    // n += 1, but _id 7321 fails: batches 1-14 (500 each) commit, batch 15 does not.
    failing_at(&t, 7_321, "");
    t.cmd()
        .arg("up")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "document _id 7321 in batch 15 failed: this document cannot be migrated",
        ));
    assert_eq!(
        t.count("users", doc! { "n": 1 }),
        7_000,
        "batches 1-14 committed"
    );
    assert_eq!(t.ledger()[0].get_str("state"), Ok("failed"));
    t.cmd().arg("down").assert().success();
    assert!(
        t.raw_users() == original,
        "exactly the committed batches undone"
    );
}

#[test]
fn quarantine_sets_failing_documents_aside_and_applies_the_rest() {
    let t = TestDb::new("quarantine");
    t.seed_users(20_000);
    counting_migration(&t, false, Some(1_000), "");
    t.cmd()
        .args(["up", "--on-error", "quarantine"])
        .assert()
        .success();
    let q = t.find("mongoshift_quarantine", doc! { "migration": MIG });
    assert_eq!(q.len(), 20, "exactly every 1000th document");
    let mut ids: Vec<i32> = q
        .iter()
        .map(|d| {
            d.get_document("original")
                .expect("original")
                .get_i32("_id")
                .expect("_id")
        })
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..20).map(|k| k * 1000).collect::<Vec<_>>());
    assert!(q[0].get_str("error").is_ok());
    assert_eq!(
        t.count("users", doc! { "n": 1 }),
        19_980,
        "everything else applied"
    );
    assert_eq!(
        t.count("users", doc! { "n": 0, "_id": { "$mod": [1000, 0] } }),
        20,
        "quarantined documents untouched"
    );
    assert_eq!(t.ledger()[0].get_str("state"), Ok("applied_with_errors"));
    assert_eq!(t.ledger()[0].get_i64("quarantined"), Ok(20));
    t.cmd()
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains("applied_with_errors"));
}

#[test]
fn dry_run_reports_without_writing() {
    let t = TestDb::new("dry_run");
    t.seed_users(3_000);
    let original = t.raw_users();
    counting_migration(&t, false, Some(1_000), "");
    let out = t
        .cmd()
        .args(["up", "--dry-run", "--sample", "1500"])
        .assert()
        .success()
        .get_output()
        .clone();
    let (stdout, _) = text(&out);
    assert!(
        stdout
            .contains("1500 of 3000 documents transformed: keep 0, replace 1498, delete 0, fail 2"),
        "{stdout}"
    );
    assert!(
        stdout.contains("-> replace")
            && stdout.contains("-> fail")
            && stdout.contains("before:")
            && stdout.contains("documents/s"),
        "{stdout}"
    );
    assert!(t.raw_users() == original, "nothing written");
    assert!(t.ledger().is_empty());
}

#[test]
fn one_transaction_for_the_whole_migration_is_all_or_nothing() {
    let t = TestDb::new("tx_migration");
    t.seed_users(3_000);
    let original = t.raw_users();
    failing_at(
        &t,
        2_600,
        "transactions = \"migration\"\npre_images = false\n",
    );
    t.cmd()
        .arg("plan")
        .assert()
        .success()
        .stdout(predicate::str::contains("all or nothing"));
    t.cmd()
        .arg("up")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("document _id 2600"));
    assert!(t.raw_users() == original, "nothing committed");
    // Without the failing document it applies as a whole.
    counting_migration(
        &t,
        false,
        None,
        "transactions = \"migration\"\npre_images = false\n",
    );
    t.cmd().arg("up").assert().success();
    assert_eq!(t.count("users", doc! { "n": 1 }), 3_000);
}

#[test]
fn a_collection_validator_rejection_names_the_document() {
    let t = TestDb::new("validator");
    block_on(t.db().run_command(doc! {
        "create": "users",
        "validator": { "$jsonSchema": { "bsonType": "object", "properties": { "n": { "bsonType": "int", "maximum": 0 } } } },
    }))
    .expect("create with validator");
    t.seed_users(1_500);
    counting_migration(&t, false, None, "pre_images = false\n");
    t.cmd()
        .arg("up")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "the server refused to write document _id 0 in batch 1",
        ));
    assert_eq!(
        t.count("users", doc! { "n": 0 }),
        1_500,
        "nothing of the batch written"
    );
}

#[test]
fn a_standalone_server_runs_without_transactions_and_says_so() {
    let server = crate::util::LocalServer::start(&["--standalone"]);
    let t = TestDb::on(&server.uri, "standalone_wasm");
    t.seed_users(2_000);
    counting_migration(&t, false, None, "");
    t.cmd()
        .arg("plan")
        .assert()
        .success()
        .stdout(predicate::str::contains("at-least-once"));
    t.cmd().arg("up").assert().success();
    assert_eq!(t.count("users", doc! { "n": 1 }), 2_000);
    t.cmd().arg("down").assert().success();
    assert_eq!(
        t.count("users", doc! { "n": 0 }),
        2_000,
        "pre-images restored without transactions"
    );
}

#[test]
fn outputs_are_checked_against_the_manifest_schema() {
    let t = TestDb::new("schema");
    t.seed_users(1_200);
    let original = t.raw_users();
    counting_migration(&t, false, None, "schema = { type = \"object\", required = [\"n\"], properties = { n = { type = \"integer\", maximum = 0 } } }\n");
    t.cmd()
        .arg("up")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "document _id 0 in batch 1 failed: the output does not match the manifest's schema",
        ))
        .stderr(predicate::str::contains("/n"));
    assert!(t.raw_users() == original, "nothing written");

    // A schema the outputs satisfy.
    counting_migration(&t, false, None, "schema = { type = \"object\", properties = { n = { type = \"integer\", minimum = 1 } } }\n");
    t.cmd().arg("up").assert().success();
    assert_eq!(t.count("users", doc! { "n": 1 }), 1_200);

    // A schema that is not one.
    let bad = TestDb::new("schema_bad");
    counting_migration(&bad, false, None, "schema = { type = 12 }\n");
    bad.cmd()
        .arg("up")
        .assert()
        .code(6)
        .stderr(predicate::str::contains(
            "field `schema` is not a valid JSON Schema",
        ));
}
