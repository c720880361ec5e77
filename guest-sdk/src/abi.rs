//! The two boundaries a module is called through: the component exports
//! (`guest-sdk/wit/transform.wit`, through wit-bindgen) and the core-module
//! exports (`guest-sdk/ABI.md`). Both run [`crate::batch::run_batch`].
//!
//! The encoders and the bump allocator are plain Rust, compiled (and tested)
//! natively too; only the thin pointer-passing wrappers are wasm32-only.

#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // called by the wasm32 exports only

use crate::batch::{run_batch, TransformFn};
use crate::Outcome;

/// Outcome tags of the core ABI.
const KEEP: u8 = 0;
const REPLACE: u8 = 1;
const DELETE: u8 = 2;
const FAIL: u8 = 3;

/// Writes the result buffer of `mongoshift_transform` for `f` over `batch`
/// into `out`: `u32` payload length, `u32` count, then one packed record per
/// document (`u8` tag, `u32` length, bytes).
pub(crate) fn encode_outcomes(f: &TransformFn, batch: &[u8], out: &mut Vec<u8>) {
    out.clear();
    // Replacements are usually about as large as their inputs.
    out.reserve(batch.len() + 64);
    out.extend_from_slice(&[0; 8]); // payload length and count, patched below
    let mut count: u32 = 0;
    run_batch(f, batch, |outcome| {
        count += 1;
        push_outcome(out, outcome);
    });
    out[4..8].copy_from_slice(&count.to_le_bytes());
    patch_payload_len(out);
}

/// Appends one outcome record (`u8` tag, `u32` length, bytes).
pub(crate) fn push_outcome(out: &mut Vec<u8>, outcome: Outcome) {
    match outcome {
        Outcome::Keep => record(out, KEEP, &[]),
        Outcome::Delete => record(out, DELETE, &[]),
        Outcome::Fail(message) => record(out, FAIL, message.as_bytes()),
        Outcome::ReplaceRaw(raw) => {
            record(out, REPLACE, raw.as_bytes());
            crate::writer::recycle(raw.into_bytes());
        }
        Outcome::Replace(doc) => {
            // Encoded straight into the result buffer, its length patched after.
            let at = out.len();
            record(out, REPLACE, &[]);
            doc.to_writer(&mut *out).expect("a Document always encodes");
            let n = len_u32(out.len() - at - 5);
            out[at + 1..at + 5].copy_from_slice(&n.to_le_bytes());
        }
    }
}

/// Writes the result buffer of `mongoshift_describe` into `out`: the info
/// document (`reads`/`writes` are optional and left out: unknown).
pub(crate) fn encode_info(name: &str, backward: bool, version: u32, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&[0; 4]);
    let contract_version = i32::try_from(version).expect("a small version");
    let info =
        bson::doc! { "name": name, "contract_version": contract_version, "backward": backward };
    info.to_writer(&mut *out)
        .expect("a Document always encodes");
    patch_payload_len(out);
}

pub(crate) fn record(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(tag);
    out.extend_from_slice(&len_u32(body.len()).to_le_bytes());
    out.extend_from_slice(body);
}

pub(crate) fn patch_payload_len(out: &mut [u8]) {
    let payload = len_u32(out.len() - 4);
    out[..4].copy_from_slice(&payload.to_le_bytes());
}

pub(crate) fn len_u32(n: usize) -> u32 {
    u32::try_from(n).expect("a result buffer fits in 32-bit memory")
}

/// The core ABI's input memory: a bump allocator over one 8-aligned block,
/// reset by every `mongoshift_alloc`. ABI.md guarantees everything from the
/// previous batch is dead by then, so the block is reused batch after batch,
/// never zeroed, and grows only to the largest batch seen.
#[derive(Debug)]
pub(crate) struct Bump {
    block: Vec<u64>,
    /// Words handed out since the last reset.
    top: usize,
}

impl Bump {
    pub(crate) const fn new() -> Self {
        Bump {
            block: Vec::new(),
            top: 0,
        }
    }

    /// Forgets every earlier allocation.
    pub(crate) fn reset(&mut self) {
        self.top = 0;
    }

    /// `size` writable bytes aligned to 8, or `None` when memory cannot grow
    /// (or would have to move live allocations).
    pub(crate) fn alloc(&mut self, size: usize) -> Option<*mut u8> {
        let end = self.top.checked_add(size.div_ceil(8))?;
        if end > self.block.capacity() {
            if self.top != 0 {
                return None;
            }
            // Free the old block first, so memory peaks at the new size only.
            self.block = Vec::new();
            self.block.try_reserve_exact(end).ok()?;
        }
        let p = self.block.as_mut_ptr().wrapping_add(self.top).cast::<u8>();
        self.top = end;
        Some(p)
    }

