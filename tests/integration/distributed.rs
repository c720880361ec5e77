//! `up --distributed`: one migration shared by several worker processes
//! through partitions recorded in the target database.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use bson::{doc, Document};

use crate::util::{block_on, text, TestDb};
use crate::wat::counter;

const MIG: &str = "20260501000000_count";
const NEXT: &str = "20260502000000_after.toml";

/// n += 1 on every user (not idempotent: a document done twice shows
/// n = 2), then a server-side update that runs once, after it.
fn migrations(t: &TestDb) {
    t.write(&format!("{MIG}/guest.wat"), &counter(false, None));
    t.write(
        &format!("{MIG}/migration.toml"),
        "description = \"n += 1\"\nkind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nbatch_size = 500\nthreads = 1\n",
    );
    t.write(
        NEXT,
        "kind = \"update\"\ncollection = \"users\"\n\n[[forward]]\nop = \"update_many\"\nfilter = {}\nupdate = { \"$set\" = { after = true } }\n",
    );
}

pub(crate) fn worker(t: &TestDb, name: &str, extra: &[&str]) -> Child {
    t.std_cmd()
        .args(["up", "--distributed", "--worker", name])
        .args(extra)
        .env("MONGOSHIFT_LOCK_TTL", "2")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn a worker")
}

pub(crate) fn finished(child: Child) -> (bool, String) {
    let out = child.wait_with_output().expect("worker output");
    let (stdout, stderr) = text(&out);
    (out.status.success(), format!("{stdout}{stderr}"))
}

/// Waits for every worker; asserts each succeeded; their logs.
pub(crate) fn all_succeed(workers: Vec<Child>) -> String {
    let mut logs = String::new();
    for w in workers {
        let (ok, log) = finished(w);
        assert!(ok, "{log}");
        logs.push_str(&log);
    }
    logs
}

pub(crate) fn partitions(t: &TestDb) -> Vec<Document> {
    t.find("mongoshift_partitions", doc! {})
}

/// Every document once, both migrations applied, the second after the first.
fn assert_exactly_once(t: &TestDb, n: u64, logs: &str) {
    assert_eq!(t.count("users", doc! {}), n, "{logs}");
    assert_eq!(
        t.count("users", doc! { "n": 1 }),
        n,
        "every document transformed exactly once\n{logs}"
    );
    assert_eq!(t.count("users", doc! { "after": true }), n, "{logs}");
    let ledger = t.ledger();
    assert_eq!(ledger.len(), 2, "{ledger:?}");
    assert_eq!(ledger[0].get_str("state"), Ok("applied"), "{ledger:?}");
    assert_eq!(ledger[0].get_i64("matched"), Ok(n as i64), "{ledger:?}");
    assert_eq!(ledger[1].get_str("state"), Ok("applied"), "{ledger:?}");
    let applied = ledger[0].get_datetime("applied_at").expect("applied_at");
    let next = ledger[1].get_datetime("started_at").expect("started_at");
    assert!(
        next >= applied,
        "the next migration started after: {ledger:?}"
    );
    assert!(partitions(t)
        .iter()
        .all(|p| p.get_str("state") == Ok("done")));
}

#[test]
fn four_workers_transform_every_document_exactly_once() {
    let (_server, t) = TestDb::alone("dist_four");
    // About 100 s on a 2-core machine (200,000 took 49 s).
    let n = 400_000;
    t.seed_users(n);
    migrations(&t);
    let workers: Vec<Child> = (0..4)
        .map(|i| worker(&t, &format!("w{i}"), &["--partition-docs", "10000"]))
        .collect();
    let logs = all_succeed(workers);
    assert_exactly_once(&t, n as u64, &logs);
    let parts = partitions(&t);
    assert_eq!(parts.len(), 40, "{parts:?}");
    let owners: std::collections::BTreeSet<&str> = parts
        .iter()
        .filter_map(|p| p.get_str("owner").ok())
        .collect();
    assert!(owners.len() >= 2, "the work was shared: {owners:?}");
}

