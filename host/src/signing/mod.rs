//! Signed migrations: proof that the migrations directory being applied is
//! the one that was reviewed.
//!
//! A reviewer signs each directory entry with an Ed25519 private key
//! ([`PrivateKey`], made by `mongoshift keygen`); [`sign`] writes
//! `<id>.sig` beside the entry ([`signature`](SignatureFile)). Whoever
//! applies the directory trusts some public keys ([`TrustedKeys`], lines of
//! `<name>:<base64>`, see [`PublicKey`]); [`check`] accepts an entry only if
//! its signature was made by one of them over its files exactly as they are
//! on disk, and names the [`Signer`]. What a signature covers is a canonical
//! message of the entry's id and the path and SHA-256 of each file it runs
//! from (its manifest, its module, or its Python file): see [`message`].
//! A key is known by its [`key_id`]: the first 16 hex digits of the SHA-256
//! of its bytes.
//!
//! The cryptography is `ed25519-dalek`'s; nothing here implements any.
//!
//! - `public_key`: [`PublicKey`], its text form and [`key_id`];
//!   `private_key`: [`PrivateKey`], made and kept in a PKCS#8 PEM file;
//!   `trusted`: [`TrustedKeys`].
//! - `message`: the files an entry signs ([`files_of`]) and the
//!   canonical [`message`]; `signature`: the `<id>.sig` file.
//! - `check`: [`sign`] and [`check`]; `rule`: [`SignatureRule`], the
//!   trusted keys and whether unsigned migrations are refused
//!   ([`Requirement`]).

mod check;
mod message;
mod private_key;
mod public_key;
mod rule;
mod signature;
mod trusted;

pub use crate::error::SigningError;
pub use check::{check, sign, Signer};
pub use message::{files_of, message, SignedFile, MESSAGE_VERSION};
pub use private_key::PrivateKey;
pub use public_key::{check_key_name, key_id, PublicKey};
pub use rule::{Requirement, SignatureRule};
pub use signature::{signature_path, FileRecord, SignatureFile};
pub use trusted::TrustedKeys;
