//! Outputs larger than one transaction may hold, on a server whose cache
//! takes a transaction of about 4 MiB: a batch whose outputs are too large is
//! split and still written exactly once; a document whose own outputs are
//! too large fails alone, naming the migration and the document, or with
//! `--on-error quarantine` is set aside with none of its outputs.

use bson::doc;

use crate::util::{text, LocalServer, TestDb};

const MIG: &str = "20260301000000_blobs";

/// One MiB: the size of each output's padding.
const MIB: usize = 1 << 20;

/// A contract-version-2 guest that keeps every user (int32 `_id` first) and
/// inserts into `blobs` one document `{_id: id * 100 + k, pad: <MIB zero
/// bytes>}` per `k`: `big_k` of them for the user `big_id`, one for the
/// others.
fn blobs_guest(big_id: i32, big_k: i32) -> String {
    let mut describe =
        bson::to_vec(&doc! { "name": "blobs", "contract_version": 2, "backward": false })
            .expect("describe");
    let mut data = (describe.len() as u32).to_le_bytes().to_vec();
    data.append(&mut describe);
    let escaped: String = data.iter().map(|b| format!("\\{b:02x}")).collect();
    // An output document: length, _id (int32), pad (binary), the final 0.
    let d = 24 + MIB;
    // Room for the result: up to 24 outputs of a batch.
    let room = 24 * (d + 32);
    format!(
        r#"(module
  (memory (export "memory") 2 65536)
  (global $out (mut i32) (i32.const 0))
  (global $cursor (mut i32) (i32.const 0))
  (data (i32.const 1024) "{escaped}")
  (data (i32.const 2048) "blobs")
  (func (export "mongoshift_contract_version") (result i32) (i32.const 2))
  (func (export "mongoshift_describe") (result i32) (i32.const 1024))
  (func (export "mongoshift_alloc") (param $n i32) (result i32)
    (local $need i32)
    (global.set $out (i32.and (i32.add (i32.add (i32.const 65536) (local.get $n)) (i32.const 71)) (i32.const -8)))
    (local.set $need (i32.add (global.get $out) (i32.const {room})))
    (if (i32.gt_u (local.get $need) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq (i32.const -1)
              (memory.grow (i32.sub (i32.add (i32.div_u (local.get $need) (i32.const 65536)) (i32.const 1)) (memory.size))))
          (then (return (i32.const 0))))))
    (i32.const 65536))
  (func $u8 (param $v i32)
    (i32.store8 (global.get $cursor) (local.get $v))
    (global.set $cursor (i32.add (global.get $cursor) (i32.const 1))))
  (func $u32 (param $v i32)
    (i32.store (global.get $cursor) (local.get $v))
    (global.set $cursor (i32.add (global.get $cursor) (i32.const 4))))
  (func $blob (param $id i32)
    (call $u8 (i32.const 0))
    (call $u32 (i32.const 5))
    (memory.copy (global.get $cursor) (i32.const 2048) (i32.const 5))
    (global.set $cursor (i32.add (global.get $cursor) (i32.const 5)))
    (call $u32 (i32.const {d}))
    (call $u32 (i32.const {d}))
    (call $u8 (i32.const 0x10))
    (call $u32 (i32.const 0x0064695f))
    (call $u32 (local.get $id))
    (call $u8 (i32.const 0x05))
    (call $u32 (i32.const 0x00646170))
    (call $u32 (i32.const {MIB}))
    (call $u8 (i32.const 0))
    (memory.fill (global.get $cursor) (i32.const 0) (i32.const {MIB}))
    (global.set $cursor (i32.add (global.get $cursor) (i32.const {MIB})))
    (call $u8 (i32.const 0)))
  (func (export "mongoshift_transform") (param $dir i32) (param $p i32) (param $len i32) (result i32)
    (local $end i32) (local $n i32) (local $id i32) (local $k i32) (local $many i32)
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (global.set $cursor (i32.add (global.get $out) (i32.const 8)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (if (i32.ne (i32.load8_u (i32.add (local.get $p) (i32.const 4))) (i32.const 0x10)) (then (unreachable)))
      (local.set $id (i32.load (i32.add (local.get $p) (i32.const 9))))
      (local.set $many (select (i32.const {big_k}) (i32.const 1) (i32.eq (local.get $id) (i32.const {big_id}))))
      (call $u8 (i32.const 0))
      (call $u32 (i32.const 0))
      (call $u32 (local.get $many))
      (local.set $k (i32.const 0))
      (block $all (loop $each
        (br_if $all (i32.ge_u (local.get $k) (local.get $many)))
        (call $blob (i32.add (i32.mul (local.get $id) (i32.const 100)) (local.get $k)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $each)))
      ;; past the document and its lookups document
      (local.set $p (i32.add (local.get $p) (i32.load (local.get $p))))
      (local.set $p (i32.add (local.get $p) (i32.load (local.get $p))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $next)))
    (i32.store (global.get $out) (i32.sub (global.get $cursor) (i32.add (global.get $out) (i32.const 4))))
    (i32.store (i32.add (global.get $out) (i32.const 4)) (local.get $n))
    (global.get $out))
)"#
    )
}

