//! The lease lock: waiting, take-over, unlock, fencing, and concurrent runs.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bson::{doc, DateTime};
use mongoshift::{
    ConnectOptions, Lease, Ledger, LedgerEntry, LockOptions, MigrateError, NoProgress, Progress,
    State, Target,
};
use predicates::prelude::*;

use crate::util::{block_on, text, TestDb};

/// Three non-idempotent migrations: applied twice, a counter would show it.
fn write_counting_migrations(t: &TestDb) {
    for (i, field) in ["n", "m", "k"].iter().enumerate() {
        t.write(
            &format!("2026010{}000000_inc_{field}.toml", i + 1),
            &format!(
                "kind = \"update\"\ncollection = \"users\"\n[[forward]]\nop = \"update_many\"\nfilter = {{}}\nupdate = {{ \"$inc\" = {{ {field} = 1 }} }}\n\n[[forward]]\nop = \"update_many\"\nfilter = {{}}\nupdate = [ {{ \"$set\" = {{ last = \"{field}\" }} }} ]\n"
            ),
        );
    }
}

fn fake_lease(t: &TestDb, host: &str, pid: u32, expires_in_ms: i64) {
    let now = DateTime::now();
    block_on(
        t.db()
            .collection::<bson::Document>(mongoshift::LOCK_COLLECTION)
            .insert_one(doc! {
                "_id": "migrations",
                "token": 7_i64,
                "owner": { "host": host, "pid": pid as i64, "run_id": "other-run" },
                "acquired_at": now,
                "renewed_at": now,
                "expires_at": DateTime::from_millis(now.timestamp_millis() + expires_in_ms),
            }),
    )
    .expect("insert lease");
}

#[test]
fn a_live_lease_blocks_up_until_the_timeout_and_unlock_refuses_it() {
    let t = TestDb::new("live_lease");
    t.seed_users(10);
    write_counting_migrations(&t);
    fake_lease(&t, "build-agent-7", 4242, 600_000);
    t.cmd()
        .args(["--lock-timeout", "1", "up"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains(
            "the migration lock is held by build-agent-7 pid 4242",
        ))
        .stderr(predicate::str::contains("run `mongoshift unlock`"));
    assert_eq!(t.ledger().len(), 0);
    assert_eq!(t.count("users", doc! { "n": 1 }), 0);

    t.cmd()
        .arg("unlock")
        .assert()
        .code(4)
        .stderr(predicate::str::contains("looks alive"))
        .stderr(predicate::str::contains("--force"));
    t.cmd()
        .args(["unlock", "--force"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "cleared the lock held by build-agent-7 pid 4242 (forced)",
        ));
    t.cmd()
        .arg("unlock")
        .assert()
        .success()
        .stdout(predicate::str::contains("not held"));
    t.cmd().arg("up").assert().success();
    assert_eq!(t.count("users", doc! { "n": 1, "m": 1, "k": 1 }), 10);
}

#[test]
fn unlock_clears_the_lease_of_a_dead_process_on_this_host() {
    let t = TestDb::new("dead_lease");
    // A process that has exited: its pid is free.
    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    let pid = child.id();
    child.wait().expect("wait");
    fake_lease(&t, &hostname(), pid, 600_000);
    t.cmd()
        .arg("unlock")
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "process {pid} no longer exists on this host"
        )));
    // and a lease of a live process on this host is refused
    let t2 = TestDb::new("live_local_lease");
    fake_lease(&t2, &hostname(), std::process::id(), 600_000);
    t2.cmd()
        .arg("unlock")
        .assert()
        .code(4)
        .stderr(predicate::str::contains(format!(
            "process {} is running on this host",
            std::process::id()
        )));
}

#[test]
fn an_expired_lease_is_taken_over() {
    let t = TestDb::new("expired_lease");
    t.seed_users(5);
    write_counting_migrations(&t);
    fake_lease(&t, "gone-host", 1, -1000);
    t.cmd()
        .args(["--lock-timeout", "1", "up"])
        .assert()
        .success();
    assert_eq!(t.count("users", doc! { "n": 1 }), 5);
    let fences: Vec<i64> = t
        .ledger()
        .iter()
        .map(|e| e.get_i64("fence").unwrap_or_default())
        .collect();
    assert_eq!(
        fences,
        [8, 8, 8],
        "the take-over incremented the fencing token"
    );
}

