//! A cut-over the operator chooses: `up --postpone-swap` copies, catches
//! up, then keeps the copy up to date from the change stream while the
//! application writes, until `mongoshift swap` from another process (or the
//! `--swap-at` time); nothing the application wrote meanwhile is lost. A
//! run killed while waiting is resumed by a plain `up` (which waits again)
//! and dropped by `down`; `status` shows the wait and, once applied, how
//! long the swap refused writes. Each bad input is refused by name.

#![allow(clippy::unwrap_used)]

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use bson::{doc, Document};
use predicates::prelude::*;

use crate::pause::{spawn_up, wait_for};
use crate::swap::app::{check_applied, rewrite, seed, App, MIG};
use crate::util::{text, TestDb};

/// The migration's rewrite state in the ledger.
fn rewrite_state(t: &TestDb) -> Document {
    t.ledger()[0].get_document("rewrite").unwrap().clone()
}

/// `status --json`'s row of the migration.
fn status_row(t: &TestDb) -> serde_json::Value {
    let out = t.cmd().args(["status", "--json"]).output().unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == MIG)
        .cloned()
        .unwrap()
}

/// `up --postpone-swap` killed as soon as it records that it waits (with a
/// short lease, so the lock is free again soon after).
fn killed_while_waiting(t: &TestDb) {
    let out = t
        .std_cmd()
        .env(mongoshift::failpoint::ENV, "swap.waiting")
        .env("MONGOSHIFT_LOCK_TTL", "2")
        .args(["up", "--postpone-swap"])
        .output()
        .unwrap();
    assert_eq!(out.status.signal(), Some(9), "{:?}", text(&out));
    let rw = rewrite_state(t);
    assert_eq!(rw.get_str("phase"), Ok("catch-up"), "{rw}");
    assert_eq!(rw.get_bool("postponed"), Ok(true), "{rw}");
    assert!(rw.get_document("waiting").is_ok(), "{rw}");
    // The dead run's lease lapses.
    std::thread::sleep(Duration::from_secs(3));
}

#[test]
fn a_postponed_swap_waits_while_the_application_writes_then_swaps_on_request() {
    let t = TestDb::new("postponed_swap");
    let n = 20_000;
    seed(&t, n);
    rewrite(&t, false, "");
    let original = t.raw_users();
    let app = App::start(&t, n, 0x5eed, 1_000_000, 0);
    let (mut run, events) = spawn_up(&t, &["--postpone-swap"]);
    let mut seen = Vec::new();
    let first = wait_for(&events, "swap_waiting", &mut seen);
    assert_eq!(first["id"], MIG);
    assert!(first["lag_s"].as_f64().is_some(), "{first}");
    // The application goes on writing; the copy follows it.
    app.wait_for(500);
    let later = loop {
        let e = wait_for(&events, "swap_waiting", &mut seen);
        if e["applied"].as_i64().unwrap() > 0 {
            break e;
        }
    };
    assert!(later["pending"].as_i64().is_some(), "{later}");
    assert_eq!(
        t.count("users", doc! { "n": 1 }),
        0,
        "swapped without a request"
    );
    t.cmd()
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "{MIG}: waiting for its swap since"
        )))
        .stdout(predicate::str::contains(format!(
            "`mongoshift swap {MIG}` swaps"
        )));
    let row = status_row(&t);
    assert!(row["waiting_for_swap"]["lag_s"].is_number(), "{row}");
    assert!(row["waiting_for_swap"]["applied"].is_number(), "{row}");
    t.cmd()
        .args(["swap", MIG])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("asked {MIG} to swap")));
    let asked = wait_for(&events, "swap_requested", &mut seen);
    assert!(asked["by"].as_str().unwrap().contains("pid"), "{asked}");
    assert!(run.wait().unwrap().success(), "up failed: {seen:?}");
    app.wait_for(200);
    let acked = app.finish();
    assert!(
        acked.inserted.len() > 20,
        "{} inserts",
        acked.inserted.len()
    );
    check_applied(&t, n, &original, &acked, true);
    let window = rewrite_state(&t).get_i64("swap_window_ms").unwrap();
    assert!((0..60_000).contains(&window), "{window}");
    assert_eq!(status_row(&t)["swap_window_ms"], window);
    t.cmd()
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "{MIG}: swap window: writes refused for"
        )));
    // Applied: nothing waits for a swap any more.
    t.cmd()
        .args(["swap", MIG])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "cannot swap {MIG}: it is applied, not waiting for its swap"
        )));
}