fn migration(t: &TestDb, users: usize, big_id: i32, big_k: i32) {
    t.write(&format!("{MIG}/guest.wat"), &blobs_guest(big_id, big_k));
    t.write(
        &format!("{MIG}/migration.toml"),
        &format!("kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nthreads = 1\nbatch_size = {users}\noutputs = [\"blobs\"]\n"),
    );
}

/// A server whose cache refuses a transaction's writes beyond a few MiB
/// (64 MiB: 9.6 MiB of dirty budget, counted twice).
fn small_cache() -> LocalServer {
    LocalServer::start(&["--cache-size", "64M"])
}

fn blob_ids(t: &TestDb) -> Vec<i32> {
    t.find("blobs", doc! {})
        .iter()
        .map(|d| d.get_i32("_id").expect("_id"))
        .collect()
}

#[test]
fn a_batch_whose_outputs_are_too_large_is_split_and_written_once() {
    let server = small_cache();
    let t = TestDb::on(&server.uri, "cross_split");
    t.seed_users(16);
    let users = t.raw_users();
    // One batch of 16 users emitting 1 MiB each: 16 MiB in one transaction
    // is refused; alone each fits.
    migration(&t, 16, -1, 1);
    t.cmd().arg("up").assert().success();
    assert_eq!(
        blob_ids(&t),
        (0..16).map(|i| i * 100).collect::<Vec<_>>(),
        "every output once"
    );
    let entry = &t.ledger()[0];
    assert_eq!(entry.get_str("state"), Ok("applied"));
    let cp = entry.get_document("checkpoint").expect("checkpoint");
    assert_eq!(
        cp.get_document("outputs").expect("outputs"),
        &doc! { "blobs": 16_i64 }
    );
    assert!(t.raw_users() == users);
}

#[test]
fn a_document_whose_outputs_are_too_large_fails_alone_or_is_quarantined_without_them() {
    let server = small_cache();
    let t = TestDb::on(&server.uri, "cross_lone");
    t.seed_users(6);
    // User 3 emits ten outputs of 1 MiB: more than one transaction takes.
    migration(&t, 6, 3, 10);
    let out = t.cmd().arg("up").output().expect("run");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    for part in [
        &format!("migration {MIG}: document _id 3: its 10 outputs ("),
        "bytes, to `blobs`) cannot be written inside one transaction",
        "--on-error quarantine",
    ] {
        assert!(stderr.contains(part), "{part:?} in {stderr}");
    }
    assert_eq!(t.ledger()[0].get_str("state"), Ok("failed"));
    assert_eq!(blob_ids(&t), vec![0, 100, 200], "the users before it");

    // Resumed with quarantine: user 3 is set aside, the others written.
    t.cmd()
        .args(["up", "--on-error", "quarantine"])
        .assert()
        .success();
    assert_eq!(blob_ids(&t), vec![0, 100, 200, 400, 500]);
    let q = t.find(mongoshift::writer::QUARANTINE_COLLECTION, doc! {});
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(
        q[0].get_document("original").and_then(|o| o.get_i32("_id")),
        Ok(3)
    );
    let error = q[0].get_str("error").expect("error");
    assert!(
        error.contains("its 10 outputs (") && error.contains("to `blobs`"),
        "{error}"
    );
    assert_eq!(t.ledger()[0].get_str("state"), Ok("applied_with_errors"));
}
