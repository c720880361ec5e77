//! `down` of cross-collection migrations killed part-way (SIGKILL at a fail
//! point), then run again: by the backward transform, which gathers the
//! outputs back through a lookup and deletes them, and from pre-images,
//! which restores, deletes and re-inserts outputs. Either way every touched
//! collection ends byte for byte as it was before `up`.

use bson::{doc, Document};

use crate::cross::variant;
use crate::cross_examples::{seed, DENORMALIZE, MOVE_ADDRESSES};
use crate::guests::install;
use crate::util::{block_on, TestDb};

/// Runs `down` stopped at `point`, and checks it was stopped there.
fn down_killed_at(t: &TestDb, point: &str) {
    let out = t
        .std_cmd()
        .arg("down")
        .args(["--steps", "9"])
        .env("MONGOSHIFT_FAILPOINT", point)
        .output()
        .expect("run down");
    assert!(
        !out.status.success(),
        "killed at {point}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn states(t: &TestDb) -> Vec<(String, String)> {
    let mut s: Vec<(String, String)> = t
        .ledger()
        .iter()
        .map(|e| {
            (
                e.get_str("_id").unwrap_or_default().to_string(),
                e.get_str("state").unwrap_or_default().to_string(),
            )
        })
        .collect();
    s.sort();
    s
}

#[test]
fn a_backward_down_killed_part_way_finishes_with_every_address_back_once() {
    let t = TestDb::new("cross_down_backward");
    seed(&t, 2_000);
    install(&t, MOVE_ADDRESSES);
    let users = t.raw_users();
    t.cmd().arg("up").assert().success();
    assert_eq!(t.count("addresses", doc! {}), 6_000);
    // Four batches of 500 users: stopped after the second committed, then
    // in the next run before its second (the fourth) commits.
    down_killed_at(&t, "batch.after_commit:2");
    assert_eq!(t.count("addresses", doc! {}), 3_000, "two batches undone");
    down_killed_at(&t, "batch.before_commit:2");
    assert_eq!(t.count("addresses", doc! {}), 1_500, "three batches undone");
    t.cmd().args(["down", "--steps", "9"]).assert().success();
    assert!(t.raw_users() == users, "users byte-identical after down");
    assert_eq!(t.count("addresses", doc! {}), 0);
    assert_eq!(
        states(&t),
        vec![(MOVE_ADDRESSES.to_string(), "rolled_back".to_string())]
    );
}

const UPSERTS: &str = "20260303000000_upsert_copies";
const DELETES: &str = "20260304000000_delete_purged";

/// A migration of `users` running the example version-2 guest with `op`
/// (1 upsert, 2 delete) into `collection`; no backward transform, so its
/// pre-images are kept.
fn emitting(t: &TestDb, id: &str, op: u8, collection: &str) {
    t.write(&format!("{id}/guest.wat"), &variant(op, collection));
    t.write(
        &format!("{id}/migration.toml"),
        &format!("kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nbatch_size = 500\noutputs = [\"{collection}\"]\n"),
    );
}

#[test]
fn a_down_from_pre_images_killed_part_way_puts_every_collection_back_byte_for_byte() {
    let t = TestDb::new("cross_down_pre_images");
    let n = 2_500;
    seed(&t, n);
    // The first 1,000 copies exist (replaced by `up`), the rest are
    // inserted; every purged document the users name is deleted, a few
    // others are not touched.
    block_on(async {
        t.db()
            .collection::<Document>("copies")
            .insert_many((0..1_000_i64).map(|i| doc! { "_id": i, "mine": format!("copy {i}") }))
            .await?;
        t.db()
            .collection::<Document>("purged")
            .insert_many((0..n as i64 + 100).map(|i| doc! { "_id": i, "old": true, "i": i }))
            .await
    })
    .expect("seed outputs");
    install(&t, DENORMALIZE);
    emitting(&t, UPSERTS, 1, "copies");
    emitting(&t, DELETES, 2, "purged");
    let before: Vec<_> = ["users", "orgs", "copies", "purged"]
        .iter()
        .map(|c| t.raw(c))
        .collect();
    t.cmd().arg("up").assert().success();
    assert_eq!(t.count("copies", doc! { "n": { "$exists": true } }), n);
    assert_eq!(t.count("purged", doc! {}), 100);
    assert_eq!(
        t.count("users", doc! { "org_name": { "$exists": true } }),
        n
    );

    // Down goes newest first: the deletes' outputs put back from pre-images
    // (three groups of 1,000), the upserts' outputs, then denormalize by its
    // backward transform (three batches of 1,000).
    down_killed_at(&t, "restore.mid_outputs:2");
    down_killed_at(&t, "restore.mid_outputs:5");
    down_killed_at(&t, "batch.after_commit:2");
    t.cmd().args(["down", "--steps", "9"]).assert().success();
    for (c, was) in ["users", "orgs", "copies", "purged"].iter().zip(&before) {
        assert!(&t.raw(c) == was, "{c} byte-identical after down");
    }
    assert_eq!(
        states(&t),
        [DENORMALIZE, UPSERTS, DELETES]
            .iter()
            .map(|id| (id.to_string(), "rolled_back".to_string()))
            .collect::<Vec<_>>()
    );
}
