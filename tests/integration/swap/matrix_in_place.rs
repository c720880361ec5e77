//! The fail-point matrix of an in-place run: stopped (SIGKILL) at each step
//! of a batch's commit while an application writes, then, from separate
//! seeds, `up` finishes it and `down` undoes it, from pre-images and by a
//! backward transform, every acknowledged application write accounted for.

#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bson::{doc, Bson, RawDocumentBuf};

use super::app::{
    check_applied_redoing, check_originals_leaving, counting, killed_at, raw_by_id, seed, shape,
    users, Acked, App, MIG,
};
use crate::util::{text, TestDb};

const N: i32 = 3_000;

/// What an in-place run keeps the originals in.
fn pre_images() -> String {
    format!("mongoshift_preimages_{MIG}")
}

fn seed_of(step: &str) -> u64 {
    step.bytes().fold(0x2545_F491_4F6C_DD1D, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3)
    })
}

/// An in-place run of the counting migration stopped at `step` while the
/// application writes; the application is still writing.
fn stopped_at(
    name: &str,
    step: &str,
    backward: bool,
    extra: &str,
) -> (TestDb, Vec<RawDocumentBuf>, App) {
    let t = TestDb::new(name);
    seed(&t, N);
    let original = t.raw_users();
    counting(&t, backward, "in-place", extra);
    let seed = seed_of(step) ^ u64::from(backward);
    let app = App::paced(&t, N, seed, (1_000_000, 0), Duration::from_millis(2));
    app.wait_for(50);
    killed_at(&t, step, &["up"]);
    let e = &t.ledger()[0];
    assert_ne!(e.get_str("state"), Ok("applied"), "{step}: {e}");
    (t, original, app)
}

/// The `_id` the killed run's checkpoint reached (`-1`: none).
fn checkpoint_id(t: &TestDb) -> i32 {
    let e = &t.ledger()[0];
    match e
        .get_document("checkpoint")
        .ok()
        .and_then(|c| c.get("last_id"))
    {
        Some(Bson::Int32(id)) => *id,
        _ => -1,
    }
}

fn no_warning(t: &TestDb, step: &str) {
    let out = t.cmd().arg("status").output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{step}: {stdout}{stderr}");
    assert!(
        !format!("{stdout}{stderr}").contains("interrupted"),
        "{step}: {stdout}{stderr}"
    );
}

/// `up` again, the application still writing: every document transformed
/// once (`at_least_once`: the batch after the checkpoint may be transformed
/// twice, as documented for runs without transactions), every acknowledged
/// write on it.
fn up_finishes(step: &str, extra: &str, at_least_once: bool) {
    let (t, original, app) = stopped_at("ip_up", step, false, extra);
    let before = shape(&t, "users");
    let reached = checkpoint_id(&t);
    std::thread::sleep(Duration::from_millis(200));
    let out = t.cmd().arg("up").output().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let acked = app.finish();
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "after a kill at {step}: {stdout}{stderr}"
    );
    let redone = if at_least_once {
        redone(&t, &acked, reached, step)
    } else {
        HashSet::new()
    };
    check_applied_redoing(&t, N, &original, &acked, true, &redone);
    assert_eq!(shape(&t, "users"), before, "validator and indexes ({step})");
    no_warning(&t, step);
}

/// The documents transformed twice, which without transactions must be
/// after the checkpoint and one batch at most.
fn redone(t: &TestDb, acked: &Acked, reached: i32, step: &str) -> HashSet<i32> {
    let now = users(t);
    let twice: Vec<i32> = (0..N)
        .filter(|id| {
            let k = acked.updates.get(id).copied().unwrap_or(0);
            now.get(id).map(|d| d.get_i32("n").unwrap()) == Some(2 + 10 * k)
        })
        .collect();
    assert!(
        twice.len() <= 250 && twice.iter().all(|id| *id > reached),
        "{step}: transformed twice beyond the batch after _id {reached}: {} documents, {:?}",
        twice.len(),
        &twice[..twice.len().min(5)]
    );
    twice.into_iter().collect()
}

