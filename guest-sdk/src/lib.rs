//! # mongoshift-guest
//!
//! Write a [mongoshift](https://example.invalid/mongoshift) transform in Rust:
//! one function from a document to an [`Outcome`], exported with one attribute,
//! compiled to a sandboxed WebAssembly module.
//!
//! ## Core concepts
//!
//! - **A transform** is a plain function called once per document. It takes the
//!   document, decoded (`Document`) or raw (`&RawDocument`), and returns an
//!   [`Outcome`]. It sees nothing but the document: no files, no network, no
//!   clock worth reading.
//! - **[`#[transform]`](transform)** exports that function as the module's
//!   transform. `backward = other_fn` names the function `mongoshift down` runs;
//!   without it the migration is irreversible (unless the host kept
//!   pre-images). `name = "…"` sets the name shown in messages (default: the
//!   function's name). One `#[transform]` per crate.
//! - **The host** sends documents in batches and writes the outcomes of a batch
//!   together; a failure anywhere in a batch writes nothing of it.
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
//! ## Lookups and outputs (contract version 2)
//!
//! A transform that takes a second argument, `cx: &mut` [`Context`], reads the
//! documents the host looked up for it (the manifest's `[[lookup]]`s) with
//! [`Context::lookup`] and writes to other collections (the manifest's
//! `outputs`) with [`Context::insert`], [`Context::upsert`] and
//! [`Context::delete`], besides returning its outcome. The module then
//! implements contract version 2 (`guest-sdk/wit/transform-v2.wit`); the
//! host writes a batch's outputs in its transaction, in the order emitted.
//! A document that fails writes nothing: its outputs are dropped.
//!
//! ```
//! use mongoshift_guest::{doc, transform, Context, Document, Outcome};
//!
//! #[transform(backward = gather)]
//! fn move_phone(mut user: Document, cx: &mut Context) -> Outcome {
//!     let Some(phone) = user.remove("phone") else { return Outcome::Keep };
//!     cx.insert("phones", doc! { "_id": user.get("_id").cloned(), "phone": phone });
//!     Outcome::Replace(user)
//! }
//!
//! fn gather(mut user: Document, cx: &mut Context) -> Outcome {
//!     let Some(moved) = cx.lookup("phones").next() else { return Outcome::Keep };
//!     let Ok(phone) = moved.get_str("phone") else {
//!         return Outcome::fail("field `phone`: not a string");
//!     };
//!     user.insert("phone", phone);
//!     cx.delete("phones", user.get("_id").cloned().unwrap_or_default());
//!     Outcome::Replace(user)
//! }
//! ```
//!
//! `v2` (`#[transform(v2, backward = f)]`) asks for version 2 when only the
//! backward function takes a context; a version-2 module may also export a
//! function taking the document alone. [`native::run_v2`] runs one natively.
//!
//! ## Outcomes, failures and traps
//!
//! - [`Outcome::Keep`]: leave the document as it is (nothing is written);
//! - [`Outcome::Replace`] / [`Outcome::ReplaceRaw`]: write this document instead
//!   (it must keep the same `_id`; the host checks);
//! - [`Outcome::Delete`]: delete the document;
//! - [`Outcome::Fail`]: this document cannot be migrated; say why and name the
//!   field, e.g. ``field `signup`: "2015-02-30" is not a date``.
//!
//! Return `Fail` for bad *data*. A panic (a bug, or a document that is not valid
//! BSON) traps the module: the host fails the batch with the panic's message
//! and place. Neither is ever swallowed.
//!
//! ## Logs
//!
//! [`log::debug`], [`log::info`], [`log::warn`], [`log::error`] (and
//! `println!`, `eprintln!`) write lines the host gathers per batch and shows
//! with a failure, in a quarantined document's entry and under
//! `mongoshift up -v`, each with the `_id` of the document it was written for.
//!
//! ## Building
//!
//! A guest crate is a `cdylib` (the Wasm module) and an `rlib` (for native tests):
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib", "rlib"]
//!
//! [dependencies]
//! mongoshift-guest = { path = "../../../guest-sdk" }
//!
//! [profile.release]   # in the workspace root
//! opt-level = 3
//! lto = true
//! codegen-units = 1
//! ```
//!
//! `mongoshift build` (or `cargo build --release --target wasm32-wasip2`) makes a
//! **component** implementing `guest-sdk/wit/transform.wit`. The same crate built
//! with `--target wasm32-wasip1` is a **core module** following
//! `guest-sdk/ABI.md`; the host runs both.
//!
//! ## The cheaper raw path
//!
//! Decoding a whole document into a [`Document`] and encoding it back costs
//! more than most transforms. A function taking `&RawDocument` gets the bytes
//! as they came. [`Edit`] sets, removes and renames top-level fields, copying
//! every other field as bytes, and answers [`Outcome::Keep`] when nothing
//! actually changed (so running a migration twice writes nothing the second
//! time):
//!
//! ```
//! use mongoshift_guest::{doc, transform, Edit, Outcome, RawDocument, RawDocumentBuf};
//!
//! #[transform]
//! fn add_status(doc: &RawDocument) -> Outcome {
//!     Edit::new(doc).rename("fullname", "name").set("status", "active").finish()
//! }
//!
//! let before = RawDocumentBuf::from_document(&doc! { "_id": 1, "fullname": "Ada" }).unwrap();
//! let Outcome::ReplaceRaw(after) = add_status(&before) else { panic!() };
//! assert_eq!(after.to_document().unwrap(), doc! { "_id": 1, "name": "Ada", "status": "active" });
//! assert_eq!(add_status(&after), Outcome::Keep);
//! ```
//!
//! For changes `Edit` cannot express in one pass (splitting a field in two in
//! its place, converting values), walk the raw elements yourself and write the
//! result with [`DocWriter`]; `migrations/20260110090000_split_name` does this.
//! [`helpers`] converts common types (dates, ObjectIds, decimals) on decoded
//! documents.
//!
//! ## Testing natively
//!
//! The transform is an ordinary function: call it in unit tests, or run a whole
//! batch through the same loop the Wasm exports use with [`native::run`].

