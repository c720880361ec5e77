//! The cross-collection example migrations (`migrations/`, built from source
//! by `mongoshift build`) through the whole engine: up and down leave every
//! touched collection as it was, a lookup is read in the batch's snapshot,
//! and a run killed anywhere resumes with every output written once.

use bson::{doc, Document};
use futures_util::TryStreamExt;

use crate::guests::install;
use crate::util::{block_on, TestDb};

pub const MOVE_ADDRESSES: &str = "20260301000000_move_addresses";
pub const DENORMALIZE: &str = "20260302000000_denormalize_org_name";

/// `n` users as the demo seeds them with `--cross`, and the organisations.
pub fn seed(t: &TestDb, n: u64) {
    let users = t.db().collection::<Document>("users");
    block_on(async {
        let mut i = 0;
        while i < n {
            let end = (i + 10_000).min(n);
            users
                .insert_many((i..end).map(mongoshift::sample::cross_user))
                .await
                .expect("seed users");
            i = end;
        }
        t.db()
            .collection::<Document>("orgs")
            .insert_many((0..mongoshift::sample::ORGS).map(mongoshift::sample::org))
            .await
            .expect("seed orgs");
    });
}

#[test]
fn move_addresses_moves_every_address_and_down_brings_them_back_byte_for_byte() {
    let t = TestDb::new("move_addresses");
    seed(&t, 2_000);
    install(&t, MOVE_ADDRESSES);
    let users = t.raw_users();
    t.cmd().arg("up").assert().success();
    assert_eq!(
        t.count("users", doc! { "addresses": { "$exists": true } }),
        0
    );
    assert_eq!(t.count("addresses", doc! {}), 6_000);
    let a = &t.find("addresses", doc! { "_id": "7-1" })[0];
    assert_eq!(
        (a.get_i64("user_id"), a.get_i32("i"), a.get_str("kind")),
        (Ok(7), Ok(1), Ok("work"))
    );
    t.cmd().arg("down").assert().success();
    assert!(t.raw_users() == users, "users byte-identical after down");
    assert_eq!(
        t.count("addresses", doc! {}),
        0,
        "every moved address deleted"
    );
}

#[test]
fn denormalize_org_name_copies_each_name_and_down_removes_it_byte_for_byte() {
    let t = TestDb::new("denormalize");
    seed(&t, 1_500);
    install(&t, DENORMALIZE);
    let (users, orgs) = (t.raw_users(), t.raw("orgs"));
    t.cmd().arg("up").assert().success();
    let u = &t.find("users", doc! { "_id": 205_i64 })[0];
    assert_eq!(
        u.get_str("org_name"),
        Ok(mongoshift::sample::org(5).get_str("name").expect("name"))
    );
    assert_eq!(
        t.count("users", doc! { "org_name": { "$exists": false } }),
        0
    );
    t.cmd().arg("down").assert().success();
    assert!(t.raw_users() == users, "users byte-identical after down");
    assert!(t.raw("orgs") == orgs, "orgs untouched");
}

/// An organisation renamed while the first batch waits for its transaction:
/// the lookup is read again in the transaction's snapshot and the batch's
/// users get the new name, though the transform first saw the old one.
#[test]
fn a_lookup_changed_while_its_batch_is_in_flight_is_read_again_in_the_transaction() {
    let t = TestDb::new("lookup_snapshot");
    seed(&t, 3_000);
    install(&t, DENORMALIZE);
    let child = t
        .std_cmd()
        .arg("up")
        .env("MONGOSHIFT_FAILPOINT", "batch.before_transaction:1")
        .env("MONGOSHIFT_FAILPOINT_PAUSE_MS", "3000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    block_on(
        t.db()
            .collection::<Document>("orgs")
            .update_one(doc! { "_id": 0 }, doc! { "$set": { "name": "Renamed" } }),
    )
    .expect("rename");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(t.count("users", doc! { "org_id": 0 }), 30);
    assert_eq!(
        t.count("users", doc! { "org_id": 0, "org_name": "Renamed" }),
        30
    );
    let cp = t.ledger()[0]
        .get_document("checkpoint")
        .expect("checkpoint")
        .clone();
    assert!(cp.get_i64("changed").expect("changed") >= 10, "{cp}");
}

/// move_addresses inserts its outputs, so a batch applied twice would fail on
/// its first address: killed at five points and resumed, the run ends with
/// every address written exactly once.
#[test]
fn move_addresses_killed_at_five_points_resumes_with_every_output_exactly_once() {
    let (_server, t) = TestDb::alone("move_addresses_kills");
    let n: u64 = 200_000;
    seed(&t, n);
    install(&t, MOVE_ADDRESSES);
    for point in [
        "batch.before_transaction:2",
        "batch.before_commit:7",
        "batch.after_commit:15",
        "batch.before_commit:40",
        "batch.after_commit:90",
    ] {
        let out = t
            .std_cmd()
            .arg("up")
            .env("MONGOSHIFT_FAILPOINT", point)
            .output()
            .expect("run up");
        assert!(!out.status.success(), "killed at {point}");
    }
    t.cmd().arg("up").assert().success();
    assert_eq!(t.count("addresses", doc! {}), 3 * n);
    assert_eq!(t.count("users", doc! {}), n);
    assert_eq!(
        t.count("users", doc! { "addresses": { "$exists": true } }),
        0
    );
    let entry = &t.ledger()[0];
    assert_eq!(entry.get_str("state"), Ok("applied"));
    let cp = entry.get_document("checkpoint").expect("checkpoint");
    assert_eq!(
        cp.get_document("outputs")
            .expect("outputs")
            .get_i64("addresses"),
        Ok(3 * n as i64)
    );
    // Each user's three, numbered 0 to 2, none twice.
    let per_user: Vec<Document> = block_on(async {
        t.db()
            .collection::<Document>("addresses")
            .aggregate(vec![
                doc! { "$group": { "_id": "$user_id", "n": { "$sum": 1 }, "is": { "$addToSet": "$i" } } },
                doc! { "$match": { "$or": [ { "n": { "$ne": 3 } }, { "is": { "$size": 2 } } ] } },
            ])
            .await?
            .try_collect()
            .await
    })
    .expect("aggregate");
    assert!(
        per_user.is_empty(),
        "{:?}",
        &per_user[..per_user.len().min(3)]
    );
}
