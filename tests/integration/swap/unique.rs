//! A transform whose output breaks a unique index of the collection: the
//! shadow carries the indexes from the start, so the copy stops at the
//! first such document, named; nothing is swapped.

#![allow(clippy::unwrap_used)]

use bson::{doc, Document};

use super::app::{collections, MIG};
use crate::util::{block_on, text, TestDb};
use crate::wat::{for_each, guest};

#[test]
fn a_transform_that_breaks_a_unique_index_stops_the_rewrite_at_the_document() {
    let t = TestDb::new("rewrite_unique");
    let users = t.db().collection::<Document>("users");
    block_on(async {
        users
            .create_index(
                mongodb::IndexModel::builder()
                    .keys(doc! { "n": 1 })
                    .options(
                        mongodb::options::IndexOptions::builder()
                            .unique(true)
                            .build(),
                    )
                    .build(),
            )
            .await
            .unwrap();
        let docs: Vec<Document> = (0..1_000)
            .map(|i| doc! { "_id": i, "email": format!("user{i}@example.com"), "n": i })
            .collect();
        users.insert_many(docs).await.unwrap();
    });
    let original = t.raw_users();
    // n := 7 for every document: the second one collides.
    let body = for_each(
        "(call $emit (i32.const 1) (local.get $doc) (i32.load (local.get $doc)))
         (i32.store (i32.sub (global.get $cursor) (i32.const 5)) (i32.const 7))",
    );
    t.write(&format!("{MIG}/guest.wat"), &guest(1, false, "", &body));
    t.write(
        &format!("{MIG}/migration.toml"),
        "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nbatch_size = 100\nstrategy = \"rewrite\"\n",
    );
    let out = t.cmd().arg("up").output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "while applying migration {MIG}: the server refused to write document _id 1 in batch 1"
        )) && stderr.contains("E11000"),
        "{stderr}"
    );
    assert!(t.raw_users() == original, "the collection is untouched");
    assert_eq!(t.ledger()[0].get_str("state"), Ok("failed"));
    t.cmd().arg("down").assert().success();
    assert_eq!(
        collections(&t),
        [
            "mongoshift_audit",
            "mongoshift_ledger",
            "mongoshift_lock",
            "users"
        ]
    );
    assert!(t.raw_users() == original);
}
