//! Pause and resume: `mongoshift pause` from another process stops a
//! running migration between batches (nothing committed while paused, the
//! lock still held), `resume` lets it go on, and every document is done
//! exactly once; `--pause-at` pauses a rehearsal by itself; pausing what is
//! not running, or resuming what is not paused, is refused by name.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bson::doc;
use predicates::prelude::*;

use crate::throttle::{committed, counter_migration, each_once};
use crate::util::{block_on, TestDb};

const MIG: &str = "20260601000000_count";

/// `up` with JSON progress, its events sent line by line.
pub(crate) fn spawn_up(t: &TestDb, flags: &[&str]) -> (Child, mpsc::Receiver<serde_json::Value>) {
    let mut child = t
        .std_cmd()
        .arg("up")
        .args(flags)
        .args(["--progress", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn up");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&line) {
                let _ = tx.send(v);
            }
        }
    });
    (child, rx)
}

/// Waits for an event named `name`; the events seen meanwhile go to `seen`.
pub(crate) fn wait_for(
    rx: &mpsc::Receiver<serde_json::Value>,
    name: &str,
    seen: &mut Vec<serde_json::Value>,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let e = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no `{name}` event; saw {seen:?}"));
        seen.push(e.clone());
        if e["event"] == name {
            return e;
        }
    }
}

/// No checkpoint move for ~3 s, the lock held all along.
fn still_for_three_seconds(t: &TestDb) -> i64 {
    let at = committed(t, MIG);
    for _ in 0..15 {
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(committed(t, MIG), at, "a batch committed while paused");
    }
    let lock = block_on(
        t.db()
            .collection::<bson::Document>(mongoshift::LOCK_COLLECTION)
            .find_one(doc! {}),
    )
    .expect("lock")
    .expect("a lock document");
    assert!(
        lock.get_document("owner").is_ok(),
        "the lock is held while paused: {lock}"
    );
    at
}

#[test]
fn pause_from_another_process_holds_the_lock_and_resume_finishes_once() {
    let t = TestDb::new("pause_resume");
    t.seed_users(20_000);
    counter_migration(&t, "batch_size = 500\n");
    let (mut run, events) = spawn_up(&t, &["--max-rate", "2500"]);
    let mut seen = Vec::new();
    wait_for(&events, "documents", &mut seen);
    // Running but not paused: nothing to resume.
    t.cmd()
        .args(["resume", MIG])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "cannot resume {MIG}: it is not paused"
        )));
    t.cmd()
        .args(["pause", MIG])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("paused {MIG}")));
    let paused = wait_for(&events, "paused", &mut seen);
    assert_eq!(paused["id"], MIG);
    let at = still_for_three_seconds(&t);
    assert!(at < 20_000, "paused before the end ({at})");
    t.cmd()
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("{MIG}: paused by")));
    t.cmd()
        .args(["pause", MIG])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("it is already paused"));
    t.cmd().args(["resume", MIG]).assert().success();
    let resumed = wait_for(&events, "resumed", &mut seen);
    assert!(resumed["paused_ms"].as_u64().expect("paused_ms") >= 3_000);
    assert!(run.wait().expect("wait").success(), "up failed");
    let last = events
        .iter()
        .filter(|e| e["event"] == "documents")
        .last()
        .expect("progress after the pause");
    assert!(last["paused_ms"].as_u64().expect("paused_ms") >= 3_000);
    each_once(&t, 20_000);
    let entry = &t.ledger()[0];
    assert_eq!(entry.get_str("state").expect("state"), "applied");
    assert!(!entry.get_bool("paused").unwrap_or(true), "{entry}");
}

/// Documents done over every partition of the migration.
fn partitions_read(t: &TestDb) -> i64 {
    crate::distributed::partitions(t)
        .iter()
        .filter_map(|p| p.get_document("checkpoint").ok())
        .filter_map(|c| c.get_i64("read").ok())
        .sum()
}

#[test]
fn pause_holds_every_worker_of_a_distributed_run() {
    let t = TestDb::new("pause_distributed");
    t.seed_users(20_000);
    counter_migration(&t, "batch_size = 250\n");
    let flags = |name: &'static str| {
        [
            "--distributed",
            "--worker",
            name,
            "--partition-docs",
            "4000",
            "--max-rate",
            "1500",
        ]
    };
    let (mut w1, e1) = spawn_up(&t, &flags("w1"));
    let (mut w2, e2) = spawn_up(&t, &flags("w2"));
    let (mut seen1, mut seen2) = (Vec::new(), Vec::new());
    wait_for(&e1, "documents", &mut seen1);
    wait_for(&e2, "documents", &mut seen2);
    t.cmd().args(["pause", MIG]).assert().success();
    wait_for(&e1, "paused", &mut seen1);
    wait_for(&e2, "paused", &mut seen2);
    let at = partitions_read(&t);
    for _ in 0..15 {
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(partitions_read(&t), at, "a worker committed while paused");
    }
    assert!(at < 20_000, "paused before the end ({at})");
    t.cmd().args(["resume", MIG]).assert().success();
    assert!(w1.wait().expect("wait").success(), "worker 1 failed");
    assert!(w2.wait().expect("wait").success(), "worker 2 failed");
    each_once(&t, 20_000);
}

#[test]
fn pause_at_half_pauses_a_rehearsal_until_resume() {
    let t = TestDb::new("pause_at");
    t.seed_users(10_000);
    counter_migration(&t, "batch_size = 500\n");
    let (mut run, events) = spawn_up(&t, &["--pause-at", "50"]);
    let mut seen = Vec::new();
    let paused = wait_for(&events, "paused", &mut seen);
    assert!(
        paused["by"].as_str().expect("by").contains("--pause-at 50"),
        "{paused}"
    );
    let at = still_for_three_seconds(&t);
    assert!((5_000..10_000).contains(&at), "paused at {at} of 10000");
    t.cmd().args(["resume", MIG]).assert().success();
    assert!(run.wait().expect("wait").success(), "up failed");
    each_once(&t, 10_000);
}

#[test]
fn pausing_what_is_not_running_names_it_and_its_state() {
    let t = TestDb::new("pause_refused");
    t.seed_users(100);
    counter_migration(&t, "");
    t.cmd()
        .args(["pause", MIG])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "cannot pause {MIG}: it is not in the ledger"
        )));
    t.cmd().arg("up").assert().success();
    t.cmd()
        .args(["pause", MIG])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "cannot pause {MIG}: it is applied, not running"
        )));
    t.cmd()
        .args(["resume", MIG])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!("cannot resume {MIG}")))
        .stderr(predicate::str::contains("it is applied, not running"));
}

#[test]
fn a_pause_at_outside_zero_to_a_hundred_is_a_usage_error() {
    let t = TestDb::new("pause_at_bad");
    for bad in ["0", "100", "150", "half"] {
        t.cmd()
            .args(["up", "--pause-at", bad])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("--pause-at"))
            .stderr(predicate::str::contains("not a percentage"));
    }
}
