//! Finding 14: a rewrite stopped during its copy, on a server whose oplog
//! has since rolled past where the copy started, starts its copy over by
//! itself (saying how far the oplog reaches) instead of failing for good;
//! `plan` warns beforehand that the oplog is too short for the copy.

#![allow(clippy::unwrap_used)]

use bson::doc;
use mongoshift::failpoint as fp;

use super::app::{backup, check_applied, collections, counting, killed_at, seed, Acked, MIG};
use crate::util::{text, LocalServer, TestDb};

const N: i32 = 3_000;

/// Stopped at `step` (during or after the copy, before the window), then
/// `up`: the copy starts over, saying so, and every document is
/// transformed exactly once.
fn started_over_after(step: &str, plan_warns: bool) {
    // An oplog of 2,000 entries: seeding alone rolls it over, and the
    // copy's own inserts (shadow and backup) push out its start.
    let server = LocalServer::start(&["--oplog-max-entries", "2000"]);
    let t = TestDb::on(&server.uri, "oplog_short");
    seed(&t, N);
    let original = t.raw_users();
    counting(&t, false, "rewrite", "");

    if plan_warns {
        let out = t.cmd().arg("plan").output().unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}{stderr}");
        assert!(
            stdout.contains(
                "warning: the copy writes about 6000 oplog entries, and the oplog reaches back"
            ),
            "{stdout}"
        );
        assert!(stdout.contains("2000 entries"), "{stdout}");
    }
    killed_at(&t, step, &["up"]);
    let rewrite = t.ledger()[0].get_document("rewrite").unwrap().clone();
    assert!(
        ["copy", "catch-up"].contains(&rewrite.get_str("phase").unwrap()),
        "{rewrite}"
    );

    let out = t.cmd().arg("up").output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "warning: {MIG}: the oplog no longer reaches back to where the copy of users started \
             (the oplog reaches back"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("the copy starts over from the first document"),
        "{stderr}"
    );
    // Every document transformed exactly once, the originals kept.
    check_applied(&t, N, &original, &Acked::default(), true);
    assert_eq!(t.count(&backup(), doc! {}), N as u64);
    let left = collections(&t);
    assert!(
        !left.iter().any(|c| c.starts_with("mongoshift_shadow_")),
        "{left:?}"
    );
    assert_eq!(t.ledger()[0].get_str("state").unwrap(), "applied");
}

#[test]
fn a_copy_stopped_part_way_that_the_oplog_rolled_past_starts_over_and_plan_warns_of_it() {
    // Stopped after its fourth batch: 2,000 documents copied twice over.
    started_over_after(&format!("{}:4", fp::BATCH_AFTER_COMMIT), true);
}

#[test]
fn a_finished_copy_the_oplog_rolled_past_starts_over() {
    started_over_after(fp::REWRITE_AFTER_COPY, false);
}