#[test]
fn killed_workers_partitions_are_taken_over_after_their_lease() {
    let (_server, t) = TestDb::alone("dist_kill");
    let n = 100_000;
    t.seed_users(n);
    migrations(&t);
    let docs = ["--partition-docs", "10000"];
    let mut doomed: Vec<Child> = (0..2)
        .map(|i| worker(&t, &format!("k{i}"), &docs))
        .collect();
    let survivors: Vec<Child> = (0..2)
        .map(|i| worker(&t, &format!("s{i}"), &docs))
        .collect();
    // Kill once the doomed workers hold partitions part-way.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        let held = t.count(
            "mongoshift_partitions",
            doc! { "owner": { "$in": ["k0", "k1"] }, "state": "running", "checkpoint": { "$ne": null } },
        );
        if held >= 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for c in &mut doomed {
        c.kill().expect("SIGKILL");
        c.wait().expect("reap");
    }
    let logs = all_succeed(survivors);
    assert_exactly_once(&t, n as u64, &logs);
    let tokens: Vec<i64> = partitions(&t)
        .iter()
        .filter_map(|p| p.get_i64("token").ok())
        .collect();
    assert!(
        tokens.iter().any(|t| *t > 1),
        "a partition was claimed again: {tokens:?}"
    );
}

#[test]
fn a_late_worker_joins_and_takes_work() {
    let (_server, t) = TestDb::alone("dist_late");
    let n = 100_000;
    t.seed_users(n);
    migrations(&t);
    let docs = ["--partition-docs", "5000"];
    let first = worker(&t, "early", &docs);
    let started = Instant::now();
    while t.count("mongoshift_partitions", doc! { "state": "done" }) == 0
        && started.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut listed = String::new();
    for _ in 0..20 {
        let out = t
            .cmd()
            .args(["workers", "--json"])
            .output()
            .expect("workers");
        listed = text(&out).0;
        if listed.contains("\"early\"") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        listed.contains("\"early\""),
        "`workers` lists the live worker: {listed}"
    );
    let late = worker(&t, "late", &docs);
    let (ok1, log1) = finished(first);
    let (ok2, log2) = finished(late);
    let logs = format!("{log1}{log2}");
    assert!(ok1 && ok2, "{logs}");
    assert_exactly_once(&t, n as u64, &logs);
    assert!(
        t.count("mongoshift_partitions", doc! { "owner": "late" }) >= 1,
        "the late worker took partitions\n{logs}"
    );
}

#[test]
fn pinned_workers_cover_every_document_once() {
    let t = TestDb::new("dist_pinned");
    let n = 30_000;
    t.seed_users(n);
    migrations(&t);
    let workers: Vec<Child> = (0..3)
        .map(|k| {
            worker(
                &t,
                &format!("p{k}"),
                &["--partition", &k.to_string(), "--of", "3"],
            )
        })
        .collect();
    let logs = all_succeed(workers);
    assert_exactly_once(&t, n as u64, &logs);
    let parts = partitions(&t);
    assert_eq!(parts.len(), 3);
    for (k, p) in parts.iter().enumerate() {
        assert_eq!(
            p.get_str("owner"),
            Ok(format!("p{k}").as_str()),
            "{parts:?}"
        );
    }
}

