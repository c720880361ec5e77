//! Cross-collection migrations (contract version 2): outputs to other
//! collections and lookups, against the real server.

use bson::doc;
use predicates::prelude::*;

use crate::util::{block_on, text, TestDb};

const MIG: &str = "20260301000000_copy";

/// The version-2 example guest of guest-sdk/ABI.md: keeps each user and
/// upserts `{_id, n: <keys in its lookups document>}` into `copies`.
fn emit_v2() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../guest-sdk/wat/emit_v2.wat"
    ))
    .expect("guest-sdk/wat/emit_v2.wat")
}

fn migration(t: &TestDb, manifest_extra: &str) {
    t.write(&format!("{MIG}/guest.wat"), &emit_v2());
    t.write(
        &format!("{MIG}/migration.toml"),
        &format!(
            "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nbatch_size = 7\n{manifest_extra}"
        ),
    );
}

fn orgs(t: &TestDb) {
    block_on(
        t.db()
            .collection::<bson::Document>("orgs")
            .insert_many((0..3).map(|i| doc! { "_id": i, "name": format!("Org {i}") })),
    )
    .expect("seed orgs");
}

#[test]
fn outputs_are_written_once_each_counted_and_undone_by_down() {
    let t = TestDb::new("cross_outputs");
    t.seed_users(50);
    orgs(&t);
    let users = t.raw_users();
    migration(
        &t,
        "outputs = [\"copies\"]\n[[lookup]]\nfrom = \"orgs\"\nlocal_field = \"age\"\nforeign_field = \"_id\"\nas = \"org\"\n",
    );
    let out = t.cmd().arg("plan").assert().success().get_output().clone();
    let (plan, _) = text(&out);
    assert!(plan.contains("outputs to copies"), "{plan}");
    assert!(
        plan.contains("looks up `org` in orgs (_id = age, at most 1000)"),
        "{plan}"
    );
    assert!(
        plan.contains("in place: a cross-collection migration"),
        "{plan}"
    );
    t.cmd().arg("up").assert().success();
    // One key (`org`) in every lookups document.
    assert_eq!(t.count("copies", doc! { "n": 1 }), 50);
    assert_eq!(t.count("copies", doc! {}), 50);
    assert!(t.raw_users() == users, "the users are kept");
    let entry = &t.ledger()[0];
    assert_eq!(
        entry
            .get_document("checkpoint")
            .and_then(|c| c.get_document("outputs"))
            .expect("outputs counted in the checkpoint"),
        &doc! { "copies": 50_i64 }
    );
    t.cmd()
        .args(["status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("50 to copies"));
    // No backward transform: down puts every touched collection back.
    t.cmd().arg("down").assert().success();
    assert_eq!(t.count("copies", doc! {}), 0, "inserted outputs deleted");
    assert!(t.raw_users() == users);
    assert_eq!(t.ledger()[0].get_str("state"), Ok("rolled_back"));
}

#[test]
fn an_output_to_an_undeclared_collection_fails_at_the_first_batch_with_nothing_written() {
    let t = TestDb::new("cross_undeclared");
    t.seed_users(20);
    let users = t.raw_users();
    migration(&t, "outputs = [\"elsewhere\"]\n");
    let out = t.cmd().arg("up").output().expect("run");
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "migration {MIG}: document _id 0: an output (upsert) to `copies`, which is not among the manifest's outputs ([elsewhere])"
        )),
        "{stderr}"
    );
    assert_eq!(t.count("copies", doc! {}), 0);
    assert!(t.raw_users() == users);
    assert_eq!(t.ledger()[0].get_str("state"), Ok("failed"));
}

#[test]
fn a_cross_collection_migration_refuses_a_rewrite_and_no_transactions() {
    let t = TestDb::new("cross_refusals");
    t.seed_users(5);
    migration(&t, "outputs = [\"copies\"]\n");
    t.cmd()
        .args(["up", "--strategy", "rewrite"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "a cross-collection migration (outputs, lookups) runs in place",
        ));
    t.cmd()
        .args(["up", "--transactions", "none"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!(
            "migration {MIG} writes to other collections (outputs): it runs with transactions"
        )));
    assert_eq!(t.count("copies", doc! {}), 0);
}

/// `emit_v2` writing with another op (0 insert, 1 upsert, 2 delete) to
/// another collection of six letters.
pub fn variant(op: u8, collection: &str) -> String {
    assert_eq!(collection.len(), 6);
    let wat = emit_v2();
    let upsert = "(call $u8 (i32.const 1))          ;; upsert";
    assert!(wat.contains(upsert) && wat.contains("\"copies\""));
    wat.replace(upsert, &format!("(call $u8 (i32.const {op}))"))
        .replace("\"copies\"", &format!("\"{collection}\""))
}

fn variant_migration(t: &TestDb, op: u8, collection: &str, manifest_extra: &str) {
    migration(t, manifest_extra);
    t.write(&format!("{MIG}/guest.wat"), &variant(op, collection));
}

fn failed_with(t: &TestDb, expected: &str) {
    let out = t.cmd().arg("up").output().expect("run");
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains(expected), "{expected:?} in {stderr}");
}

