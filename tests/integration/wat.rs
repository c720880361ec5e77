//! Tiny core-module guests written in WAT, for the engine's tests: a common
//! prelude implementing the ABI of guest-sdk/ABI.md, and a transform body per
//! test.

/// BSON bytes of the describe document.
fn describe_doc(name: &str, version: i32, backward: bool) -> Vec<u8> {
    let d = bson::doc! { "name": name, "contract_version": version, "backward": backward };
    let mut out = Vec::new();
    d.to_writer(&mut out).expect("bson");
    out
}

fn wat_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}

/// A core module with the standard exports and `body` as the body of
/// `mongoshift_transform` (params `$dir $p $len`, result: pointer to the result
/// buffer). Helpers available to the body:
/// - `$count (p len) -> n`: documents in the batch;
/// - `$out`: a global pointing at free memory after the input;
/// - `$emit_tag (tag)`: appends an outcome with no payload;
/// - `$emit (tag src n)`: appends an outcome with `n` bytes from `src`;
/// - `$finish (count) -> ptr`: writes the header and returns the buffer.
pub fn guest(version: i32, backward: bool, imports: &str, body: &str) -> String {
    let info = describe_doc("wat-guest", version, backward);
    let mut describe = (info.len() as u32).to_le_bytes().to_vec();
    describe.extend_from_slice(&info);
    format!(
        r#"(module
  {imports}
  (memory (export "memory") 2 65536)
  (global $heap (mut i32) (i32.const 65536))
  (global $out (mut i32) (i32.const 0))
  (global $cursor (mut i32) (i32.const 0))
  (data (i32.const 1024) "{describe}")
  (data (i32.const 4096) "{fixed}")
  (data (i32.const 8192) "this document cannot be migrated")
  (func (export "mongoshift_contract_version") (result i32) (i32.const {version}))
  (func (export "mongoshift_describe") (result i32) (i32.const 1024))
  (func (export "mongoshift_alloc") (param $n i32) (result i32)
    (local $need i32)
    ;; input at 64 KiB, outcomes after it: room for a copy of every byte plus headers
    (local.set $need (i32.add (i32.const 131072) (i32.mul (local.get $n) (i32.const 3))))
    (if (i32.gt_u (local.get $need) (i32.mul (memory.size) (i32.const 65536)))
      (then (drop (memory.grow (i32.sub (i32.add (i32.div_u (local.get $need) (i32.const 65536)) (i32.const 1)) (memory.size))))))
    (global.set $out (i32.add (i32.const 65536) (i32.add (local.get $n) (i32.const 64))))
    (global.set $cursor (i32.add (global.get $out) (i32.const 8)))
    (i32.const 65536))
  (func $count (param $p i32) (param $len i32) (result i32)
    (local $end i32) (local $n i32)
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $p (i32.add (local.get $p) (i32.load (local.get $p))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $next)))
    (local.get $n))
  (func $emit_tag (param $tag i32)
    (i32.store8 (global.get $cursor) (local.get $tag))
    (i32.store (i32.add (global.get $cursor) (i32.const 1)) (i32.const 0))
    (global.set $cursor (i32.add (global.get $cursor) (i32.const 5))))
  (func $emit (param $tag i32) (param $src i32) (param $n i32)
    (i32.store8 (global.get $cursor) (local.get $tag))
    (i32.store (i32.add (global.get $cursor) (i32.const 1)) (local.get $n))
    (memory.copy (i32.add (global.get $cursor) (i32.const 5)) (local.get $src) (local.get $n))
    (global.set $cursor (i32.add (global.get $cursor) (i32.add (i32.const 5) (local.get $n)))))
  (func $finish (param $count i32) (result i32)
    (i32.store (global.get $out) (i32.sub (global.get $cursor) (i32.add (global.get $out) (i32.const 4))))
    (i32.store (i32.add (global.get $out) (i32.const 4)) (local.get $count))
    (global.get $out))
  (func (export "mongoshift_transform") (param $dir i32) (param $p i32) (param $len i32) (result i32)
    (local $i i32) (local $n i32) (local $doc i32)
    {body})
)"#,
        describe = wat_bytes(&describe),
        fixed = wat_bytes(&FIXED_DOC()),
    )
}

/// `{_id: 999999, x: 1}`, stored at 4096 in every guest.
#[allow(non_snake_case)]
pub fn FIXED_DOC() -> Vec<u8> {
    let mut out = Vec::new();
    bson::doc! { "_id": 999_999, "x": 1 }
        .to_writer(&mut out)
        .expect("bson");
    out
}

/// Loops over the documents: `$doc` is the current one, `each` runs for it.
pub fn for_each(each: &str) -> String {
    format!(
        r#"(local.set $n (call $count (local.get $p) (local.get $len)))
    (local.set $doc (local.get $p))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      {each}
      (local.set $doc (i32.add (local.get $doc) (i32.load (local.get $doc))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (call $finish (local.get $n))"#
    )
}

/// The int32 `_id` of `$doc` (the seed's documents start with an int32 `_id`).
pub const ID: &str = "(i32.load (i32.add (local.get $doc) (i32.const 9)))";

/// Every document unchanged (keep).
pub fn keep_all() -> String {
    guest(1, true, "", &for_each("(call $emit_tag (i32.const 0))"))
}

/// Every document replaced by itself (a byte-identical replacement).
pub fn echo_all() -> String {
    guest(
        1,
        true,
        "",
        &for_each("(call $emit (i32.const 1) (local.get $doc) (i32.load (local.get $doc)))"),
    )
}

/// Adds 1 to the last field of every document, an int32 (`n` in
/// `seed_users`): not idempotent, so a document done twice shows it.
/// `fail_every`: documents whose int32 `_id` is a multiple of it fail instead.
pub fn counter(backward: bool, fail_every: Option<i32>) -> String {
    let fail = match fail_every {
        Some(k) => format!(
            "(if (i32.eqz (i32.rem_u {ID} (i32.const {k}))) (then (call $emit (i32.const 3) (i32.const 8192) (i32.const 32)) (br $skip)))"
        ),
        None => String::new(),
    };
    let body = for_each(&format!(
        r#"(block $skip
        {fail}
        (call $emit (i32.const 1) (local.get $doc) (i32.load (local.get $doc)))
        (i32.store (i32.sub (global.get $cursor) (i32.const 5))
          (i32.add (i32.load (i32.sub (global.get $cursor) (i32.const 5)))
                   (select (i32.const -1) (i32.const 1) (local.get $dir)))))"#
    ));
    guest(1, backward, "", &body)
}

/// Deletes every document whose last field (an int32, `n` in `seed_users`)
/// is 0 and adds 1 to it in every other: what it does to a document depends
/// on what the document holds.
pub fn prune_zeros() -> String {
    let last = "(i32.sub (i32.add (local.get $doc) (i32.load (local.get $doc))) (i32.const 5))";
    let body = for_each(&format!(
        r#"(block $skip
        (if (i32.eqz (i32.load {last}))
          (then (call $emit_tag (i32.const 2)) (br $skip)))
        (call $emit (i32.const 1) (local.get $doc) (i32.load (local.get $doc)))
        (i32.store (i32.sub (global.get $cursor) (i32.const 5))
          (i32.add (i32.load (i32.sub (global.get $cursor) (i32.const 5))) (i32.const 1))))"#
    ));
    guest(1, false, "", &body)
}
