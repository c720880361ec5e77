//! A swap is reported interrupted only when its run is gone: a live run in
//! its window is not; and `up` settles an interrupted swap before it runs
//! the migrations after it.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use bson::doc;
use mongoshift::failpoint as fp;

use super::app::{killed_at, rewrite, seed, users, MIG};
use crate::util::{text, TestDb};
use crate::wat::counter;

/// The phase the ledger records for the migration's rewrite, if any.
fn phase(t: &TestDb) -> Option<String> {
    let e = t.ledger().into_iter().next()?;
    Some(
        e.get_document("rewrite")
            .ok()?
            .get_str("phase")
            .ok()?
            .to_string(),
    )
}

#[test]
fn a_live_run_in_its_swap_window_is_not_reported_interrupted() {
    let t = TestDb::new("live_window");
    let n = 3_000;
    seed(&t, n);
    rewrite(&t, false, "");
    // The run sleeps 4 s at each step of its window instead of stopping.
    let mut run = t
        .std_cmd()
        .env(
            fp::ENV,
            [fp::SWAP_AFTER_FENCE, fp::SWAP_BEFORE_RENAME].join(","),
        )
        .env(fp::PAUSE_ENV, "4000")
        .arg("up")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut in_window = 0;
    while run.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the run did not finish");
        if phase(&t).as_deref() != Some("fenced") {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        for args in [&["status"][..], &["verify"]] {
            let out = t.cmd().args(args).output().unwrap();
            let (stdout, stderr) = text(&out);
            assert!(
                out.status.success(),
                "`{}` while the run is in its window:\n{stdout}{stderr}",
                args.join(" ")
            );
            assert!(
                !format!("{stdout}{stderr}").contains("interrupted"),
                "`{}` while the run is in its window:\n{stdout}{stderr}",
                args.join(" ")
            );
        }
        let out = t.cmd().args(["status", "--json"]).output().unwrap();
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let row = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == MIG)
            .unwrap();
        // Running, unless it finished since the phase was read.
        assert!(
            row["status"]["recorded"] == "running" || phase(&t).as_deref() == Some("done"),
            "{row}"
        );
        in_window += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = run.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(in_window >= 2, "status ran {in_window} times in the window");
    assert_eq!(t.count("users", doc! { "n": 1 }), n as u64);
    assert_eq!(t.ledger()[0].get_str("state"), Ok("applied"));
}

const LATER: &str = "20260601000000_count_again";

/// A swap killed in its window, then a later migration of the same
/// collection added: `up` finishes the swap first, then runs the later
/// one on the swapped collection: every document transformed by both, once.
#[test]
fn up_settles_an_interrupted_swap_before_a_later_migration() {
    for step in [fp::SWAP_BEFORE_RENAME, fp::SWAP_AFTER_RENAME] {
        let t = TestDb::new("settle_first");
        let n = 2_000;
        seed(&t, n);
        let original = users(&t);
        rewrite(&t, false, "");
        killed_at(&t, step, &["up"]);
        t.write(&format!("{LATER}/guest.wat"), &counter(false, None));
        t.write(
            &format!("{LATER}/migration.toml"),
            "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nbatch_size = 250\nstrategy = \"in-place\"\n",
        );
        let out = t.cmd().arg("up").output().unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{step}: {stdout}{stderr}");
        let first = stdout.find(MIG).unwrap_or(usize::MAX);
        let second = stdout.find(LATER).unwrap_or(0);
        assert!(first < second, "{step}: {MIG} then {LATER}:\n{stdout}");
        let now = users(&t);
        let wrong: Vec<i32> = (0..n)
            .filter(|id| {
                let (d, o) = (&now[id], &original[id]);
                d.get_i32("n") != Ok(2) || d.get_str("email") != o.get_str("email")
            })
            .collect();
        assert!(
            wrong.is_empty(),
            "{step}: not transformed once by each: {:?}",
            &wrong[..wrong.len().min(5)]
        );
        let ledger = t.ledger();
        let state = |id: &str| {
            ledger
                .iter()
                .find(|e| e.get_str("_id") == Ok(id))
                .map(|e| e.get_str("state").unwrap().to_string())
        };
        assert_eq!(state(MIG).as_deref(), Some("applied"), "{step}");
        assert_eq!(state(LATER).as_deref(), Some("applied"), "{step}");
        let at = |id: &str| {
            let e = ledger.iter().find(|e| e.get_str("_id") == Ok(id)).unwrap();
            (
                e.get_datetime("started_at").ok().copied(),
                e.get_datetime("applied_at").ok().copied(),
            )
        };
        assert!(
            at(MIG).1.unwrap() <= at(LATER).0.unwrap(),
            "{step}: {LATER} started before {MIG} was applied: {ledger:?}"
        );
        let out = t.cmd().arg("status").output().unwrap();
        assert!(!text(&out).1.contains("interrupted"), "{step}");
    }
}
