//! Random kills: what the named fail points missed. A 200,000-document
//! non-idempotent migration, rewrite and in place, with an application
//! writing throughout, SIGKILLed at random moments and resumed: every
//! document exactly once, every acknowledged write there.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::app::{check_applied, counting, seed, App, MIG};
use crate::util::{text, TestDb};

const N: i32 = 200_000;

/// `k` delays in `lo..hi` ms from `seed` (printed, to run a failure again).
fn delays(seed: u64, k: usize, lo: u64, hi: u64) -> Vec<u64> {
    let mut x = seed | 1;
    (0..k)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            lo + x % (hi - lo)
        })
        .collect()
}

fn seed_from_env_or_clock() -> u64 {
    std::env::var("MONGOSHIFT_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        })
}

fn killed_and_resumed(t: &TestDb, strategy: &str, lo: u64, hi: u64) {
    seed(t, N);
    let original = t.raw_users();
    counting(t, false, strategy, "");
    let s = seed_from_env_or_clock();
    let d = delays(s, 8, lo, hi);
    let started = Instant::now();
    let app = App::start(t, N, s, 1_000_000, 0);
    app.wait_for(50);
    let kills = t.up_killed_after(&d, || {});
    let out = t.cmd().arg("up").output().unwrap();
    let acked = app.finish();
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "MONGOSHIFT_KILL_SEED={s} (delays {d:?}): {stdout}{stderr}"
    );
    assert!(
        kills >= 4,
        "only {kills} runs were killed (MONGOSHIFT_KILL_SEED={s}, delays {d:?})"
    );
    eprintln!(
        "{MIG} {strategy}: {kills} kills at {d:?} ms (MONGOSHIFT_KILL_SEED={s}), \
         {} application writes ({} refused and retried), {:.1} s in all",
        acked.ops,
        acked.refused,
        started.elapsed().as_secs_f64()
    );
    check_applied(t, N, &original, &acked, true);
}

#[test]
fn a_rewrite_killed_at_random_moments_under_application_writes_is_exact() {
    let t = TestDb::new("kills_rewrite");
    killed_and_resumed(&t, "rewrite", 400, 7_000);
}

#[test]
fn an_in_place_run_killed_at_random_moments_under_application_writes_is_exact() {
    let t = TestDb::new("kills_in_place");
    killed_and_resumed(&t, "in-place", 300, 3_000);
}