/// `down` after the application stopped, the originals kept as pre-images:
/// each document the run changed is its pre-image byte for byte (the
/// original with the writes made before the run reached it), each one it
/// did not reach is the original with every acknowledged write, byte for
/// byte where there was none; nothing of the run is left.
fn down_from_pre_images(step: &str, extra: &str) {
    let (t, original, app) = stopped_at("ip_down_pre", step, false, extra);
    let before = shape(&t, "users");
    std::thread::sleep(Duration::from_millis(200));
    // A write waiting on the killed run's transaction goes through once
    // `down` ends that run's session.
    app.stop();
    let kept: HashMap<i32, RawDocumentBuf> = t
        .raw_pre_images(&pre_images())
        .into_iter()
        .map(|p| {
            let id = p.get_i32("_id").unwrap();
            (id, p.get_document("doc").unwrap().to_raw_document_buf())
        })
        .collect();
    assert!(!kept.is_empty(), "{step}: the run kept no pre-image");
    let out = t.cmd().arg("down").output().unwrap();
    let acked = app.finish();
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "after a kill at {step}: {stdout}{stderr}"
    );
    let orig = raw_by_id(&original);
    let now = raw_by_id(&t.raw_users());
    let mut wrong = Vec::new();
    for id in 0..N {
        let k = acked.updates.get(&id).copied().unwrap_or(0);
        let deleted = acked.deleted.contains(&id);
        let age0 = orig[&id].get_i32("age").unwrap();
        match (kept.get(&id), now.get(&id)) {
            (Some(p), Some(d)) => {
                let (pn, page) = (p.get_i32("n").unwrap(), p.get_i32("age").unwrap());
                if d != p || pn % 10 != 0 || pn / 10 > k || page != age0 + pn / 10 {
                    wrong.push(format!("_id {id}: not its pre-image (n {pn}, {k} updates)"));
                }
            }
            (Some(_), None) => wrong.push(format!("_id {id}: its pre-image was not put back")),
            (None, None) if deleted => {}
            (None, Some(d)) if !deleted => {
                let (nn, age) = (d.get_i32("n").unwrap(), d.get_i32("age").unwrap());
                if nn != 10 * k || age != age0 + k || (k == 0 && d != &orig[&id]) {
                    wrong.push(format!("_id {id}: {k} updates, n {nn}, age {age}"));
                }
            }
            (None, d) => wrong.push(format!("_id {id}: deleted {deleted}, now {d:?}")),
        }
    }
    for (id, _) in &acked.inserted {
        match now.get(id).map(|d| d.get_i32("n").unwrap()) {
            Some(0) => {}
            other => wrong.push(format!("inserted _id {id}: n {other:?}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "{step}: {} wrong, e.g. {:#?}",
        wrong.len(),
        &wrong[..wrong.len().min(6)]
    );
    check_rolled_back(&t, step, &before);
}

/// `down` after the application stopped, by the backward transform: the
/// originals with every acknowledged write on them, byte for byte where the
/// application wrote nothing. `at_least_once`: the batch a run without
/// transactions wrote but did not record may be left transformed (as
/// documented: `down` undoes what the checkpoint records).
fn down_by_backward(step: &str, extra: &str, at_least_once: bool) {
    let (t, original, app) = stopped_at("ip_down_back", step, true, extra);
    let before = shape(&t, "users");
    let reached = checkpoint_id(&t);
    std::thread::sleep(Duration::from_millis(200));
    app.stop();
    let out = t.cmd().arg("down").output().unwrap();
    let acked = app.finish();
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "after a kill at {step}: {stdout}{stderr}"
    );
    let left: HashSet<i32> = if at_least_once {
        let now = users(&t);
        let left: Vec<i32> = (0..N)
            .filter(|id| {
                now.get(id)
                    .is_some_and(|d| d.get_i32("n").unwrap() % 10 == 1)
            })
            .collect();
        assert!(
            left.len() <= 250 && left.iter().all(|id| *id > reached),
            "{step}: left transformed beyond the batch after _id {reached}: {} documents",
            left.len()
        );
        left.into_iter().collect()
    } else {
        HashSet::new()
    };
    check_originals_leaving(&t, N, &original, &acked, &[0], &left);
    check_rolled_back(&t, step, &before);
}

fn check_rolled_back(t: &TestDb, step: &str, before: &(bson::Document, Vec<String>)) {
    assert_eq!(&shape(t, "users"), before, "validator and indexes ({step})");
    assert_eq!(t.count(&pre_images(), doc! {}), 0, "{step}");
    let e = &t.ledger()[0];
    assert_eq!(e.get_str("state"), Ok("rolled_back"), "{step}: {e}");
    no_warning(t, step);
}

macro_rules! in_place_steps {
    ($($name:ident: $step:expr, $extra:expr, $at_least_once:expr;)*) => {$(
        mod $name {
            #[test]
            fn up_finishes_it() {
                super::up_finishes($step, $extra, $at_least_once);
            }
            #[test]
            fn down_undoes_it_from_pre_images() {
                super::down_from_pre_images($step, $extra);
            }
            #[test]
            fn down_undoes_it_by_backward() {
                super::down_by_backward($step, $extra, $at_least_once);
            }
        }
    )*};
}

in_place_steps! {
    batch_before_transaction: "batch.before_transaction:3", "", false;
    batch_before_commit: "batch.before_commit:3", "", false;
    batch_after_commit: "batch.after_commit:3", "", false;
    batch_before_checkpoint: "batch.before_checkpoint:3", "transactions = \"none\"\n", true;
}
