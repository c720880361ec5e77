//! # mongoshift-guest
//!
//! Write a [mongoshift](https://example.invalid/mongoshift) transform in Rust:
//! one function from a document to an [`Outcome`], exported with one attribute,
//! compiled to a sandboxed WebAssembly module.
//!
//! ```no_run
//! use mongoshift_guest::{transform, Document, Outcome};
//!
//! #[transform(backward = remove_status)]
//! fn add_status(mut doc: Document) -> Outcome {
//!     if doc.contains_key("status") {
//!         return Outcome::Keep;
//!     }
//!     doc.insert("status", "active");
//!     Outcome::Replace(doc)
//! }
//!
//! fn remove_status(mut doc: Document) -> Outcome {
//!     match doc.remove("status") {
//!         Some(_) => Outcome::Replace(doc),
//!         None => Outcome::Keep,
//!     }
//! }
//! ```
//!
//! Build it with `mongoshift build` (or `cargo build --release --target
//! wasm32-wasip2`): the result is a component implementing the contract in
//! `guest-sdk/wit/transform.wit`. Built for `wasm32-wasip1` the same crate is a
//! core module following `guest-sdk/ABI.md`.
//!
//! ## Outcomes
//!
//! - [`Outcome::Keep`]: leave the document as it is (nothing is written);
//! - [`Outcome::Replace`] / [`Outcome::ReplaceRaw`]: write this document instead
//!   (it must keep the same `_id`; the host checks);
//! - [`Outcome::Delete`]: delete the document;
//! - [`Outcome::Fail`]: this document cannot be migrated; the message says why.
//!
//! A panic traps the module: the host fails the batch and names the document.
//!
//! ## The cheaper raw path
//!
//! A transform that only adds, removes or renames top-level fields does not
//! need to decode the document. Take `&RawDocument` and use [`Edit`]: untouched
//! fields are copied as bytes.
//!
//! ```no_run
//! use mongoshift_guest::{transform, Edit, Outcome, RawDocument};
//!
//! #[transform]
//! fn add_status(doc: &RawDocument) -> Outcome {
//!     Edit::new(doc).set("status", "active").rename("fullname", "name").finish()
//! }
//! ```

mod edit;
mod writer;
pub mod helpers;
pub mod native;

pub use bson;
pub use bson::{doc, Bson, Document, RawBson, RawDocument, RawDocumentBuf};
pub use edit::Edit;
pub use writer::DocWriter;
pub use mongoshift_guest_macro::transform;

/// The contract version this crate implements.
pub const CONTRACT_VERSION: u32 = 1;

/// What happens to one document.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Leave it unchanged.
    Keep,
    /// Replace it with this document (same `_id`).
    Replace(Document),
    /// Replace it with these BSON bytes (same `_id`), without encoding.
    ReplaceRaw(RawDocumentBuf),
    /// Delete it.
    Delete,
    /// It cannot be transformed; the message says why (name the field).
    Fail(String),
}

impl Outcome {
    /// A failure with a message.
    pub fn fail(message: impl Into<String>) -> Outcome {
        Outcome::Fail(message.into())
    }
}

/// An outcome with its replacement encoded: what crosses the sandbox boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encoded {
    /// Keep.
    Keep,
    /// Replace with these BSON bytes.
    Replace(Vec<u8>),
    /// Delete.
    Delete,
    /// Fail with this message.
    Fail(String),
}

impl From<Outcome> for Encoded {
    fn from(o: Outcome) -> Encoded {
        match o {
            Outcome::Keep => Encoded::Keep,
            Outcome::Replace(doc) => {
                let mut bytes = Vec::with_capacity(256);
                doc.to_writer(&mut bytes).expect("a Document always encodes");
                Encoded::Replace(bytes)
            }
            Outcome::ReplaceRaw(raw) => Encoded::Replace(raw.into_bytes()),
            Outcome::Delete => Encoded::Delete,
            Outcome::Fail(m) => Encoded::Fail(m),
        }
    }
}

/// Calls `f` on each document of a batch (concatenated BSON).
pub fn for_each_document(batch: &[u8], mut f: impl FnMut(&RawDocument)) {
    let mut at = 0;
    while at + 4 <= batch.len() {
        let len = i32::from_le_bytes([batch[at], batch[at + 1], batch[at + 2], batch[at + 3]]) as usize;
        let doc = RawDocument::from_bytes(&batch[at..at + len]).expect("the host sends valid BSON documents");
        f(doc);
        at += len;
    }
}

#[doc(hidden)]
pub mod __private {
    use super::*;

    #[cfg(target_arch = "wasm32")]
    pub mod bindings {
        wit_bindgen::generate!({
            path: "wit",
            world: "transform",
            pub_export_macro: true,
            default_bindings_module: "mongoshift_guest::__private::bindings",
        });
    }

    /// A transform as the batch loop calls it.
    pub type TransformFn = Box<dyn Fn(&RawDocument) -> Outcome>;

