//! Deletes in the swap window: a validator does not stop them, so those
//! that land between the fence's marker and the rename are applied after
//! it, where the document is still what the rename put there.

#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::process::Child;
use std::time::{Duration, Instant};

use bson::{doc, Document};
use mongoshift::failpoint as fp;

use super::app::{backup, collections, rewrite, seed, users, MIG};
use crate::util::{block_on, text, TestDb};

/// Waits until `ready`, while `run` goes on: a run that ends first, or
/// does not get there in two minutes (a shared, loaded server can be slow
/// to rename), fails the test with what it printed.
fn wait_until(run: &mut Child, what: &str, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        let ended = run.try_wait().unwrap();
        if ended.is_none() && started.elapsed() < Duration::from_secs(120) {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let status = ended.map_or("still running".to_string(), |s| s.to_string());
        let _ = run.kill();
        let mut out = String::new();
        if let Some(mut p) = run.stdout.take() {
            p.read_to_string(&mut out).unwrap();
        }
        if let Some(mut p) = run.stderr.take() {
            p.read_to_string(&mut out).unwrap();
        }
        panic!(
            "not {what} after waiting {:?}; the run: {status}\n{out}",
            started.elapsed()
        );
    }
}

#[test]
fn deletes_that_land_in_the_swap_window_are_applied_after_the_rename() {
    let t = TestDb::new("window_deletes");
    let n = 3_000;
    seed(&t, n);
    rewrite(&t, false, "");
    // The run pauses when drained (just before its rename) and right after
    // the rename: the application acts inside each pause.
    let mut child = t
        .std_cmd()
        .env(
            fp::ENV,
            format!("{},{}", fp::SWAP_BEFORE_RENAME, fp::SWAP_AFTER_RENAME),
        )
        .env(fp::PAUSE_ENV, "1500")
        .arg("up")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let rewrite_state = || {
        t.ledger()
            .first()
            .and_then(|e| e.get_document("rewrite").ok().cloned())
            .unwrap_or_default()
    };
    wait_until(&mut child, "drained to the fence", || {
        rewrite_state()
            .get("swap_token")
            .is_some_and(|b| b.as_null().is_none())
    });
    let coll = t.db().collection::<Document>("users");
    // Fenced: inserts and updates are refused, deletes are not.
    assert!(block_on(coll.update_one(doc! { "_id": 12 }, doc! { "$set": { "x": 1 } })).is_err());
    block_on(coll.delete_many(doc! { "_id": { "$in": [10, 11] } })).unwrap();
    wait_until(&mut child, "renamed", || {
        !collections(&t)
            .iter()
            .any(|c| c.starts_with("mongoshift_shadow_"))
    });
    // The renamed copy still has 10 and 11; the application writes to 10.
    block_on(coll.update_one(doc! { "_id": 10 }, doc! { "$set": { "x": 1 } })).unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let now = users(&t);
    assert!(
        !now.contains_key(&11),
        "the delete made in the window is applied"
    );
    assert_eq!(
        now.get(&10)
            .map(|d| (d.get_i32("n").unwrap(), d.get_i32("x").unwrap())),
        Some((1, 1)),
        "a newer write wins over a delete made in the window"
    );
    assert_eq!(now.len(), n as usize - 1);
    assert_eq!(t.count("users", doc! { "n": 1 }), n as u64 - 1);
    assert_eq!(
        t.count(&backup(), doc! { "_id": { "$in": [10, 11] } }),
        0,
        "the originals as they were at the swap"
    );
    assert_eq!(t.count(&backup(), doc! {}), n as u64 - 2);
}

#[test]
fn a_bad_fence_length_is_refused_before_anything_is_written() {
    let t = TestDb::new("fence_seconds_bad");
    seed(&t, 500);
    let original = t.raw_users();
    rewrite(&t, false, "");
    for bad in ["soon", "1"] {
        let out = t
            .cmd()
            .env("MONGOSHIFT_FENCE_SECONDS", bad)
            .arg("up")
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
        assert!(
            stderr.contains(&format!(
                "while applying migration {MIG}: a rewrite cannot be done: \
                 MONGOSHIFT_FENCE_SECONDS=\"{bad}\" is not a number of seconds of at least 2 (e.g. 30)"
            )),
            "{stderr}"
        );
        assert!(t.raw_users() == original, "nothing written");
        assert!(
            !collections(&t)
                .iter()
                .any(|c| c.starts_with("mongoshift_shadow_")),
            "no copy started"
        );
    }
}