#[test]
fn an_insert_whose_id_is_already_there_names_both_and_writes_nothing_of_its_batch() {
    let t = TestDb::new("cross_duplicate");
    t.seed_users(20);
    let users = t.raw_users();
    block_on(
        t.db()
            .collection::<bson::Document>("copies")
            .insert_one(doc! { "_id": 10, "mine": true }),
    )
    .expect("insert");
    variant_migration(&t, 0, "copies", "outputs = [\"copies\"]\n");
    failed_with(
        &t,
        &format!(
            "migration {MIG}: document _id 10: its output inserts _id 10 into `copies`, which already holds a document with that _id"
        ),
    );
    // Batch 1 (_id 0 to 6) committed; batch 2 (7 to 13) wrote nothing.
    assert_eq!(t.count("copies", doc! {}), 8);
    assert_eq!(
        t.count(
            "copies",
            doc! { "_id": { "$gte": 7, "$lte": 13 }, "n": { "$exists": true } }
        ),
        0
    );
    assert_eq!(t.count("copies", doc! { "_id": 10, "mine": true }), 1);
    assert!(t.raw_users() == users);
}

#[test]
fn outputs_to_a_view_or_a_time_series_collection_are_refused_before_anything_is_written() {
    let t = TestDb::new("cross_view");
    t.seed_users(5);
    block_on(
        t.db()
            .create_collection("viewed")
            .view_on("users".to_string())
            .pipeline(vec![]),
    )
    .expect("create view");
    variant_migration(&t, 1, "viewed", "outputs = [\"viewed\"]\n");
    failed_with(
        &t,
        &format!("migration {MIG}: output `viewed` is a view: a view cannot be written"),
    );
    let ts = block_on(
        t.db().create_collection("series").timeseries(
            mongodb::options::TimeseriesOptions::builder()
                .time_field("at".to_string())
                .build(),
        ),
    );
    ts.expect("create a time-series collection");
    variant_migration(&t, 1, "series", "outputs = [\"series\"]\n");
    failed_with(
        &t,
        &format!("migration {MIG}: output `series` is a time-series collection"),
    );
    assert_eq!(t.count("users", doc! { "n": 0 }), 5);
}

#[test]
fn a_lookup_on_a_missing_collection_or_field_gives_no_matches_unless_required() {
    let t = TestDb::new("cross_lookup_missing");
    t.seed_users(10);
    let lookup = "[[lookup]]\nfrom = \"nothing\"\nlocal_field = \"nofield\"\nforeign_field = \"_id\"\nas = \"org\"\n";
    migration(&t, &format!("outputs = [\"copies\"]\n{lookup}"));
    t.cmd().arg("up").assert().success();
    assert_eq!(t.count("copies", doc! { "n": 1 }), 10);
    t.cmd().arg("down").assert().success();
    migration(
        &t,
        &format!("outputs = [\"copies\"]\n{lookup}required = true\n"),
    );
    failed_with(
        &t,
        &format!("migration {MIG}: document _id 0: lookup `org`: no match in nothing for its `nofield` and the lookup is required; nothing of its batch was written"),
    );
    assert_eq!(t.count("copies", doc! {}), 0);
}

#[test]
fn a_lookup_with_more_matches_than_its_limit_fails_naming_the_document() {
    let t = TestDb::new("cross_lookup_limit");
    t.seed_users(10);
    block_on(
        t.db()
            .collection::<bson::Document>("orgs")
            .insert_many((0..3).map(|i| doc! { "_id": i, "n": 0 })),
    )
    .expect("seed orgs");
    migration(
        &t,
        "outputs = [\"copies\"]\n[[lookup]]\nfrom = \"orgs\"\nlocal_field = \"n\"\nforeign_field = \"n\"\nas = \"orgs\"\nlimit = 2\n",
    );
    t.cmd().arg("plan").assert().success().stdout(predicate::str::contains(
        "warning: lookup `orgs` finds its matches by orgs.n, which no index starts with: each batch scans orgs; create an index on {n: 1} first",
    ));
    failed_with(
        &t,
        &format!("migration {MIG}: document _id 0: lookup `orgs`: 3 matches in orgs, more than its limit of 2 (raise `limit` in the manifest if that many are expected)"),
    );
    assert_eq!(t.count("copies", doc! {}), 0);
}

#[test]
fn a_dry_run_counts_and_shows_outputs_per_collection_and_writes_nothing() {
    let t = TestDb::new("cross_dry_run");
    t.seed_users(30);
    orgs(&t);
    migration(
        &t,
        "outputs = [\"copies\"]\n[[lookup]]\nfrom = \"orgs\"\nlocal_field = \"age\"\nforeign_field = \"_id\"\nas = \"org\"\n",
    );
    let out = t
        .cmd()
        .args(["up", "--dry-run"])
        .assert()
        .success()
        .get_output()
        .clone();
    let (stdout, _) = text(&out);
    assert!(stdout.contains("outputs to copies: 30"), "{stdout}");
    assert!(
        stdout.contains("upsert from _id 0: {\"_id\":0,\"n\":1}"),
        "{stdout}"
    );
    let names = block_on(t.db().list_collection_names()).expect("list");
    assert!(!names.contains(&"copies".to_string()), "nothing created");
    assert!(t.ledger().is_empty());
}
