//! Batches under an application writing all over the collection: a batch's
//! transaction that keeps meeting write conflicts is split in halves, which
//! commit sooner and meet fewer writes, instead of failing the run after its
//! attempts run out.

#![allow(clippy::unwrap_used)]

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use bson::RawDocumentBuf;
use mongoshift::failpoint as fp;

use super::app::{check_applied, counting, raw_by_id, seed, App, MIG};
use crate::util::{text, TestDb};

/// Documents in one batch.
const N: i32 = 200;

/// A collection of [`N`] documents (and its originals), one in-place batch
/// of all of them to come, and an application writing all over it every
/// 3 ms.
fn busy(name: &str, seed_app: u64) -> (TestDb, Vec<RawDocumentBuf>, App) {
    let t = TestDb::new(name);
    seed(&t, N);
    let original = t.raw_users();
    counting(&t, false, "in-place", "");
    let app = App::paced(&t, N, seed_app, (1_000_000, 1), Duration::from_millis(3));
    app.wait_for(20);
    (t, original, app)
}

/// `mongoshift` pausing 100 ms at every attempt of a batch inside its
/// transaction, between reading the batch again and writing it: some 30
/// application writes land in that window, on documents of the whole batch
/// every time (30 attempts fail alike), on one of a handful of documents
/// now and then.
fn paused_up(t: &TestDb) -> std::process::Command {
    let mut c = t.std_cmd();
    c.env(fp::ENV, format!("{}:*", fp::BATCH_AFTER_REREAD))
        .env(fp::PAUSE_ENV, "100");
    c
}

#[test]
fn batches_that_keep_conflicting_are_split_and_every_write_is_kept() {
    let (t, original, app) = busy("conflict_split", 0xc0f1);
    let out = paused_up(&t)
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
    check_applied(&t, N, &original, &acked, false);
}

fn pre_images() -> String {
    format!("mongoshift_preimages_{MIG}")
}

/// A run killed between the halves of a split batch (one half committed
/// with its checkpoint, the other not): the next `up` writes the rest
/// exactly once, every acknowledged write kept, and each transformed
/// document has one original kept, which `down` puts back byte for byte.
#[test]
fn a_run_killed_between_the_halves_of_a_split_batch_resumes_exactly_once() {
    let (t, original, app) = busy("conflict_split_kill", 0x5b1e);
    let mut up = paused_up(&t)
        .args(["--progress", "none", "up"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The checkpoint counts what committed: part of the one batch is a half.
    let started = Instant::now();
    let mut read = 0;
    while up.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(120) {
        read = t
            .ledger()
            .first()
            .and_then(|e| e.get_document("checkpoint").ok()?.get_i64("read").ok())
            .unwrap_or(0);
        if read > 0 && read < i64::from(N) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    up.kill().unwrap();
    let status = up.wait().unwrap();
    assert!(
        read > 0 && read < i64::from(N) && status.signal() == Some(9),
        "the run was not stopped between two halves: {read} of {N} read, {status:?}"
    );
    let out = t.cmd().arg("up").output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let acked = app.finish();
    check_applied(&t, N, &original, &acked, false);
    let entries = t.raw_pre_images(&pre_images());
    let kept = raw_by_id(&entries);
    assert_eq!(kept.len(), entries.len(), "an original kept twice");
    assert!(
        kept.len() >= N as usize / 2,
        "{} originals kept",
        kept.len()
    );
    t.cmd().arg("down").assert().success();
    let now = raw_by_id(&t.raw_users());
    let wrong: Vec<i32> = kept
        .iter()
        .filter(|(id, e)| {
            let doc = e.get_document("doc").unwrap();
            now.get(id).map(|d| d.as_bytes()) != Some(doc.as_bytes())
        })
        .map(|(id, _)| *id)
        .collect();
    assert!(
        wrong.is_empty(),
        "not put back from their pre-images: {wrong:?}"
    );
}
