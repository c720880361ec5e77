//! Ledger entries of earlier versions, which swapped with two renames and
//! recorded the window as `swap`: still read, finished by `up`, and rolled
//! back by `down` without losing anything.

#![allow(clippy::unwrap_used)]

use bson::{doc, Document};
use mongoshift::failpoint as fp;

use super::app::{backup, collections, conflicts, killed_at, rewrite, seed, MIG};
use crate::util::{block_on, text, TestDb};

/// The rewrite state as an earlier version wrote it, with `phase`.
fn as_earlier_version(t: &TestDb, phase: &str) {
    let ledger = t.db().collection::<Document>(mongoshift::LEDGER_COLLECTION);
    let e = block_on(ledger.find_one(doc! { "_id": MIG }))
        .unwrap()
        .unwrap();
    let r = e.get_document("rewrite").unwrap();
    let old = doc! {
        "collection": r.get_str("collection").unwrap(),
        "shadow": r.get_str("shadow").unwrap(),
        "backup": r.get_str("backup").unwrap(),
        "phase": phase,
        "token": r.get("token").cloned().unwrap(),
        "validation": r.get("validation").cloned().unwrap(),
    };
    block_on(ledger.update_one(doc! { "_id": MIG }, doc! { "$set": { "rewrite": old } })).unwrap();
}

#[test]
fn an_earlier_versions_swap_stopped_between_its_renames_is_finished_and_rolled_back() {
    let t = TestDb::new("legacy_swap");
    let n = 2_000;
    seed(&t, n);
    let original = t.raw_users();
    rewrite(&t, false, "");
    // Where an earlier version died: drained, the source renamed to the
    // backup, the shadow not yet renamed.
    killed_at(&t, fp::SWAP_BEFORE_RENAME, &["up"]);
    block_on(t.db().collection::<Document>(&backup()).drop()).unwrap();
    let db = t.name.clone();
    block_on(t.client.database("admin").run_command(doc! {
        "renameCollection": format!("{db}.users"),
        "to": format!("{db}.{}", backup()),
    }))
    .unwrap();
    as_earlier_version(&t, "swap");
    assert!(!collections(&t).contains(&"users".to_string()));

    let out = t.cmd().arg("status").output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(
        stderr.contains(&format!(
            "migration {MIG} was interrupted in its swap of users (swap)"
        )) && stderr.contains("users does not exist until then"),
        "{stdout}{stderr}"
    );
    let out = t.cmd().arg("up").output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(
        t.count("users", doc! { "n": 1 }),
        n as u64,
        "finished as that version would"
    );
    let e = &t.ledger()[0];
    assert_eq!(e.get_str("state"), Ok("applied"));
    assert_eq!(
        e.get_document("rewrite").unwrap().get_str("phase"),
        Ok("done")
    );

    // No stream position from the swap: what the application did since is
    // unknown, so a plain `down` refuses and the flag keeps everything.
    let out = t.cmd().arg("down").output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("an unknown number of documents"),
        "{stderr}"
    );
    assert_eq!(t.count("users", doc! { "n": 1 }), n as u64);
    let out = t
        .cmd()
        .args(["down", "--set-aside-writes-since-swap"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(t.raw_users() == original, "the originals, byte for byte");
    assert_eq!(
        t.count(&conflicts(), doc! { "change": "unknown" }),
        n as u64
    );
    assert!(!collections(&t).contains(&backup()));
    assert_eq!(t.ledger()[0].get_str("state"), Ok("rolled_back"));
}

#[test]
fn an_earlier_versions_copy_goes_on_and_keeps_the_originals() {
    let t = TestDb::new("legacy_copy");
    let n = 2_000;
    seed(&t, n);
    let original = t.raw_users();
    rewrite(&t, false, "");
    killed_at(&t, "batch.after_commit:3", &["up"]);
    // That version kept no backup while copying.
    block_on(t.db().collection::<Document>(&backup()).drop()).unwrap();
    as_earlier_version(&t, "copy");
    t.cmd().arg("up").assert().success();
    assert_eq!(t.count("users", doc! { "n": 1 }), n as u64);
    t.cmd().arg("down").assert().success();
    assert!(t.raw_users() == original, "the originals, byte for byte");
}