    /// The `len` bytes at `ptr`, if they lie in what was allocated since the
    /// last reset.
    ///
    /// # Safety
    ///
    /// Whoever got those bytes from [`Bump::alloc`] must have written all of
    /// them (the host writes the whole batch before calling the transform).
    pub(crate) unsafe fn bytes(&self, ptr: usize, len: usize) -> Option<&[u8]> {
        let base = self.block.as_ptr() as usize;
        let end = base + self.top * 8;
        if ptr < base || ptr.checked_add(len)? > end {
            return None;
        }
        // SAFETY: in bounds of this live allocation (checked above), written
        // per the caller's promise, and not handed out again before a reset,
        // which needs `&mut self`.
        Some(unsafe { std::slice::from_raw_parts(ptr as *const u8, len) })
    }
}

/// The core-module exports (ABI.md): `mongoshift_alloc`, `mongoshift_describe`,
/// `mongoshift_transform`. Pointers are offsets into the one linear memory.
#[cfg(target_arch = "wasm32")]
pub(crate) mod core_module {
    use std::cell::RefCell;

    use super::{encode_info, encode_outcomes, Bump};
    use crate::abi_v2::encode_outcomes_v2;
    use crate::batch::Transforms;
    use crate::batch_v2::TransformsV2;
    use crate::{CONTRACT_VERSION, CONTRACT_VERSION_2};

    // A module instance runs one call at a time; these live for its lifetime.
    std::thread_local! {
        static INPUT: RefCell<Bump> = const { RefCell::new(Bump::new()) };
        static RESULT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }

    /// `mongoshift_alloc(size) -> ptr`: resets the input memory and returns
    /// `size` bytes of it, or 0.
    pub fn alloc(size: i32) -> i32 {
        let Ok(size) = usize::try_from(size) else {
            return 0;
        };
        INPUT.with_borrow_mut(|input| {
            input.reset();
            input.alloc(size).map_or(0, |p| p as usize as i32)
        })
    }

    /// `mongoshift_describe() -> ptr` to the info result buffer.
    pub fn describe(name: &str, backward: bool) -> i32 {
        RESULT.with_borrow_mut(|out| {
            encode_info(name, backward, CONTRACT_VERSION, out);
            out.as_ptr() as usize as i32
        })
    }

    /// `mongoshift_describe` of a version-2 module.
    pub fn describe_v2(name: &str, backward: bool) -> i32 {
        RESULT.with_borrow_mut(|out| {
            encode_info(name, backward, CONTRACT_VERSION_2, out);
            out.as_ptr() as usize as i32
        })
    }

    /// `mongoshift_transform(direction, ptr, len) -> ptr` to the outcomes
    /// result buffer. Traps on a direction or a batch it does not know.
    pub fn transform(t: &Transforms, direction: i32, ptr: i32, len: i32) -> i32 {
        let f = t.pick(backward(direction));
        with_batch(ptr, len, |batch, out| encode_outcomes(f, batch, out))
    }

    /// `mongoshift_transform` of a version-2 module: each document followed
    /// by its lookups, each outcome by its outputs.
    pub fn transform_v2(t: &TransformsV2, direction: i32, ptr: i32, len: i32) -> i32 {
        let f = t.pick(backward(direction));
        with_batch(ptr, len, |batch, out| encode_outcomes_v2(f, batch, out))
    }

    fn backward(direction: i32) -> bool {
        match direction {
            0 => false,
            1 => true,
            _ => panic!(
                "mongoshift_transform: unknown direction {direction} (0 forward, 1 backward)"
            ),
        }
    }

    /// Runs `encode` over the batch at `ptr..ptr+len` into the result buffer,
    /// and returns the buffer's pointer.
    fn with_batch(ptr: i32, len: i32, encode: impl FnOnce(&[u8], &mut Vec<u8>)) -> i32 {
        let (ptr, len) = (ptr as u32 as usize, len as u32 as usize);
        INPUT.with_borrow(|input| {
            // SAFETY: the host wrote the whole batch into what `alloc` returned.
            let batch = unsafe { input.bytes(ptr, len) }.unwrap_or_else(|| {
                panic!("mongoshift_transform: the batch at {ptr}+{len} is not in the memory mongoshift_alloc returned")
            });
            RESULT.with_borrow_mut(|out| {
                encode(batch, out);
                out.as_ptr() as usize as i32
            })
        })
    }
}

/// The component exports (`describe`, `transform` of world `transform`).
#[cfg(target_arch = "wasm32")]
pub(crate) mod component {
    use super::run_batch;
    use crate::__private::bindings::mongoshift::transform::types::{
        Direction, Info, Outcome as WitOutcome,
    };
    use crate::batch::Transforms;
    use crate::{Encoded, CONTRACT_VERSION};

    /// `describe: func() -> info`.
    pub fn describe(name: &str, backward: bool) -> Info {
        Info {
            name: name.to_string(),
            contract_version: CONTRACT_VERSION,
            backward,
            reads: Vec::new(),
            writes: Vec::new(),
        }
    }

