//! `down` and `up` without `--distributed` meeting a migration that the
//! workers of a distributed run share: refused while a worker holds a
//! partition, `up` refused over a run left part-way, `down` taking every
//! partition back so that a stalled worker coming back writes nothing.

use std::process::{Child, Command as StdCommand};
use std::time::{Duration, Instant};

use bson::doc;

use crate::distributed::{finished, partitions, worker};
use crate::util::{text, TestDb};
use crate::wat::counter;

const MIG: &str = "20260501000000_count";

/// n += 1 on 20,000 users (no backward: pre-images), four partitions.
fn setup(t: &TestDb) -> u64 {
    let n = 20_000;
    t.seed_users(n);
    t.write(&format!("{MIG}/guest.wat"), &counter(false, None));
    t.write(
        &format!("{MIG}/migration.toml"),
        "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nbatch_size = 500\nthreads = 1\n",
    );
    n as u64
}

/// A worker that stops for `pause_ms` after committing its second batch.
fn pausing_worker(t: &TestDb, name: &str, pause_ms: u64) -> Child {
    let mut cmd = t.std_cmd();
    cmd.args([
        "up",
        "--distributed",
        "--worker",
        name,
        "--partition-docs",
        "5000",
    ])
    .env("MONGOSHIFT_LOCK_TTL", "2")
    .env("MONGOSHIFT_FAILPOINT", "batch.after_commit:2")
    .env("MONGOSHIFT_FAILPOINT_PAUSE_MS", pause_ms.to_string())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    cmd.spawn().expect("spawn a worker")
}

/// Waits until the worker has committed its second batch (and pauses).
fn wait_for_checkpoint(t: &TestDb) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if t.count("users", doc! { "n": 1 }) >= 1000 {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no partition got a checkpoint: {:?}", partitions(t));
}

fn signal(child: &Child, sig: &str) {
    let ok = StdCommand::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
}

#[test]
fn down_and_plain_up_are_refused_while_workers_hold_partitions_and_down_undoes_a_dead_run() {
    let t = TestDb::new("takeback_refuse");
    let n = setup(&t);
    let mut w = pausing_worker(&t, "w0", 30_000);
    wait_for_checkpoint(&t);
    let before = t.count("users", doc! { "n": 1 });
    assert_eq!(before, 1000, "two batches committed");
    for args in [&["down"][..], &["up"][..]] {
        let out = t.cmd().args(args).output().expect("run");
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains(&format!(
                "migration {MIG} is being run by w0 (`up --distributed`)"
            )) && stderr.contains("nothing was written"),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(t.count("users", doc! { "n": 1 }), before, "nothing changed");
    assert_eq!(t.ledger()[0].get_str("state"), Ok("running"));
    assert!(partitions(&t)
        .iter()
        .any(|p| p.get_str("owner") == Ok("w0") && p.get_str("state") == Ok("running")));

    // The worker dies; once its lease lapses, plain `up` still refuses
    // (it would start over what the partitions did) and says the way on.
    w.kill().expect("SIGKILL");
    w.wait().expect("reap");
    std::thread::sleep(Duration::from_millis(2500));
    let out = t.cmd().arg("up").output().expect("up");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "migration {MIG} was started with `up --distributed` and 0 of its 4 partitions are done"
        )) && stderr.contains("mongoshift up --distributed"),
        "{stderr}"
    );
    assert_eq!(t.count("users", doc! { "n": 1 }), before, "nothing changed");

    // `down` undoes what the dead run committed and drops its partitions.
    t.cmd().arg("down").assert().success();
    assert_eq!(t.count("users", doc! { "n": 0 }), n);
    assert!(partitions(&t).is_empty(), "{:?}", partitions(&t));
    assert_eq!(t.ledger()[0].get_str("state"), Ok("rolled_back"));

    // Applied again afresh, every document once.
    let (ok, log) = finished(worker(&t, "w1", &["--partition-docs", "5000"]));
    assert!(ok, "{log}");
    assert_eq!(t.count("users", doc! { "n": 1 }), n, "{log}");
}

#[test]
fn a_stalled_worker_coming_back_after_down_writes_nothing() {
    let t = TestDb::new("takeback_stalled");
    let n = setup(&t);
    let w = pausing_worker(&t, "w0", 1_000);
    wait_for_checkpoint(&t);
    // The host stalls (SIGSTOP) past its lease; `down` takes its partitions.
    signal(&w, "-STOP");
    std::thread::sleep(Duration::from_millis(2500));
    let out = t.cmd().arg("down").output().expect("down");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(t.count("users", doc! { "n": 0 }), n);
    assert!(partitions(&t).is_empty());
    // It wakes up: its next batch is fenced off, and it stops.
    signal(&w, "-CONT");
    let (ok, log) = finished(w);
    assert!(!ok, "{log}");
    assert!(
        log.contains("another run took it back while this worker was running")
            && log.contains("down, rolled_back"),
        "{log}"
    );
    assert_eq!(
        t.count("users", doc! { "n": 0 }),
        n,
        "nothing written after down: {log}"
    );
    assert!(partitions(&t).is_empty(), "{:?}", partitions(&t));
    assert_eq!(t.ledger()[0].get_str("state"), Ok("rolled_back"));
    let names = crate::util::block_on(t.db().list_collection_names()).expect("list");
    assert!(
        !names.iter().any(|c| c.starts_with("mongoshift_shadow")),
        "{names:?}"
    );
}
