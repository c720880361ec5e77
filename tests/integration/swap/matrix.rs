//! The fail-point matrix: for every named step of a rewrite's `up` and
//! `down`, a run is stopped there (SIGKILL) while an application writes,
//! then, from separate seeds, `up` must finish it and `down` must undo it,
//! with every acknowledged application write accounted for.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

use bson::{doc, Document};
use mongoshift::failpoint as fp;

use super::app::{
    backup, check_applied, check_nothing_left, check_originals_with_writes, collections, conflicts,
    killed_at, raw_by_id, rewrite, seed, shape, users, Acked, App,
};
use crate::util::{text, TestDb};

const N: i32 = 3_000;

fn seed_of(step: &str) -> u64 {
    step.bytes().fold(0x9E37_79B9_7F4A_7C15, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3)
    })
}

/// Whether the killed run got as far as the rename.
fn renamed_by(step: &str) -> bool {
    [
        fp::SWAP_AFTER_RENAME,
        fp::SWAP_AFTER_WINDOW_DELETES,
        fp::SWAP_BEFORE_DONE,
    ]
    .contains(&step)
}

fn no_warning(t: &TestDb) {
    let out = t.cmd().arg("status").output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(!stderr.contains("interrupted"), "{stdout}{stderr}");
}

/// `up` stopped at `step` while the application writes; `up` again finishes
/// it (the application still writing): every document transformed once,
/// every acknowledged write there.
fn up_finishes(step: &str, extra: &str) {
    let t = TestDb::new("fp_up");
    seed(&t, N);
    let original = t.raw_users();
    let before = shape(&t, "users");
    rewrite(&t, false, extra);
    let app = App::start(&t, N, seed_of(step), 1_000_000, 0);
    app.wait_for(50);
    killed_at(&t, step, &["up"]);
    std::thread::sleep(Duration::from_millis(200));
    let out = t.cmd().arg("up").output().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let acked = app.finish();
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "after a kill at {step}: {stdout}{stderr}"
    );
    if [
        fp::SWAP_AFTER_FENCE,
        fp::SWAP_MID_DRAIN,
        fp::SWAP_BEFORE_RENAME,
    ]
    .contains(&step)
    {
        assert!(acked.refused > 0, "{step}: the fence held no write off");
    }
    check_applied(&t, N, &original, &acked, true);
    assert_eq!(shape(&t, "users"), before, "validator and indexes ({step})");
    let left = collections(&t);
    assert!(
        !left.iter().any(|c| c.starts_with("mongoshift_shadow_")),
        "{left:?}"
    );
    // The backup holds the originals as they were at the swap.
    let b = t.find(&backup(), doc! {});
    assert!(
        b.len() + acked.deleted.len() >= N as usize,
        "{step}: {} originals",
        b.len()
    );
    assert!(
        b.iter().all(|d| d.get_i32("n").unwrap() % 10 == 0),
        "{step}"
    );
    no_warning(&t);
}

/// `up` stopped at `step` while the application writes (for a moment
/// after, too); then `down`: before the rename, the original with every
/// write; after it, a refusal naming the writes since the swap, and with
/// the flag the originals exactly, the application's versions set aside.
fn down_undoes(step: &str, extra: &str) {
    let t = TestDb::new("fp_down");
    seed(&t, N);
    let original = t.raw_users();
    let before = shape(&t, "users");
    rewrite(&t, false, extra);
    let app = App::start(&t, N, seed_of(step) ^ 1, 1_000_000, 0);
    app.wait_for(50);
    killed_at(&t, step, &["up"]);
    if renamed_by(step) {
        app.wait_for(20);
    } else {
        std::thread::sleep(Duration::from_millis(300));
    }
    let acked = app.finish();
    let out = t.cmd().arg("down").output().unwrap();
    let (stdout, stderr) = text(&out);
    if renamed_by(step) {
        assert_eq!(out.status.code(), Some(1), "{step}: {stdout}{stderr}");
        assert!(
            stderr.contains("by the application since the swap"),
            "{step}: {stderr}"
        );
        let out = t
            .cmd()
            .args(["down", "--set-aside-writes-since-swap"])
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{step}: {stdout}{stderr}");
        check_restored_with_set_aside(&t, &original, &acked);
    } else {
        assert!(
            out.status.success(),
            "after a kill at {step}: {stdout}{stderr}"
        );
        check_originals_with_writes(&t, N, &original, &acked, &[0]);
    }
    assert_eq!(shape(&t, "users"), before, "validator and indexes ({step})");
    check_nothing_left(&t);
    no_warning(&t);
}

