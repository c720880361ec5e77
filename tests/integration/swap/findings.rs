//! Findings 1, 2 and 15 of issue #13, reproduced as they were reported.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bson::{doc, Document};
use mongoshift::failpoint::{SWAP_AFTER_FENCE, SWAP_AFTER_RENAME, SWAP_BEFORE_RENAME};

use super::app::{
    backup, check_nothing_left, collections, conflicts, killed_at, raw_by_id, rewrite, seed, shape,
    users, MIG,
};
use crate::util::{block_on, rt, text, TestDb};

/// Writes `docs` the way an application does: a write the collection refuses
/// (fenced) is retried until it is accepted.
fn retrying(t: &TestDb, docs: Vec<(i32, Document)>) -> tokio::task::JoinHandle<()> {
    let coll = t.db().collection::<Document>("users");
    rt().spawn(async move {
        for (id, set) in docs {
            loop {
                match coll
                    .update_one(doc! { "_id": id }, doc! { "$set": set.clone() })
                    .upsert(true)
                    .await
                {
                    Ok(_) => break,
                    Err(e) if e.to_string().contains("failed validation") => {
                        tokio::time::sleep(Duration::from_millis(5)).await
                    }
                    Err(e) => panic!("application write failed: {e}"),
                }
            }
        }
    })
}

fn new_user(id: i32) -> (i32, Document) {
    (
        id,
        doc! { "name": format!("New{id} Person"), "email": format!("user{id}@example.com"), "age": 30, "n": 0 },
    )
}

/// Finding 1: killed inside the swap window, then `down`: every original is
/// back, the application's inserts are kept, nothing is left fenced, and `up`
/// works again.
#[test]
fn down_after_a_kill_in_the_swap_window_keeps_every_original() {
    let t = TestDb::new("f1_window_down");
    let n = 3_000;
    seed(&t, n);
    let original = t.raw_users();
    let before = shape(&t, "users");
    rewrite(&t, false, "");
    killed_at(&t, SWAP_BEFORE_RENAME, &["up"]);
    let app = retrying(&t, (1_000_000..1_000_009).map(new_user).collect());
    let out = t.cmd().arg("down").output().unwrap();
    block_on(app).unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let now = raw_by_id(&t.raw_users());
    let orig = raw_by_id(&original);
    let lost: Vec<i32> = (0..n).filter(|id| now.get(id) != orig.get(id)).collect();
    assert!(
        lost.is_empty(),
        "{} originals lost or changed (e.g. {:?}); users holds {} documents\n{stdout}{stderr}",
        lost.len(),
        &lost[..lost.len().min(5)],
        now.len()
    );
    assert_eq!(
        now.len(),
        n as usize + 9,
        "the application's 9 inserts are kept"
    );
    assert_eq!(
        shape(&t, "users"),
        before,
        "validator and indexes as before"
    );
    check_nothing_left(&t);
    // And the next `up` neither refuses nor tells anyone to drop a backup.
    let out = t.cmd().arg("up").output().unwrap();
    assert!(out.status.success(), "{}{}", text(&out).0, text(&out).1);
    assert_eq!(t.count("users", doc! { "n": 1 }), n as u64);
}

/// Finding 2: while nobody reruns after a kill in the swap window, readers
/// see every document, `status` says what happened and what to run, and an
/// application upsert made meanwhile neither creates a stray collection nor
/// wins over the original.
#[test]
fn killed_in_the_swap_window_the_collection_keeps_its_documents() {
    for step in [SWAP_AFTER_FENCE, SWAP_BEFORE_RENAME, SWAP_AFTER_RENAME] {
        let t = TestDb::new("f2_window_gap");
        let n = 3_000;
        seed(&t, n);
        let original = users(&t);
        rewrite(&t, false, "");
        killed_at(&t, step, &["up"]);
        assert_eq!(
            t.count("users", doc! {}),
            n as u64,
            "readers see every document after a kill at {step}"
        );
        let out = t.cmd().arg("status").output().unwrap();
        let (stdout, stderr) = text(&out);
        let refused = step != SWAP_AFTER_RENAME;
        let says = if refused {
            "writes to users are refused"
        } else {
            "users takes writes"
        };
        assert!(
            stderr.contains(&format!(
                "migration {MIG} was interrupted in its swap of users"
            )) && stderr.contains(says)
                && stderr
                    .contains("run `mongoshift up` to finish it or `mongoshift down` to undo it"),
            "after a kill at {step}:\n{stdout}{stderr}"
        );
        // Every command says it first.
        for args in [&["plan"][..], &["verify"], &["plan", "--down-steps", "1"]] {
            let out = t.cmd().args(args).output().unwrap();
            let (_, stderr) = text(&out);
            assert!(
                stderr.starts_with(&format!(
                    "warning: migration {MIG} was interrupted in its swap of users"
                )),
                "`{}` after a kill at {step}: {stderr}",
                args.join(" ")
            );
        }
        let app = retrying(&t, vec![(5, doc! { "x": 1 })]);
        if refused {
            std::thread::sleep(Duration::from_millis(300));
            assert!(
                !app.is_finished(),
                "the fence holds the write off at {step}"
            );
        }
        let out = t.cmd().arg("up").output().unwrap();
        block_on(app).unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{step}: {stdout}{stderr}");
        let five = users(&t).remove(&5).unwrap();
        let mut want = original[&5].clone();
        want.insert("n", 1);
        want.insert("x", 1);
        assert_eq!(
            five, want,
            "the upsert is applied to the transformed original ({step})"
        );
        assert_eq!(t.count("users", doc! { "n": 1 }), n as u64, "{step}");
        assert_eq!(t.ledger()[0].get_str("state"), Ok("applied"));
    }
}

