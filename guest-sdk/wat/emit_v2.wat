;; A contract-version-2 guest (guest-sdk/ABI.md, "Contract version 2"): it
;; keeps every document and, for each, upserts
;; {_id: <the input's _id>, n: <the number of keys of its lookups document>}
;; into the collection `copies`.
;;
;; The input's `_id` must be its first field (as the server stores it) and of
;; one of the usual types (objectId, string, int, long, double, date,
;; decimal, bool, null, binData, object, array); anything else traps.
(module
  (memory (export "memory") 2 65536)
  ;; where the output buffer starts, and where the next byte goes
  (global $out (mut i32) (i32.const 0))
  (global $cursor (mut i32) (i32.const 0))
  ;; describe's result buffer: {name: "emit_v2", contract_version: 2, backward: false}
  (data (i32.const 1024) "\38\00\00\00\38\00\00\00\02\6e\61\6d\65\00\08\00\00\00\65\6d\69\74\5f\76\32\00\10\63\6f\6e\74\72\61\63\74\5f\76\65\72\73\69\6f\6e\00\02\00\00\00\08\62\61\63\6b\77\61\72\64\00\00\00")
  (data (i32.const 2048) "copies")

  (func (export "mongoshift_contract_version") (result i32) (i32.const 2))
  (func (export "mongoshift_describe") (result i32) (i32.const 1024))

  ;; The batch goes at 64 KiB and the result after it. Each document adds at
  ;; most 41 bytes plus its _id to the result, and takes at least 10 bytes of
  ;; the batch (itself and its lookups), so 5 times the batch is room enough.
  (func (export "mongoshift_alloc") (param $n i32) (result i32)
    (local $need i32)
    (global.set $out (i32.and (i32.add (i32.add (i32.const 65536) (local.get $n)) (i32.const 71)) (i32.const -8)))
    (local.set $need (i32.add (global.get $out) (i32.add (i32.mul (local.get $n) (i32.const 5)) (i32.const 64))))
    (if (i32.gt_u (local.get $need) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq (i32.const -1)
              (memory.grow (i32.sub (i32.add (i32.div_u (local.get $need) (i32.const 65536)) (i32.const 1)) (memory.size))))
          (then (return (i32.const 0))))))
    (i32.const 65536))

  ;; The size of the value of BSON type $t at $v.
  (func $value_size (param $t i32) (param $v i32) (result i32)
    (if (i32.eq (local.get $t) (i32.const 0x07)) (then (return (i32.const 12))))
    (if (i32.eq (local.get $t) (i32.const 0x10)) (then (return (i32.const 4))))
    (if (i32.or (i32.or (i32.eq (local.get $t) (i32.const 0x01)) (i32.eq (local.get $t) (i32.const 0x09)))
                (i32.eq (local.get $t) (i32.const 0x12)))
      (then (return (i32.const 8))))
    (if (i32.eq (local.get $t) (i32.const 0x13)) (then (return (i32.const 16))))
    (if (i32.eq (local.get $t) (i32.const 0x08)) (then (return (i32.const 1))))
    (if (i32.eq (local.get $t) (i32.const 0x0A)) (then (return (i32.const 0))))
    (if (i32.eq (local.get $t) (i32.const 0x02))
      (then (return (i32.add (i32.const 4) (i32.load (local.get $v))))))
    (if (i32.eq (local.get $t) (i32.const 0x05))
      (then (return (i32.add (i32.const 5) (i32.load (local.get $v))))))
    (if (i32.or (i32.eq (local.get $t) (i32.const 0x03)) (i32.eq (local.get $t) (i32.const 0x04)))
      (then (return (i32.load (local.get $v)))))
    (unreachable))

  ;; The number of keys of the document at $d (each an array of matches).
  (func $keys (param $d i32) (result i32)
    (local $p i32) (local $n i32)
    (local.set $p (i32.add (local.get $d) (i32.const 4)))
    (block $done (loop $next
      (br_if $done (i32.eqz (i32.load8_u (local.get $p))))
      ;; past the type byte and the key's bytes up to its 0
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (block $end (loop $key
        (br_if $end (i32.eqz (i32.load8_u (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $key)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (local.set $p (i32.add (local.get $p) (i32.load (local.get $p))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $next)))
    (local.get $n))

  (func $u8 (param $v i32)
    (i32.store8 (global.get $cursor) (local.get $v))
    (global.set $cursor (i32.add (global.get $cursor) (i32.const 1))))
  (func $u32 (param $v i32)
    (i32.store (global.get $cursor) (local.get $v))
    (global.set $cursor (i32.add (global.get $cursor) (i32.const 4))))
  (func $copy (param $src i32) (param $n i32)
    (memory.copy (global.get $cursor) (local.get $src) (local.get $n))
    (global.set $cursor (i32.add (global.get $cursor) (local.get $n))))

  ;; One record: keep, then one output: upsert {_id, n} into copies.
  (func $emit (param $doc i32) (param $lookups i32)
    (local $t i32) (local $size i32)
    (local.set $t (i32.load8_u (i32.add (local.get $doc) (i32.const 4))))
    ;; the first key must be _id
    (if (i32.ne (i32.load (i32.add (local.get $doc) (i32.const 5))) (i32.const 0x0064695f))
      (then (unreachable)))
    (local.set $size (call $value_size (local.get $t) (i32.add (local.get $doc) (i32.const 9))))
    (call $u8 (i32.const 0))          ;; keep
    (call $u32 (i32.const 0))         ;; no payload
    (call $u32 (i32.const 1))         ;; one output
    (call $u8 (i32.const 1))          ;; upsert
    (call $u32 (i32.const 6))
    (call $copy (i32.const 2048) (i32.const 6))
    ;; the document: length, _id as the input has it, n, the final 0
    (call $u32 (i32.add (i32.const 17) (local.get $size)))
    (call $u32 (i32.add (i32.const 17) (local.get $size)))
    (call $copy (i32.add (local.get $doc) (i32.const 4)) (i32.add (i32.const 5) (local.get $size)))
    (call $u8 (i32.const 0x10))
    (call $u8 (i32.const 0x6e))      ;; "n"
    (call $u8 (i32.const 0))
    (call $u32 (call $keys (local.get $lookups)))
    (call $u8 (i32.const 0)))

  (func (export "mongoshift_transform") (param $dir i32) (param $p i32) (param $len i32) (result i32)
    (local $end i32) (local $n i32) (local $lookups i32)
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (global.set $cursor (i32.add (global.get $out) (i32.const 8)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $lookups (i32.add (local.get $p) (i32.load (local.get $p))))
      (call $emit (local.get $p) (local.get $lookups))
      (local.set $p (i32.add (local.get $lookups) (i32.load (local.get $lookups))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $next)))
    ;; the header: payload length, then the count
    (i32.store (global.get $out) (i32.sub (global.get $cursor) (i32.add (global.get $out) (i32.const 4))))
    (i32.store (i32.add (global.get $out) (i32.const 4)) (local.get $n))
    (global.get $out))
)
