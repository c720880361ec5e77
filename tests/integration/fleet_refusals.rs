//! A fleet's databases refused one by one: a ledger recording other files,
//! a lock held by another run, a database this user may only read. The database is reported by name, the others
//! go on, and nothing is written to the refused one.

use bson::{doc, DateTime, Document};

use crate::cross_auth::{as_user, auth_server, create_user};
use crate::tenants::{Tenants, MIGRATIONS};
use crate::util::{block_on, text, TestDb};

/// A server-side migration every tenant gets.
const ADD_TIER: &str = "kind = \"update\"\ncollection = \"users\"\n\n[[forward]]\nop = \"update_many\"\nfilter = {}\nupdate = { \"$set\" = { tier = \"free\" } }\n";

#[test]
fn a_tenant_whose_ledger_records_other_files_is_refused_alone() {
    let f = Tenants::new("fleet_changed", 3, 20);
    f.fleet_cmd().arg("up").assert().success();
    // Tenant 1 was migrated with other files than the project's.
    block_on(
        f.db(1)
            .collection::<Document>(mongoshift::LEDGER_COLLECTION)
            .update_one(
                doc! { "_id": MIGRATIONS[0] },
                doc! { "$set": { "checksum": "sha256:0000" } },
            ),
    )
    .expect("tamper");
    // A new migration for every tenant.
    f.t.write("20991231000000_add_tier.toml", ADD_TIER);
    let out = f
        .fleet_cmd()
        .arg("up")
        .assert()
        // The exit code of a changed file, the one failure of the run.
        .code(3)
        .get_output()
        .clone();
    let (stdout, stderr) = text(&out);
    let refused = &f.names[1];
    assert!(
        stdout.contains("2 done, 1 failed, 0 skipped")
            && stdout.contains(&format!("failed: {refused}: "))
            && stdout.contains(&format!(
                "migration {} was applied with checksum sha256:0000",
                MIGRATIONS[0]
            )),
        "{stdout}\n{stderr}"
    );
    for i in [0, 2] {
        assert_eq!(f.count(i, doc! { "tier": "free" }), 20, "tenant {i}");
    }
    assert_eq!(
        f.count(1, doc! { "tier": { "$exists": true } }),
        0,
        "nothing written to the refused tenant"
    );
}

#[test]
fn a_tenant_locked_by_another_run_is_waited_for_then_reported() {
    let f = Tenants::new("fleet_locked", 3, 20);
    let now = DateTime::now();
    block_on(
        f.db(2)
            .collection::<Document>(mongoshift::LOCK_COLLECTION)
            .insert_one(doc! {
                "_id": "migrations",
                "token": 7_i64,
                "owner": { "host": "deploy-box-3", "pid": 4242_i64, "run_id": "other-run" },
                "acquired_at": now,
                "renewed_at": now,
                "expires_at": DateTime::from_millis(now.timestamp_millis() + 600_000),
            }),
    )
    .expect("insert lease");
    let out = f
        .fleet_cmd()
        .args(["--lock-timeout", "1", "up"])
        .assert()
        .failure()
        .get_output()
        .clone();
    let (stdout, stderr) = text(&out);
    let locked = &f.names[2];
    assert!(
        stdout.contains("2 done, 1 failed, 0 skipped")
            && stdout.contains(&format!(
                "failed: {locked}: the migration lock is held by deploy-box-3 pid 4242"
            )),
        "{stdout}\n{stderr}"
    );
    assert!(
        f.states(2).is_empty(),
        "nothing recorded in the locked tenant"
    );
    for i in [0, 1] {
        assert_eq!(f.states(i).len(), MIGRATIONS.len(), "tenant {i}");
    }
}

#[test]
fn a_tenant_this_user_may_not_write_is_reported_and_the_others_go_on() {
    let (server, root) = auth_server();
    let t = TestDb::on(&root, "fleet_auth");
    let tenants: Vec<String> = (0..3).map(|i| format!("fleet_auth_{i}")).collect();
    for name in &tenants {
        block_on(
            t.client
                .database(name)
                .collection::<Document>("users")
                .insert_many((0..10_i64).map(|i| doc! { "_id": i })),
        )
        .expect("seed tenant");
    }
    create_user(
        &root,
        "ops",
        vec![
            doc! { "role": "readWrite", "db": &tenants[0] }.into(),
            doc! { "role": "read", "db": &tenants[1] }.into(),
            doc! { "role": "readWrite", "db": &tenants[2] }.into(),
        ],
    );
    t.write("20991231000000_add_tier.toml", ADD_TIER);
    let list = t.write("../tenants.txt", &tenants.join("\n"));
    let out = t
        .cmd()
        .env("MONGODB_URI", as_user(&server.uri, "ops", "ops-pw"))
        .env_remove("MONGOSHIFT_DB")
        .arg("--databases-from")
        .arg(&list)
        .arg("up")
        .output()
        .expect("run");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("2 done, 1 failed, 0 skipped")
            && stdout.contains(&format!("failed: {}: ", tenants[1])),
        "{stdout}\n{stderr}"
    );
    assert!(!format!("{stdout}{stderr}").contains("ops-pw"));
    let tiered = |name: &str| {
        block_on(
            t.client
                .database(name)
                .collection::<Document>("users")
                .count_documents(doc! { "tier": "free" }),
        )
        .expect("count")
    };
    assert_eq!(
        (
            tiered(&tenants[0]),
            tiered(&tenants[1]),
            tiered(&tenants[2])
        ),
        (10, 0, 10)
    );
}