#[test]
fn bad_choices_and_other_versions_are_refused_by_name() {
    let t = TestDb::new("dist_bad");
    t.seed_users(2_000);
    migrations(&t);
    let (ok, log) = finished(worker(&t, "x", &["--partition", "3", "--of", "3"]));
    assert!(!ok && log.contains("K must be below N"), "{log}");
    assert_eq!(
        t.count("mongoshift_partitions", doc! {}),
        0,
        "nothing written"
    );
    // Worker 0 of 2 does its share and waits for partition 1.
    let mut first = worker(&t, "p0", &["--partition", "0", "--of", "2"]);
    let started = Instant::now();
    while t.count("mongoshift_partitions", doc! { "state": "done" }) == 0
        && started.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (ok, log) = finished(worker(&t, "p1", &["--partition", "1", "--of", "4"]));
    assert!(!ok && log.contains("recorded as 2 partitions"), "{log}");
    let out = t.cmd().arg("status").output().expect("status");
    let (status, _) = text(&out);
    assert!(
        status.contains(&format!("{MIG}: 1 done, 0 running, 1 pending of 2")),
        "{status}"
    );
    let parts = t.db().collection::<Document>("mongoshift_partitions");
    block_on(parts.update_many(doc! {}, doc! { "$set": { "checksum": "0ther" } })).expect("tamper");
    let (ok, log) = finished(worker(&t, "p1", &["--partition", "1", "--of", "2"]));
    assert!(!ok && log.contains("checksum 0ther"), "{log}");
    block_on(parts.update_many(doc! {}, doc! { "$set": { "tool_version": "0.0.0-other" } }))
        .expect("tamper");
    let (ok, log) = finished(worker(&t, "p1", &["--partition", "1", "--of", "2"]));
    assert!(
        !ok && log.contains("mongoshift version 0.0.0-other"),
        "{log}"
    );
    // The same files and version again, but the collection dropped and
    // re-created since the split.
    let entry = &t.ledger()[0];
    let checksum = entry.get_str("checksum").expect("checksum").to_string();
    let version = entry.get_str("tool_version").expect("version").to_string();
    block_on(parts.update_many(
        doc! {},
        doc! { "$set": { "checksum": checksum, "tool_version": version } },
    ))
    .expect("restore");
    block_on(t.db().collection::<Document>("users").drop()).expect("drop users");
    t.seed_users(2_000);
    let (ok, log) = finished(worker(&t, "p1", &["--partition", "1", "--of", "2"]));
    assert!(!ok && log.contains("dropped and re-created"), "{log}");
    first.kill().expect("kill");
    first.wait().expect("reap");
}

#[test]
fn plan_says_how_each_migration_would_run_distributed() {
    let t = TestDb::new("dist_plan");
    t.seed_users(3_000);
    migrations(&t);
    t.write("20260503000000_whole/guest.wat", &counter(false, None));
    t.write(
        "20260503000000_whole/migration.toml",
        "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\ntransactions = \"migration\"\n",
    );
    let out = t
        .cmd()
        .args(["plan", "--distributed", "--partition-docs", "1000"])
        .assert()
        .success()
        .get_output()
        .clone();
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains(&format!("{MIG}: shared by workers: about 3 partitions")),
        "{stdout}"
    );
    assert!(
        stdout.contains("20260502000000_after: on one worker: a server-side update runs once"),
        "{stdout}"
    );
    assert!(
        stdout.contains("20260503000000_whole: refused: `transactions = \"migration\"`"),
        "{stdout}"
    );
    // And up refuses it before anything runs.
    let (ok, log) = finished(worker(&t, "w", &[]));
    assert!(!ok && log.contains("cannot run distributed"), "{log}");
    assert_eq!(t.count("users", doc! { "n": 1 }), 0);
    assert!(t.ledger().is_empty());
}

#[test]
fn a_run_rolled_back_is_split_afresh_when_applied_again() {
    let t = TestDb::new("dist_again");
    let n = 20_000;
    t.seed_users(n);
    t.write(&format!("{MIG}/guest.wat"), &counter(false, None));
    t.write(
        &format!("{MIG}/migration.toml"),
        "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nbatch_size = 500\n",
    );
    let docs = ["--partition-docs", "5000"];
    let run = || {
        all_succeed(
            (0..2)
                .map(|i| worker(&t, &format!("w{i}"), &docs))
                .collect(),
        )
    };
    run();
    assert_eq!(t.count("users", doc! { "n": 1 }), n as u64);
    // Rolled back from its pre-images, then applied again by other workers.
    t.cmd().args(["down", "--steps", "1"]).assert().success();
    assert_eq!(t.count("users", doc! { "n": 0 }), n as u64);
    block_on(
        t.db()
            .collection::<Document>("users")
            .delete_many(doc! { "_id": { "$gte": 10_000 } }),
    )
    .expect("delete half");
    let logs = run();
    assert_eq!(t.count("users", doc! { "n": 1 }), 10_000, "{logs}");
    let parts = partitions(&t);
    // Split again for the 10,000 documents left, each claimed once.
    assert_eq!(parts.len(), 2, "{parts:?}");
    assert!(parts
        .iter()
        .all(|p| p.get_str("state") == Ok("done") && p.get_i64("token") == Ok(1)));
    let ledger = t.ledger();
    assert_eq!(ledger[0].get_str("state"), Ok("applied"), "{ledger:?}");
    assert_eq!(ledger[0].get_i64("matched"), Ok(10_000), "{ledger:?}");
}