    /// The module's transforms, as the attribute wires them.
    pub struct Transforms {
        pub name: &'static str,
        pub forward: TransformFn,
        pub backward: Option<TransformFn>,
    }

    impl Transforms {
        pub fn pick(&self, backward: bool) -> &TransformFn {
            if backward {
                self.backward.as_ref().unwrap_or_else(|| panic!("transform {} has no backward direction", self.name))
            } else {
                &self.forward
            }
        }
    }

    /// Marker: the function takes a decoded `Document`.
    pub struct Decoded;
    /// Marker: the function takes a `&RawDocument`.
    pub struct Raw;

    /// Turns either kind of user function into a [`TransformFn`].
    pub trait Adapt<M> {
        fn adapt(self) -> TransformFn;
    }

    impl<F: Fn(Document) -> Outcome + 'static> Adapt<Decoded> for F {
        fn adapt(self) -> TransformFn {
            Box::new(move |raw: &RawDocument| {
                let doc = Document::try_from(raw).unwrap_or_else(|e| panic!("cannot decode the document: {e}"));
                self(doc)
            })
        }
    }

    impl<F: for<'a> Fn(&'a RawDocument) -> Outcome + 'static> Adapt<Raw> for F {
        fn adapt(self) -> TransformFn {
            Box::new(self)
        }
    }

    pub fn adapt<M, F: Adapt<M>>(f: F) -> TransformFn {
        f.adapt()
    }

    /// Runs a batch through `f`, encoding each outcome.
    pub fn run_batch(f: &TransformFn, batch: &[u8], mut out: impl FnMut(Encoded)) {
        for_each_document(batch, |doc| out(Encoded::from(f(doc))));
    }

    #[cfg(target_arch = "wasm32")]
    pub fn component_describe(name: &str, backward: bool) -> bindings::mongoshift::transform::types::Info {
        bindings::mongoshift::transform::types::Info {
            name: name.to_string(),
            contract_version: CONTRACT_VERSION,
            backward,
            reads: Vec::new(),
            writes: Vec::new(),
        }
    }

    #[cfg(target_arch = "wasm32")]
    pub fn component_transform(
        t: &Transforms,
        dir: bindings::mongoshift::transform::types::Direction,
        batch: &[u8],
    ) -> Vec<bindings::mongoshift::transform::types::Outcome> {
        use bindings::mongoshift::transform::types::{Direction, Outcome as W};
        let f = t.pick(matches!(dir, Direction::Backward));
        let mut out = Vec::new();
        run_batch(f, batch, |e| {
            out.push(match e {
                Encoded::Keep => W::Keep,
                Encoded::Replace(b) => W::Replace(b),
                Encoded::Delete => W::Delete,
                Encoded::Fail(m) => W::Fail(m),
            })
        });
        out
    }

    // The core-module ABI (guest-sdk/ABI.md): one input buffer and one result
    // buffer, reused across batches (a module instance runs one call at a time).
    std::thread_local! {
        static INPUT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        static OUTPUT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }

    pub fn core_alloc(size: i32) -> i32 {
        INPUT.with(|i| {
            let mut i = i.borrow_mut();
            i.clear();
            i.resize(size.max(0) as usize, 0);
            i.as_mut_ptr() as usize as i32
        })
    }

    pub fn core_describe(name: &str, backward: bool) -> i32 {
        let info = doc! { "name": name, "contract_version": CONTRACT_VERSION as i32, "backward": backward };
        OUTPUT.with(|o| {
            let mut o = o.borrow_mut();
            o.clear();
            o.extend_from_slice(&[0; 4]);
            info.to_writer(&mut *o).expect("encode info");
            let len = (o.len() - 4) as u32;
            o[..4].copy_from_slice(&len.to_le_bytes());
            o.as_ptr() as usize as i32
        })
    }

    pub fn core_transform(t: &Transforms, dir: i32, ptr: i32, len: i32) -> i32 {
        let f = t.pick(dir == 1);
        INPUT.with(|i| {
            let input = i.borrow();
            let start = ptr as usize - input.as_ptr() as usize;
            let batch = &input[start..start + len as usize];
            OUTPUT.with(|o| {
                let mut o = o.borrow_mut();
                o.clear();
                o.extend_from_slice(&[0; 8]);
                let mut count = 0u32;
                run_batch(f, batch, |e| {
                    count += 1;
                    let (tag, body): (u8, &[u8]) = match &e {
                        Encoded::Keep => (0, &[]),
                        Encoded::Replace(b) => (1, b),
                        Encoded::Delete => (2, &[]),
                        Encoded::Fail(m) => (3, m.as_bytes()),
                    };
                    o.push(tag);
                    o.extend_from_slice(&(body.len() as u32).to_le_bytes());
                    o.extend_from_slice(body);
                });
                let payload = (o.len() - 4) as u32;
                o[..4].copy_from_slice(&payload.to_le_bytes());
                o[4..8].copy_from_slice(&count.to_le_bytes());
                o.as_ptr() as usize as i32
            })
        })
    }
}