/// After `down --set-aside-writes-since-swap`: each document is its
/// original with the writes made before the swap (byte for byte where there
/// were none), and each one the application touched after the swap is in
/// the conflicts collection as it left it.
fn check_restored_with_set_aside(t: &TestDb, original: &[bson::RawDocumentBuf], app: &Acked) {
    let orig = raw_by_id(original);
    let now = raw_by_id(&t.raw_users());
    let aside: HashMap<i32, Document> = t
        .find(&conflicts(), doc! {})
        .into_iter()
        .map(|d| (d.get_document("_id").unwrap().get_i32("id").unwrap(), d))
        .collect();
    assert!(!aside.is_empty(), "writes since the swap were set aside");
    let mut wrong = Vec::new();
    for id in 0..N {
        let k = app.updates.get(&id).copied().unwrap_or(0);
        let set_aside = aside.get(&id);
        let change = set_aside.map(|d| d.get_str("change").unwrap());
        let age0 = orig[&id].get_i32("age").unwrap();
        let restored = now
            .get(&id)
            .map(|d| (d.get_i32("n").unwrap(), d.get_i32("age").unwrap()));
        match (change, restored) {
            (Some("changed"), Some((nn, age))) => {
                let cur = set_aside.unwrap().get_document("current").unwrap();
                let (cn, ca) = (cur.get_i32("n").unwrap(), cur.get_i32("age").unwrap());
                if cn != 1 + 10 * k
                    || ca != age0 + k
                    || nn % 10 != 0
                    || nn / 10 > k
                    || age != age0 + nn / 10
                {
                    wrong.push(format!(
                        "_id {id}: {k} updates; set aside n {cn}, restored n {nn}"
                    ));
                }
            }
            (Some("deleted"), Some((nn, _))) if app.deleted.contains(&id) && nn / 10 <= k => {}
            (None, None) if app.deleted.contains(&id) => {}
            (None, Some((nn, age))) if !app.deleted.contains(&id) => {
                if nn != 10 * k || age != age0 + k || (k == 0 && now[&id] != orig[&id]) {
                    wrong.push(format!("_id {id}: {k} updates, restored n {nn}, age {age}"));
                }
            }
            other => wrong.push(format!(
                "_id {id}: {other:?}, deleted: {}",
                app.deleted.contains(&id)
            )),
        }
    }
    for (id, _) in &app.inserted {
        let inserted_after = aside
            .get(id)
            .is_some_and(|d| d.get_str("change") == Ok("inserted"));
        if inserted_after == now.contains_key(id) {
            wrong.push(format!(
                "inserted _id {id}: restored {}, set aside {inserted_after}",
                now.contains_key(id)
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong, e.g. {:#?}",
        wrong.len(),
        &wrong[..wrong.len().min(6)]
    );
}

macro_rules! up_steps {
    ($($name:ident: $step:expr, $extra:expr;)*) => {$(
        mod $name {
            #[test]
            fn up_finishes_it() {
                super::up_finishes($step, $extra);
            }
            #[test]
            fn down_undoes_it() {
                super::down_undoes($step, $extra);
            }
        }
    )*};
}

up_steps! {
    batch_before_checkpoint: super::fp::BATCH_BEFORE_CHECKPOINT, "";
    batch_after_commit: "batch.after_commit:3", "";
    batch_before_transaction: "batch.before_transaction:3", "transactions = \"batch\"\n";
    batch_before_commit_in_a_transaction: super::fp::BATCH_BEFORE_COMMIT, "transactions = \"batch\"\n";
    batch_after_commit_in_a_transaction: "batch.after_commit:3", "transactions = \"batch\"\n";
    rewrite_after_create: super::fp::REWRITE_AFTER_CREATE, "";
    rewrite_after_copy: super::fp::REWRITE_AFTER_COPY, "";
    rewrite_after_indexes: super::fp::REWRITE_AFTER_INDEXES, "";
    rewrite_mid_catch_up: super::fp::REWRITE_MID_CATCH_UP, "";
    swap_after_fence: super::fp::SWAP_AFTER_FENCE, "";
    swap_mid_drain: super::fp::SWAP_MID_DRAIN, "";
    swap_before_rename: super::fp::SWAP_BEFORE_RENAME, "";
    swap_after_rename: super::fp::SWAP_AFTER_RENAME, "";
    swap_after_window_deletes: super::fp::SWAP_AFTER_WINDOW_DELETES, "";
    swap_before_done: super::fp::SWAP_BEFORE_DONE, "";
}

/// An applied rewrite whose `down` (to the originals, the application's
/// later writes set aside) stops at `step`; the application writes
/// throughout.
fn restore_stopped_at(step: &str) -> (TestDb, Vec<bson::RawDocumentBuf>, Acked, App) {
    let t = TestDb::new("fp_restore");
    seed(&t, N);
    let original = t.raw_users();
    rewrite(&t, false, "");
    let app = App::start(&t, N, seed_of(step), 1_000_000, 0);
    app.wait_for(50);
    t.cmd().arg("up").assert().success();
    app.wait_for(50);
    killed_at(&t, step, &["down", "--set-aside-writes-since-swap"]);
    std::thread::sleep(Duration::from_millis(200));
    let before = app.finish();
    let app = App::start(&t, N, seed_of(step) ^ 7, 2_000_000, 1);
    (t, original, before, app)
}

/// A rollback to the originals stopped at `step`; `up` undoes it (fence
/// lifted, still applied) or, renamed already, finishes it and applies the
/// migration again: every document transformed exactly once.
fn restore_then_up(step: &str) {
    let (t, _, before, app) = restore_stopped_at(step);
    let out = t.cmd().arg("up").output().unwrap();
    let mut acked = app.finish();
    acked.inserted.extend(before.inserted);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{step}: {stdout}{stderr}");
    let odd: Vec<(i32, i32)> = users(&t)
        .into_iter()
        .map(|(id, d)| (id, d.get_i32("n").unwrap()))
        .filter(|(id, n)| n % 10 != 1 && !acked.inserted.iter().any(|(i, _)| i == id))
        .collect();
    assert!(
        odd.is_empty(),
        "{step}: not transformed exactly once: {:?}",
        &odd[..odd.len().min(5)]
    );
    assert_eq!(t.ledger()[0].get_str("state"), Ok("applied"));
    no_warning(&t);
}

/// A rollback to the originals stopped at `step`; `down` again finishes it.
fn restore_then_down(step: &str) {
    let (t, original, mut acked, app) = restore_stopped_at(step);
    let later = app.finish();
    for (id, k) in later.updates {
        *acked.updates.entry(id).or_insert(0) += k;
    }
    acked.deleted.extend(later.deleted);
    let out = t
        .cmd()
        .args(["down", "--set-aside-writes-since-swap"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{step}: {stdout}{stderr}");
    // Writes made after the rollback's own rename stay on the originals:
    // check the documents nobody touched, byte for byte, and that nothing
    // is left behind.
    let orig = raw_by_id(&original);
    let now = raw_by_id(&t.raw_users());
    let untouched: Vec<i32> = (0..N)
        .filter(|id| !acked.updates.contains_key(id) && !acked.deleted.contains(id))
        .collect();
    assert!(untouched.len() > 1000, "{step}");
    for id in untouched {
        assert_eq!(now.get(&id), orig.get(&id), "{step}: _id {id}");
    }
    assert!(!t.find(&conflicts(), doc! {}).is_empty(), "{step}");
    check_nothing_left(&t);
    no_warning(&t);
}

macro_rules! restore_steps {
    ($($name:ident: $step:expr;)*) => {$(
        mod $name {
            #[test]
            fn up_undoes_it() {
                super::restore_then_up($step);
            }
            #[test]
            fn down_finishes_it() {
                super::restore_then_down($step);
            }
        }
    )*};
}

restore_steps! {
    down_after_fence: super::fp::DOWN_AFTER_FENCE;
    down_before_rename: super::fp::DOWN_BEFORE_RENAME;
    down_after_rename: super::fp::DOWN_AFTER_RENAME;
    down_before_done: super::fp::DOWN_BEFORE_DONE;
}

/// `down` of a rewrite with a backward transform, stopped at `step`.
fn backward_stopped_at(step: &str) -> (TestDb, Vec<bson::RawDocumentBuf>, App) {
    let t = TestDb::new("fp_backward");
    seed(&t, N);
    let original = t.raw_users();
    rewrite(&t, true, "");
    t.cmd().arg("up").assert().success();
    let app = App::start(&t, N, seed_of(step), 1_000_000, 1);
    app.wait_for(50);
    killed_at(&t, step, &["down"]);
    (t, original, app)
}

/// ... then `down` again: the backward transform finishes, every document
/// as it was with every acknowledged write on it.
fn backward_then_down(step: &str) {
    let (t, original, app) = backward_stopped_at(step);
    let out = t.cmd().arg("down").output().unwrap();
    let acked = app.finish();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{step}: {stdout}{stderr}");
    // The application inserts documents as the transform writes them
    // (n = 1): those the backward transform reached are 0 again.
    check_originals_with_writes(&t, N, &original, &acked, &[0, 1]);
    check_nothing_left(&t);
}

/// ... then `up`: the rollback is finished first, then the migration
/// applied again; every document transformed exactly once.
fn backward_then_up(step: &str) {
    let (t, original, app) = backward_stopped_at(step);
    let out = t.cmd().arg("up").output().unwrap();
    let acked = app.finish();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{step}: {stdout}{stderr}");
    check_applied(&t, N, &original, &acked, false);
    no_warning(&t);
}

macro_rules! backward_steps {
    ($($name:ident: $step:expr;)*) => {$(
        mod $name {
            #[test]
            fn up_redoes_it() {
                super::backward_then_up($step);
            }
            #[test]
            fn down_finishes_it() {
                super::backward_then_down($step);
            }
        }
    )*};
}

backward_steps! {
    backward_batch_after_commit: "batch.after_commit:4";
    down_after_backward: super::fp::DOWN_AFTER_BACKWARD;
}

/// An unfinished rewrite's `down` stopped after lifting the fence, before
/// dropping the copies; `down` finishes, `up` starts the rewrite over.
#[test]
fn an_undo_stopped_after_lifting_the_fence_is_finished_by_down_and_redone_by_up() {
    for recover in ["down", "up"] {
        let t = TestDb::new("fp_undo");
        seed(&t, N);
        let original = t.raw_users();
        rewrite(&t, false, "");
        let app = App::start(&t, N, 77, 1_000_000, 0);
        app.wait_for(50);
        killed_at(&t, fp::SWAP_AFTER_FENCE, &["up"]);
        killed_at(&t, fp::DOWN_AFTER_UNFENCE, &["down"]);
        app.wait_for(20);
        let out = t.cmd().arg(recover).output().unwrap();
        let acked = app.finish();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{recover}: {stdout}{stderr}");
        if recover == "down" {
            check_originals_with_writes(&t, N, &original, &acked, &[0]);
            check_nothing_left(&t);
        } else {
            check_applied(&t, N, &original, &acked, true);
        }
        no_warning(&t);
    }
}

/// Every named step is in the matrix.
#[test]
fn every_fail_point_is_exercised() {
    let here = include_str!("matrix.rs");
    for step in fp::STEPS {
        let constant = step.replace('.', "_").to_uppercase();
        assert!(
            here.contains(&format!("fp::{constant}")) || here.contains(&format!("\"{step}:")),
            "no case stops at {step}"
        );
    }
}
