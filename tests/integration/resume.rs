//! Honest resume: pre-images are written once.

use bson::doc;

use crate::util::{block_on, TestDb};
use crate::wat::{for_each, guest, ID};

const MIG: &str = "20260501000000_count";

/// n += 1 going forward, n -= 1 going backward (when `backward`); fails the
/// document whose `_id` is `fail_up` going forward, `fail_down` going back.
fn counter_with(backward: bool, fail_up: Option<i32>, fail_down: Option<i32>) -> String {
    let fail = |id: Option<i32>, dir: &str| {
        match id {
        Some(k) => format!(
            "(if (i32.and ({dir}) (i32.eq {ID} (i32.const {k}))) (then (call $emit (i32.const 3) (i32.const 8192) (i32.const 32)) (br $skip)))"
        ),
        None => String::new(),
    }
    };
    let body = for_each(&format!(
        r#"(block $skip
        {}
        {}
        (call $emit (i32.const 1) (local.get $doc) (i32.load (local.get $doc)))
        (i32.store (i32.sub (global.get $cursor) (i32.const 5))
          (i32.add (i32.load (i32.sub (global.get $cursor) (i32.const 5)))
                   (select (i32.const -1) (i32.const 1) (local.get $dir)))))"#,
        fail(fail_up, "i32.eqz (local.get $dir)"),
        fail(fail_down, "i32.ne (local.get $dir) (i32.const 0)"),
    ));
    guest(1, backward, "", &body)
}

fn migration(t: &TestDb, wat: &str) {
    t.write(&format!("{MIG}/guest.wat"), wat);
    t.write(
        &format!("{MIG}/migration.toml"),
        "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nbatch_size = 500\nstrategy = \"in-place\"\n",
    );
}

#[test]
fn pre_images_are_written_once_keeping_the_first_original() {
    let t = TestDb::new("pre_images_once");
    t.seed_users(3_000);
    let original = t.raw_users();
    migration(&t, &counter_with(false, None, None));
    t.cmd().arg("up").assert().success();
    // An operator removes the ledger entry to run the migration again.
    block_on(
        t.db()
            .collection::<bson::Document>(mongoshift::LEDGER_COLLECTION)
            .delete_one(doc! { "_id": MIG }),
    )
    .expect("delete ledger entry");
    t.cmd().arg("up").assert().success();
    assert_eq!(
        t.count("users", doc! { "n": 2 }),
        3_000,
        "run twice, as asked"
    );
    let backup = format!("mongoshift_preimages_{MIG}");
    assert_eq!(t.count(&backup, doc! {}), 3_000);
    assert_eq!(
        t.count(&backup, doc! { "doc.n": 0 }),
        3_000,
        "the first originals kept"
    );
    t.cmd().arg("down").assert().success();
    assert!(t.raw_users() == original, "back to the originals");
}
