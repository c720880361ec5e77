//! Throttling on a live deployment: `--max-rate` keeps every 2-second
//! window under the limit (with 20% slack for a loaded machine), `--max-lag`
//! on a single node is accepted with a warning, `--max-latency` set absurdly
//! low slows the run but lets it finish, showing why; bad limits are refused.

use std::time::{Duration, Instant};

use bson::doc;
use predicates::prelude::*;

use crate::util::{block_on, TestDb};
use crate::wat::counter;

const MIG: &str = "20260601000000_count";

/// A counter migration (n += 1, not idempotent) over `users`, in place,
/// with `extra` manifest lines.
pub(crate) fn counter_migration(t: &TestDb, extra: &str) {
    t.write(&format!("{MIG}/guest.wat"), &counter(false, None));
    t.write(
        &format!("{MIG}/migration.toml"),
        &format!(
            "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\n\
             strategy = \"in-place\"\n{extra}"
        ),
    );
}

/// The documents the migration's committed checkpoint has read.
pub(crate) fn committed(t: &TestDb, id: &str) -> i64 {
    let entry = block_on(
        t.db()
            .collection::<bson::Document>(mongoshift::LEDGER_COLLECTION)
            .find_one(doc! { "_id": id }),
    )
    .expect("ledger");
    entry
        .and_then(|e| e.get_document("checkpoint").ok().cloned())
        .and_then(|c| c.get_i64("read").ok())
        .unwrap_or(0)
}

/// Every user went through the counter exactly once.
pub(crate) fn each_once(t: &TestDb, n: u64) {
    assert_eq!(t.count("users", doc! { "n": 1 }), n, "each document once");
    assert_eq!(t.count("users", doc! { "n": { "$ne": 1 } }), 0);
}

#[test]
fn max_rate_keeps_every_two_second_window_under_the_limit() {
    let (_server, t) = TestDb::alone("max_rate");
    t.seed_users(200_000);
    counter_migration(&t, "batch_size = 1000\n");
    let mut run = t
        .std_cmd()
        .args(["up", "--max-rate", "5000", "--progress", "none"])
        .spawn()
        .expect("spawn up");
    let started = Instant::now();
    let mut timeline: Vec<(Instant, i64)> = Vec::new();
    let status = loop {
        timeline.push((Instant::now(), committed(&t, MIG)));
        if let Some(status) = run.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "the run hangs"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success(), "up failed: {status}");
    // An upper bound only: a loaded machine may make the run slower, never
    // faster than the limit allows.
    let limit = (5000.0 * 1.2 * 2.0) as i64;
    for (i, (at, read)) in timeline.iter().enumerate() {
        for (later, read_later) in &timeline[i + 1..] {
            if later.duration_since(*at) > Duration::from_secs(2) {
                break;
            }
            assert!(
                read_later - read <= limit,
                "{} documents committed within {:?}",
                read_later - read,
                later.duration_since(*at)
            );
        }
    }
    each_once(&t, 200_000);
}

#[test]
fn max_lag_on_a_single_node_is_accepted_with_a_warning() {
    let t = TestDb::new("max_lag");
    t.seed_users(2_000);
    counter_migration(&t, "batch_size = 500\n");
    t.cmd()
        .args(["up", "--max-lag", "5"])
        .assert()
        .success()
        .stderr(predicate::str::contains("--max-lag is accepted"))
        .stderr(
            predicate::str::contains("no secondaries")
                .or(predicate::str::contains("cannot be read")),
        );
    each_once(&t, 2_000);
}

#[test]
fn max_lag_s_in_the_manifest_is_obeyed_like_the_flag() {
    let t = TestDb::new("max_lag_manifest");
    t.seed_users(500);
    counter_migration(&t, "batch_size = 500\nmax_lag_s = 5\n");
    t.cmd()
        .arg("up")
        .assert()
        .success()
        .stderr(predicate::str::contains("--max-lag is accepted"));
    each_once(&t, 500);
}

#[test]
fn an_absurdly_low_max_latency_slows_the_run_and_says_why() {
    let t = TestDb::new("max_latency");
    t.seed_users(2_000);
    counter_migration(&t, "batch_size = 250\n");
    let out = t
        .cmd()
        .args(["up", "--max-latency", "1", "--progress", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let throttled = events
        .iter()
        .find(|e| e["event"] == "throttle" && e["state"] == "throttled")
        .expect("a throttle event");
    assert_eq!(throttled["id"], MIG);
    let reason = throttled["reason"].as_str().expect("a reason");
    assert!(
        reason.contains("batch commit latency") && reason.contains("above 1 ms"),
        "{reason}"
    );
    each_once(&t, 2_000);
}

#[test]
fn a_zero_max_rate_is_a_usage_error() {
    let t = TestDb::new("max_rate_zero");
    t.cmd()
        .args(["up", "--max-rate", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--max-rate"));
}

#[test]
fn a_zero_limit_in_a_manifest_names_the_file_line_and_field() {
    let t = TestDb::new("max_rate_manifest_zero");
    counter_migration(&t, "max_rate = 0\n");
    t.cmd()
        .arg("status")
        .assert()
        .code(6)
        .stderr(predicate::str::contains(MIG))
        .stderr(predicate::str::contains("migration.toml"))
        .stderr(predicate::str::contains(
            "line 5: field `max_rate` must be at least 1, not 0",
        ));
}

#[test]
fn a_throttle_limit_on_an_update_migration_is_refused() {
    let t = TestDb::new("max_rate_update");
    t.write(
        "20260601000000_bulk.toml",
        "kind = \"update\"\ncollection = \"users\"\nmax_lag_s = 3\n\n[[forward]]\nop = \"update_many\"\nfilter = {}\nupdate = { \"$set\" = { x = 1 } }\n",
    );
    t.cmd()
        .arg("status")
        .assert()
        .code(6)
        .stderr(predicate::str::contains("20260601000000_bulk"))
        .stderr(predicate::str::contains(
            "field `max_lag_s` does not apply to kind `update`",
        ));
}
