//! `up --distributed` of a copy and swap: the copy is shared by the
//! workers' partitions; the catch-up and the swap run once, on one worker.

use std::process::Child;
use std::time::{Duration, Instant};

use bson::{doc, Document};

use crate::distributed::{all_succeed, partitions, worker};
use crate::util::{block_on, TestDb};
use crate::wat::counter;

const MIG: &str = "20260501000000_count";

/// n += 1 on every user as a rewrite (not idempotent: a document done
/// twice shows n = 2).
fn rewrite_migration(t: &TestDb) {
    t.write(&format!("{MIG}/guest.wat"), &counter(true, None));
    t.write(
        &format!("{MIG}/migration.toml"),
        "description = \"n += 1\"\nkind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nstrategy = \"rewrite\"\nbatch_size = 500\nthreads = 1\n",
    );
}

/// What the application writes while the copy runs: 100 documents
/// changed, 100 deleted, 100 inserted (each keeps `n` its last field).
fn application_writes(t: &TestDb) {
    let users = t.db().collection::<Document>("users");
    block_on(async {
        users
            .update_many(
                doc! { "_id": { "$gte": 0, "$lt": 100 } },
                doc! { "$set": { "email": "changed@example.com" } },
            )
            .await
            .expect("update");
        users
            .delete_many(doc! { "_id": { "$gte": 100, "$lt": 200 } })
            .await
            .expect("delete");
        let fresh = (1_000_000..1_000_100).map(|i| {
            doc! { "_id": i, "name": "new", "email": "new@example.com", "age": 30, "n": 0 }
        });
        users.insert_many(fresh).await.expect("insert");
    });
}

#[test]
fn a_rewrites_copy_is_shared_and_one_worker_catches_up_and_swaps() {
    let (_server, t) = TestDb::alone("dist_rewrite");
    let n = 60_000;
    t.seed_users(n);
    rewrite_migration(&t);
    let out = t
        .cmd()
        .args(["plan", "--distributed", "--partition-docs", "10000"])
        .assert()
        .success()
        .get_output()
        .clone();
    let (stdout, _) = crate::util::text(&out);
    assert!(
        stdout.contains(&format!(
            "{MIG}: shared by workers: about 6 partitions; a rewrite's copy is shared; \
             its catch-up and swap run on the one worker"
        )),
        "{stdout}"
    );
    let docs = ["--partition-docs", "10000"];
    let mut doomed = worker(&t, "k0", &docs);
    let survivors: Vec<Child> = (0..2)
        .map(|i| worker(&t, &format!("s{i}"), &docs))
        .collect();
    // Once the doomed worker is copying a partition, the application
    // writes (the swap waits for that partition, so they land during the
    // copy) and the worker is killed.
    let started = Instant::now();
    let held = doc! { "owner": "k0", "state": "running", "checkpoint": { "$ne": null } };
    while t.count("mongoshift_partitions", held.clone()) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "k0 never copied"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    application_writes(&t);
    doomed.kill().expect("SIGKILL");
    doomed.wait().expect("reap");
    let logs = all_succeed(survivors);

    let total = n as u64 - 100 + 100;
    assert_eq!(t.count("users", doc! {}), total, "{logs}");
    assert_eq!(
        t.count("users", doc! { "n": 1 }),
        total,
        "every document transformed exactly once, those written during the copy too\n{logs}"
    );
    assert_eq!(
        t.count("users", doc! { "email": "changed@example.com" }),
        100
    );
    assert_eq!(
        t.count("users", doc! { "_id": { "$gte": 100, "$lt": 200 } }),
        0
    );
    assert_eq!(t.count("users", doc! { "name": "new", "n": 1 }), 100);
    let ledger = t.ledger();
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    assert_eq!(ledger[0].get_str("state"), Ok("applied"), "{ledger:?}");
    let rewrite = ledger[0].get_document("rewrite").expect("a rewrite");
    assert_eq!(rewrite.get_str("phase"), Ok("done"), "{ledger:?}");
    let parts = partitions(&t);
    assert_eq!(parts.len(), 6, "{parts:?}");
    assert!(parts.iter().all(|p| p.get_str("state") == Ok("done")));
    let owners: std::collections::BTreeSet<&str> = parts
        .iter()
        .filter_map(|p| p.get_str("owner").ok())
        .collect();
    assert!(owners.len() >= 2, "the copy was shared: {owners:?}");
    assert!(
        parts.iter().any(|p| p.get_i64("token").unwrap_or(0) >= 2),
        "the killed worker's partition was taken over: {parts:?}"
    );
    let names = block_on(t.db().list_collection_names()).expect("collections");
    assert!(
        !names.iter().any(|c| c.starts_with("mongoshift_shadow_")),
        "the shadow became the collection: {names:?}"
    );
    // Each worker told how far the whole migration is.
    assert!(
        logs.contains(&format!("{MIG}: partitions: ")) && logs.contains("over every worker"),
        "{logs}"
    );
    // Exactly one worker ran the swap.
    assert_eq!(logs.matches("rewrite: swap (").count(), 1, "{logs}");

    // And it rolls back like any rewrite.
    t.cmd().args(["down", "--steps", "1"]).assert().success();
    assert_eq!(t.count("users", doc! { "n": 0 }), total);
}
