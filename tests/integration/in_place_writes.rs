//! How in-place writes reach the server: `$set`/`$unset` only when they give
//! exactly the transform's document.

use crate::util::TestDb;
use crate::wat::{for_each, guest};

const MIG: &str = "20260401000000_shape";

fn migration(t: &TestDb, wat: &str, extra: &str) {
    t.write(&format!("{MIG}/guest.wat"), wat);
    t.write(
        &format!("{MIG}/migration.toml"),
        &format!("kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nstrategy = \"in-place\"\npre_images = false\n{extra}"),
    );
}

/// Appends `zz: 1` and then `aa: 1` to every document.
fn append_zz_then_aa() -> String {
    // The two int32 elements and the document's terminator, stored at 12288.
    let tail = "\\10zz\\00\\01\\00\\00\\00\\10aa\\00\\01\\00\\00\\00\\00";
    let each = r#"(global.set $w (global.get $cursor))
      (call $emit (i32.const 1) (local.get $doc) (i32.load (local.get $doc)))
      ;; overwrite the copy's terminator with the new fields and a new terminator
      (memory.copy (i32.sub (global.get $cursor) (i32.const 1)) (i32.const 12288) (i32.const 17))
      (global.set $cursor (i32.add (global.get $cursor) (i32.const 16)))
      (i32.store (i32.add (global.get $w) (i32.const 1)) (i32.add (i32.load (i32.add (global.get $w) (i32.const 1))) (i32.const 16)))
      (i32.store (i32.add (global.get $w) (i32.const 5)) (i32.add (i32.load (i32.add (global.get $w) (i32.const 5))) (i32.const 16)))"#;
    guest(
        1,
        false,
        &format!("(global $w (mut i32) (i32.const 0)) (data (i32.const 12288) \"{tail}\")"),
        &for_each(each),
    )
}

#[test]
fn set_writes_keep_the_order_of_added_fields() {
    let t = TestDb::new("set_order");
    t.seed_users(20);
    migration(&t, &append_zz_then_aa(), "in_place_writes = \"set\"\n");
    t.cmd().arg("up").assert().success();
    for d in t.raw_users() {
        let keys: Vec<&str> = d.iter().map(|e| e.expect("element").0).collect();
        assert_eq!(
            keys,
            ["_id", "name", "email", "age", "n", "zz", "aa"],
            "stored exactly as the transform returned it"
        );
    }
}