mod abi;
mod abi_v2;
mod batch;
mod batch_v2;
mod context;
mod edit;
mod fields;
pub mod helpers;
pub mod log;
pub mod native;
mod scan;
mod writer;

pub use bson;
pub use bson::{doc, Bson, Document, RawBson, RawDocument, RawDocumentBuf};
pub use context::{Context, IntoOutputDocument, Output, OutputOp};
pub use edit::Edit;
pub use fields::{fields, Field, Fields};
pub use mongoshift_guest_macro::transform;
pub use writer::DocWriter;

/// The contract version of a module whose transform takes the document alone
/// (`guest-sdk/wit/transform.wit`).
pub const CONTRACT_VERSION: u32 = 1;

/// The contract version of a module whose transform also takes a
/// [`Context`]: lookups in, outputs out (`guest-sdk/wit/transform-v2.wit`).
pub const CONTRACT_VERSION_2: u32 = 2;

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

/// An outcome with its replacement encoded: what crosses the sandbox boundary,
/// and what [`native::run`] returns.
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
                doc.to_writer(&mut bytes)
                    .expect("a Document always encodes");
                Encoded::Replace(bytes)
            }
            Outcome::ReplaceRaw(raw) => Encoded::Replace(raw.into_bytes()),
            Outcome::Delete => Encoded::Delete,
            Outcome::Fail(m) => Encoded::Fail(m),
        }
    }
}

/// What `#[transform]` expands to. Not a public API: it changes with the macro.
#[doc(hidden)]
pub mod __private {
    pub use crate::batch::{
        adapt, for_each_document, run_batch, Adapt, Decoded, Raw, TransformFn, Transforms,
    };
    pub use crate::batch_v2::{
        adapt_v2, run_batch_v2, AdaptV2, DecodedWithContext, RawWithContext, TransformFnV2,
        TransformsV2,
    };

    /// The bindings wit-bindgen generates from `guest-sdk/wit` (world
    /// `transform`); the attribute implements their `Guest` trait and calls
    /// their `export!`.
    #[cfg(target_arch = "wasm32")]
    pub mod bindings {
        wit_bindgen::generate!({
            path: "wit/transform.wit",
            world: "transform",
            pub_export_macro: true,
            default_bindings_module: "mongoshift_guest::__private::bindings",
        });
    }

    /// The bindings of contract version 2 (`guest-sdk/wit/transform-v2.wit`),
    /// with their own export macro: a module exports one world or the other.
    #[cfg(target_arch = "wasm32")]
    pub mod bindings_v2 {
        wit_bindgen::generate!({
            path: "wit/transform-v2.wit",
            world: "transform-v2",
            pub_export_macro: true,
            export_macro_name: "export_v2",
            default_bindings_module: "mongoshift_guest::__private::bindings_v2",
        });
    }

    #[cfg(target_arch = "wasm32")]
    pub use crate::abi::component::{
        describe as component_describe, transform as component_transform,
    };
    #[cfg(target_arch = "wasm32")]
    pub use crate::abi::core_module::{
        alloc as core_alloc, describe as core_describe, describe_v2 as core_describe_v2,
        transform as core_transform, transform_v2 as core_transform_v2,
    };
    #[cfg(target_arch = "wasm32")]
    pub use crate::abi_v2::component::{
        describe as component_describe_v2, transform as component_transform_v2,
    };
}
