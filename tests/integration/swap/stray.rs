//! A backup collection no ledger entry owns (left by an earlier rewrite whose
//! ledger entry is gone) may hold the only copy of documents: a rewrite that
//! would need its name is refused, and the collection is never dropped.

#![allow(clippy::unwrap_used)]

use bson::{doc, Document};

use super::app::{backup, collections, counting, seed, MIG};
use crate::util::{block_on, text, TestDb};

#[test]
fn a_backup_no_ledger_entry_owns_is_refused_and_left_as_it_is() {
    let t = TestDb::new("stray_backup");
    seed(&t, 1_000);
    let original = t.raw_users();
    // The only copy of 5 documents of an earlier rewrite.
    block_on(t.db().collection::<Document>(&backup()).insert_many(
        (0..5).map(|i| doc! { "_id": i, "email": format!("old{i}@example.com"), "kept": true }),
    ))
    .unwrap();
    let stray = t.raw(&backup());
    counting(&t, false, "auto", "");
    let out = t
        .cmd()
        .args(["up", "--strategy", "rewrite"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    for part in [
        format!("migration {MIG}"),
        format!("{} already exists and no ledger entry owns it", backup()),
        "it may hold the only copy of the documents of an earlier rewrite of users".into(),
        "so it is left as it is".into(),
        "move it aside".into(),
    ] {
        assert!(stderr.contains(&part), "{part:?} in {stderr}");
    }
    assert!(!stderr.to_lowercase().contains("drop"), "{stderr}");
    assert!(t.raw(&backup()) == stray, "the stray backup is intact");
    assert!(t.raw_users() == original, "users is untouched");
    let left = collections(&t);
    assert!(
        !left.iter().any(|c| c.starts_with("mongoshift_shadow_")),
        "{left:?}"
    );
    // Moved aside as the message says, the rewrite runs and the saved
    // collection is still as it was.
    let saved = format!("{}_saved", backup());
    block_on(t.client.database("admin").run_command(doc! {
        "renameCollection": format!("{}.{}", t.name, backup()),
        "to": format!("{}.{saved}", t.name),
    }))
    .unwrap();
    let out = t
        .cmd()
        .args(["up", "--strategy", "rewrite"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(t.count("users", doc! { "n": 1 }), 1_000);
    assert!(t.raw(&saved) == stray, "the saved collection is intact");
    assert_eq!(t.ledger()[0].get_str("state"), Ok("applied"));
}