    /// `transform: func(dir: direction, batch: list<u8>) -> list<outcome>`.
    pub fn transform(t: &Transforms, dir: Direction, batch: &[u8]) -> Vec<WitOutcome> {
        let f = t.pick(matches!(dir, Direction::Backward));
        let mut out = Vec::new();
        run_batch(f, batch, |o| {
            out.push(match Encoded::from(o) {
                Encoded::Keep => WitOutcome::Keep,
                Encoded::Replace(bytes) => WitOutcome::Replace(bytes),
                Encoded::Delete => WitOutcome::Delete,
                Encoded::Fail(message) => WitOutcome::Fail(message),
            })
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use bson::{doc, Document, RawDocument, RawDocumentBuf};

    use super::*;
    use crate::batch::adapt;

    /// Reads an outcomes result buffer back, checking its framing.
    fn decode(buf: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let u32_at =
            |at: usize| u32::from_le_bytes(buf[at..at + 4].try_into().expect("4 bytes")) as usize;
        assert_eq!(u32_at(0), buf.len() - 4, "payload length");
        let count = u32_at(4);
        let mut at = 8;
        let mut out = Vec::new();
        for _ in 0..count {
            let n = u32_at(at + 1);
            out.push((buf[at], buf[at + 5..at + 5 + n].to_vec()));
            at += 5 + n;
        }
        assert_eq!(at, buf.len(), "records are packed, nothing after them");
        out
    }

    #[test]
    fn outcomes_follow_the_abi_layout() {
        let f = adapt(|d: &RawDocument| match d.get_i32("_id").expect("_id") {
            0 => Outcome::Keep,
            1 => Outcome::Replace(doc! { "_id": 1, "x": "decoded" }),
            2 => {
                Outcome::ReplaceRaw(RawDocumentBuf::from_document(&doc! { "_id": 2 }).expect("raw"))
            }
            3 => Outcome::Delete,
            _ => Outcome::fail("field `x`: bad"),
        });
        let mut batch = Vec::new();
        for i in 0..5 {
            batch.extend_from_slice(
                RawDocumentBuf::from_document(&doc! { "_id": i })
                    .expect("raw")
                    .as_bytes(),
            );
        }
        let mut out = vec![9; 3]; // stale contents are cleared
        encode_outcomes(&f, &batch, &mut out);
        let records = decode(&out);
        let tags: Vec<u8> = records.iter().map(|r| r.0).collect();
        assert_eq!(tags, [KEEP, REPLACE, REPLACE, DELETE, FAIL]);
        assert_eq!(
            Document::from_reader(&records[1].1[..]).expect("bson"),
            doc! { "_id": 1, "x": "decoded" }
        );
        assert_eq!(
            Document::from_reader(&records[2].1[..]).expect("bson"),
            doc! { "_id": 2 }
        );
        assert!(records[0].1.is_empty() && records[3].1.is_empty());
        assert_eq!(records[4].1, b"field `x`: bad");

        encode_outcomes(&f, &[], &mut out);
        assert_eq!(
            out,
            [4, 0, 0, 0, 0, 0, 0, 0],
            "an empty batch: payload 4, count 0"
        );
    }

    #[test]
    fn info_is_one_bson_document() {
        let mut out = Vec::new();
        encode_info("split_name", true, 1, &mut out);
        assert_eq!(
            u32::from_le_bytes(out[..4].try_into().expect("4")) as usize,
            out.len() - 4
        );
        let info = Document::from_reader(&out[4..]).expect("bson");
        assert_eq!(
            info,
            doc! { "name": "split_name", "contract_version": 1, "backward": true }
        );
    }

    #[test]
    fn the_bump_allocator_aligns_resets_and_refuses_what_it_cannot_do() {
        let mut b = Bump::new();
        let p = b.alloc(64).expect("grows when empty");
        assert_eq!(p as usize % 8, 0);
        b.reset();
        assert_eq!(
            b.alloc(13).map(|p| p as usize),
            Some(p as usize),
            "starts over after a reset"
        );
        let q = b.alloc(3).expect("fits in the block");
        assert_eq!(q as usize, p as usize + 16, "bumps by whole words");
        assert!(
            b.alloc(1 << 20).is_none(),
            "growing would move live allocations"
        );
        b.reset();
        let r = b.alloc(1 << 20).expect("grows after a reset");
        assert_eq!(r as usize % 8, 0);
        b.reset();
        assert_eq!(
            b.alloc(100).map(|p| p as usize),
            Some(r as usize),
            "reuses the block"
        );
        // SAFETY: written just below, before reading.
        unsafe { std::ptr::write_bytes(r, 7, 100) };
        // SAFETY: all 100 bytes were written above.
        assert_eq!(unsafe { b.bytes(r as usize, 100) }, Some(&[7; 100][..]));
        // SAFETY: out of range, so nothing is read.
        assert!(
            unsafe { b.bytes(r as usize, 105) }.is_none(),
            "past what was allocated"
        );
        assert!(
            unsafe { b.bytes(r as usize - 1, 1) }.is_none(),
            "before the block"
        );
        assert!(
            Bump::new().alloc(usize::MAX).is_none(),
            "impossible sizes fail instead of aborting"
        );
    }
}