/// Finding 15, without a backward transform: `down` counts what the
/// application changed since the swap and refuses to discard it; told to,
/// it restores the originals exactly and keeps the application's versions.
#[test]
fn down_after_a_rewrite_refuses_to_drop_writes_made_since_the_swap() {
    let t = TestDb::new("f15_since_swap");
    let n = 3_000;
    seed(&t, n);
    let original = t.raw_users();
    let before = shape(&t, "users");
    rewrite(&t, false, "");
    t.cmd().arg("up").assert().success();
    let users_coll = t.db().collection::<Document>("users");
    block_on(async {
        for id in [10, 11, 12, 13, 14] {
            users_coll
                .update_one(doc! { "_id": id }, doc! { "$inc": { "age": 1 } })
                .await
                .unwrap();
        }
        for id in [1_000_000, 1_000_001, 1_000_002] {
            users_coll
                .insert_one(doc! { "_id": id, "email": format!("user{id}@example.com"), "n": 1 })
                .await
                .unwrap();
        }
        users_coll
            .delete_many(doc! { "_id": { "$in": [20, 21] } })
            .await
            .unwrap();
    });
    let changed = t.raw_users();
    let out = t.cmd().arg("down").output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!("while rolling back migration {MIG}"))
            && stderr.contains(
                "10 documents inserted, changed or deleted by the application since the swap"
            )
            && stderr.contains("down --set-aside-writes-since-swap"),
        "{stderr}"
    );
    assert!(
        t.raw_users() == changed,
        "nothing changed by the refused down"
    );
    assert_eq!(t.ledger()[0].get_str("state"), Ok("applied"));
    block_on(users_coll.insert_one(doc! { "_id": -1, "email": "w@example.com" }))
        .expect("not left fenced");
    block_on(users_coll.delete_one(doc! { "_id": -1 })).unwrap();

    let out = t
        .cmd()
        .args(["down", "--set-aside-writes-since-swap"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        t.raw_users() == original,
        "the original documents, byte for byte"
    );
    assert_eq!(
        shape(&t, "users"),
        before,
        "validator and indexes as before"
    );
    let set_aside: Vec<(String, String)> = t
        .find(&conflicts(), doc! {})
        .iter()
        .map(|d| {
            (
                format!("{}", d.get_document("_id").unwrap().get("id").unwrap()),
                d.get_str("change").unwrap().to_string(),
            )
        })
        .collect();
    let mut kinds: Vec<(String, String)> = set_aside.clone();
    kinds.sort();
    let mut want: Vec<(String, String)> = [10, 11, 12, 13, 14]
        .iter()
        .map(|i| (i.to_string(), "changed".to_string()))
        .chain(
            [1_000_000, 1_000_001, 1_000_002]
                .iter()
                .map(|i| (i.to_string(), "inserted".to_string())),
        )
        .chain(
            [20, 21]
                .iter()
                .map(|i| (i.to_string(), "deleted".to_string())),
        )
        .collect();
    want.sort();
    assert_eq!(
        kinds, want,
        "the application's versions and tombstones are kept"
    );
    let ten = t.find(&conflicts(), doc! { "_id.id": 10 }).remove(0);
    assert_eq!(ten.get_document("current").unwrap().get_i32("n"), Ok(1));
    assert!(!collections(&t).contains(&backup()));
    assert_eq!(t.ledger()[0].get_str("state"), Ok("rolled_back"));
}

/// Finding 15, with a backward transform: `down` runs it on the live
/// collection and keeps what the application wrote since the swap.
#[test]
fn down_after_a_rewrite_with_a_backward_transform_keeps_writes_made_since_the_swap() {
    let t = TestDb::new("f15_backward");
    let n = 3_000;
    seed(&t, n);
    let original = users(&t);
    rewrite(&t, true, "");
    t.cmd().arg("up").assert().success();
    assert!(
        !collections(&t).contains(&backup()),
        "a backward transform needs no backup"
    );
    let users_coll = t.db().collection::<Document>("users");
    block_on(async {
        users_coll
            .update_one(doc! { "_id": 10 }, doc! { "$inc": { "age": 1 } })
            .await
            .unwrap();
        users_coll
            .insert_one(doc! { "_id": 1_000_000, "email": "user1000000@example.com", "n": 1 })
            .await
            .unwrap();
        users_coll.delete_one(doc! { "_id": 20 }).await.unwrap();
    });
    let out = t.cmd().arg("down").output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let now = users(&t);
    assert_eq!(now.len(), n as usize, "one inserted, one deleted");
    assert_eq!(
        now[&10].get_i32("age").unwrap(),
        original[&10].get_i32("age").unwrap() + 1
    );
    assert_eq!(
        now[&1_000_000].get_i32("n"),
        Ok(0),
        "the insert, backward too"
    );
    assert!(!now.contains_key(&20), "the delete is kept");
    assert_eq!(t.count("users", doc! { "n": 0 }), n as u64);
    for (id, d) in &original {
        if *id != 10 && *id != 20 {
            assert_eq!(&now[id], d, "_id {id} as it was");
        }
    }
    assert_eq!(t.ledger()[0].get_str("state"), Ok("rolled_back"));
}
