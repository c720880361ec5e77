//! Batches under an application writing all over the collection: a batch's
//! transaction that keeps meeting write conflicts is split in halves, which
//! commit sooner and meet fewer writes, instead of failing the run after its
//! attempts run out.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use mongoshift::failpoint as fp;

use super::app::{check_applied, counting, seed, App};
use crate::util::{text, TestDb};

#[test]
fn batches_that_keep_conflicting_are_split_and_every_write_is_kept() {
    let t = TestDb::new("conflict_split");
    let n = 200;
    seed(&t, n);
    let original = t.raw_users();
    // One batch of all 200 documents, every attempt pausing 100 ms inside
    // its transaction between reading the batch again and writing it: some
    // 30 application writes land in that window, on documents of the whole
    // batch every time (30 attempts fail alike), on one of a handful of
    // documents now and then.
    counting(&t, false, "in-place", "");
    let app = App::paced(&t, n, 0xc0f1, (1_000_000, 1), Duration::from_millis(3));
    app.wait_for(20);
    let out = t
        .std_cmd()
        .env(fp::ENV, format!("{}:*", fp::BATCH_AFTER_REREAD))
        .env(fp::PAUSE_ENV, "100")
        .args(["--progress", "json", "up"])
        .output()
        .unwrap();
    let acked = app.finish();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let splits = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|e| e["retries"]["conflict_split"].as_u64())
        .max()
        .unwrap_or(0);
    assert!(
        splits > 0,
        "no batch was split for its conflicts:\n{stdout}"
    );
    // Every document transformed exactly once, every acknowledged write on it.
    check_applied(&t, n, &original, &acked, false);
}