#[test]
fn a_stale_lease_holder_cannot_write_the_ledger() {
    let t = TestDb::new("fencing");
    block_on(async {
        let target = Target::connect(&ConnectOptions::new(t.uri.clone()).database(t.name.clone()))
            .await
            .expect("connect");
        let progress: Progress = Arc::new(NoProgress);
        let opts = LockOptions::default()
            .ttl(Duration::from_secs(30))
            .wait(Duration::from_secs(2));
        let old = Lease::acquire(&target, &opts, &progress)
            .await
            .expect("first lease");
        // The first holder stalls: its lease runs out and another run takes over.
        target
            .db()
            .collection::<bson::Document>(mongoshift::LOCK_COLLECTION)
            .update_one(
                doc! {},
                doc! { "$set": { "expires_at": DateTime::from_millis(0) } },
            )
            .await
            .expect("expire");
        let new = Lease::acquire(&target, &opts, &progress)
            .await
            .expect("take-over");
        assert_eq!(new.token(), old.token() + 1);

        let ledger = Ledger::new(&target);
        let mut entry = LedgerEntry::new("20260101000000_x", "", "update", &"c".repeat(64));
        entry.state = State::Applied;
        let err = ledger
            .write(&entry, &old)
            .await
            .expect_err("stale holder must be fenced out");
        assert!(matches!(err, MigrateError::LockLost { .. }), "{err}");
        assert!(err.to_string().contains("lost the migration lock"), "{err}");
        assert!(ledger.entries().await.expect("entries").is_empty());

        ledger
            .write(&entry, &new)
            .await
            .expect("current holder writes");
        // Even an entry the new holder wrote cannot be overwritten by the old one.
        let mut stale = entry.clone();
        stale.state = State::Failed;
        assert!(ledger.write(&stale, &old).await.is_err());
        assert_eq!(
            ledger.entries().await.expect("entries")[0].state,
            State::Applied
        );
        new.release().await.expect("release");
    });
}

fn concurrent_ups(processes: usize) {
    let t = TestDb::new(&format!("concurrent_{processes}"));
    t.seed_users(20_000);
    write_counting_migrations(&t);
    let children: Vec<_> = (0..processes)
        .map(|_| {
            t.std_cmd()
                .args(["--lock-timeout", "120", "up"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait"))
        .collect();
    let mut applied_by = 0;
    for out in &outputs {
        let (stdout, stderr) = text(out);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        if stdout.contains("applied 3 migration(s)") {
            applied_by += 1;
        } else {
            assert!(stdout.contains("nothing to do"), "{stdout}\n{stderr}");
        }
    }
    assert_eq!(applied_by, 1, "exactly one run applied the migrations");
    assert_eq!(
        t.count("users", doc! { "n": 1, "m": 1, "k": 1 }),
        20_000,
        "every migration applied exactly once"
    );
    assert_eq!(
        t.count(
            "users",
            doc! { "$or": [ { "n": { "$ne": 1 } }, { "m": { "$ne": 1 } }, { "k": { "$ne": 1 } } ] }
        ),
        0
    );
    assert!(t
        .ledger()
        .iter()
        .all(|e| e.get_str("state") == Ok("applied")));
}

#[test]
fn two_concurrent_ups_apply_each_migration_once() {
    concurrent_ups(2);
}

#[test]
fn four_concurrent_ups_apply_each_migration_once() {
    concurrent_ups(4);
}

#[test]
fn concurrent_ups_that_cannot_wait_exit_with_a_clear_message() {
    let t = TestDb::new("concurrent_timeout");
    t.seed_users(30_000);
    write_counting_migrations(&t);
    // Slow the winner down: it holds the lock while it runs six passes over the collection.
    let children: Vec<_> = (0..4)
        .map(|_| {
            t.std_cmd()
                .args(["--lock-timeout", "0", "up"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait"))
        .collect();
    let applied = outputs
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stdout).contains("applied 3 migration(s)"))
        .count();
    assert_eq!(applied, 1, "exactly one run applies");
    let losers = outputs.iter().filter(|o| !o.status.success()).count();
    assert!(
        losers >= 1,
        "the others could not wait for the six passes over 30,000 documents"
    );
    for out in outputs.iter().filter(|o| !o.status.success()) {
        let (_, stderr) = text(out);
        assert_eq!(out.status.code(), Some(4), "{stderr}");
        assert!(
            stderr.contains("the migration lock is held by") && stderr.contains(" pid "),
            "{stderr}"
        );
    }
    assert_eq!(t.count("users", doc! { "n": 1, "m": 1, "k": 1 }), 30_000);
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}