#[test]
fn swap_at_a_few_seconds_ahead_swaps_by_itself() {
    let t = TestDb::new("swap_at");
    seed(&t, 2_000);
    rewrite(&t, false, "");
    let at = bson::DateTime::from_millis(bson::DateTime::now().timestamp_millis() + 5_000);
    let at_text = at.try_to_rfc3339_string().unwrap();
    let (mut run, events) = spawn_up(&t, &["--swap-at", &at_text]);
    let mut seen = Vec::new();
    let waiting = wait_for(&events, "swap_waiting", &mut seen);
    assert!(waiting["swap_at"].is_string(), "{waiting}");
    let asked = wait_for(&events, "swap_requested", &mut seen);
    assert!(
        asked["by"].as_str().unwrap().starts_with("--swap-at"),
        "{asked}"
    );
    assert!(run.wait().unwrap().success(), "up failed: {seen:?}");
    let fenced = rewrite_state(&t)
        .get_datetime("fenced_at")
        .copied()
        .unwrap();
    assert!(fenced >= at, "swapped at {fenced}, before {at}");
    assert_eq!(t.count("users", doc! { "n": 1 }), 2_000);
}

#[test]
fn a_run_killed_while_waiting_is_resumed_by_up_and_waits_again() {
    let t = TestDb::new("postponed_swap_killed");
    seed(&t, 3_000);
    rewrite(&t, false, "");
    killed_while_waiting(&t);
    // Its run is gone: nothing to ask, nothing written.
    let before = t.ledger();
    t.cmd()
        .args(["swap", MIG])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "cannot swap {MIG}: it was waiting for its swap, but no run holds the lock"
        )))
        .stderr(predicate::str::contains("`mongoshift up` resumes it"));
    assert_eq!(t.ledger(), before, "a refused swap wrote to the ledger");
    // A plain `up` keeps the copy, follows the stream from where it stood,
    // and waits again: the choice is recorded.
    let (mut run, events) = spawn_up(&t, &[]);
    let mut seen = Vec::new();
    wait_for(&events, "swap_waiting", &mut seen);
    let copied_again = seen.iter().any(|e| {
        e["event"] == "step_started" && e["description"].as_str().unwrap().contains("copying")
    });
    assert!(!copied_again, "the copy started over: {seen:?}");
    block_on_insert(&t, 50_000);
    t.cmd().args(["swap", MIG]).assert().success();
    assert!(run.wait().unwrap().success(), "up failed: {seen:?}");
    assert_eq!(t.count("users", doc! { "n": 1 }), 3_001);
    assert_eq!(t.ledger()[0].get_str("state"), Ok("applied"));
}

/// An application insert, with `n` 0 (the rewrite makes it 1).
fn block_on_insert(t: &TestDb, id: i32) {
    crate::util::block_on(t.db().collection::<Document>("users").insert_one(doc! {
        "_id": id, "name": "Late Comer", "email": "late@example.com", "age": 40, "n": 0,
    }))
    .unwrap();
}

#[test]
fn down_of_a_run_killed_while_waiting_drops_the_copy() {
    let t = TestDb::new("postponed_swap_down");
    seed(&t, 3_000);
    rewrite(&t, false, "");
    let original = t.raw_users();
    killed_while_waiting(&t);
    t.cmd().arg("down").assert().success();
    let left: Vec<String> = crate::swap::app::collections(&t)
        .into_iter()
        .filter(|c| c.starts_with("mongoshift_shadow_") || c.starts_with("mongoshift_backup_"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert_eq!(t.raw_users(), original, "the collection was touched");
    assert_eq!(t.ledger()[0].get_str("state"), Ok("rolled_back"));
}

#[test]
fn bad_cut_over_inputs_are_refused_by_name_before_anything_is_written() {
    let t = TestDb::new("postponed_swap_refused");
    t.seed_users(100);
    crate::throttle::counter_migration(&t, "");
    let id = "20260601000000_count";
    let original = t.raw_users();
    t.cmd()
        .args(["up", "--postpone-swap"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "cannot postpone the swap of {id}: it does not run as a rewrite"
        )));
    assert!(t.ledger().is_empty(), "{:?}", t.ledger());
    for (at, says) in [
        ("2001-01-01T00:00:00Z", "is in the past"),
        ("02:00", "\"02:00\" is not an RFC 3339 time"),
    ] {
        t.cmd()
            .args(["up", "--swap-at", at])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(says))
            .stderr(predicate::str::contains("--swap-at"));
    }
    t.cmd()
        .args(["swap", id])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "cannot swap {id}: it is not in the ledger"
        )));
    assert!(t.ledger().is_empty(), "{:?}", t.ledger());
    assert_eq!(t.raw_users(), original);
    // Applied in place: no swap to ask for.
    t.cmd().arg("up").assert().success();
    t.cmd()
        .args(["swap", id])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "cannot swap {id}: it is applied, not waiting for its swap"
        )));
}
