//! Signing a migration, and checking its signature against the trusted
//! keys: [`sign`], [`check`], the [`Signer`] a good signature names.

use std::path::PathBuf;

use serde::Serialize;

use super::message::{files_of, message, SignedFile};
use super::private_key::PrivateKey;
use super::signature::{signature_path, FileRecord, SignatureFile};
use super::trusted::TrustedKeys;
use crate::error::SigningError;
use crate::source::Migration;

/// Who signed a migration: a trusted key's name and id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signer {
    /// The name the trusted keys give the key.
    pub name: String,
    /// The key's id.
    pub key_id: String,
}

impl std::fmt::Display for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name, self.key_id)
    }
}

/// Signs `m` as its files are now with `key`, writing `<id>.sig` beside it
/// (replacing a signature made before). Returns the file written.
pub fn sign(m: &Migration, key: &PrivateKey) -> Result<PathBuf, SigningError> {
    let files = files_of(m)?;
    let signature = key.sign(&message(&m.id, &files));
    SignatureFile::new(&m.id, &key.id(), &signature, &files).write(m)
}

/// Checks `m`'s signature: it must exist, be made by one of `keys`, and
/// cover the files of `m` exactly as they are on disk now.
pub fn check(m: &Migration, keys: &TrustedKeys) -> Result<Signer, SigningError> {
    let Some(sig) = SignatureFile::read(m)? else {
        return Err(SigningError::Unsigned {
            id: m.id.clone(),
            path: signature_path(m),
        });
    };
    let Some(key) = keys.find(&sig.key_id) else {
        return Err(SigningError::Untrusted {
            id: m.id.clone(),
            key_id: crate::text::bounded(sig.key_id.as_bytes(), 64),
        });
    };
    let signature = sig
        .signature_bytes()
        .map_err(|reason| SigningError::BadSignature {
            id: m.id.clone(),
            path: signature_path(m),
            reason,
        })?;
    let files = files_of(m)?;
    if key
        .key
        .verify_strict(&message(&m.id, &files), &signature)
        .is_ok()
    {
        return Ok(Signer {
            name: key.name.clone(),
            key_id: key.id(),
        });
    }
    let (what, file) = what_differs(&m.id, &sig, &files);
    Err(SigningError::Altered {
        id: m.id.clone(),
        key_id: key.id(),
        what,
        file,
    })
}

/// Why a signature does not match, told from the files it lists (which
/// are not themselves signed: this only names what to look at).
fn what_differs(id: &str, sig: &SignatureFile, files: &[SignedFile]) -> (String, Option<String>) {
    let shown = |s: &str| crate::text::bounded(s.as_bytes(), 200);
    if sig.migration != id {
        return (
            format!(
                "the signature was made for migration {}, not this one",
                shown(&sig.migration)
            ),
            None,
        );
    }
    let signed = |path: &str| sig.files.iter().find(|f: &&FileRecord| f.path == path);
    for f in files {
        match signed(&f.path) {
            Some(r) if r.sha256 != f.sha256 => {
                return (
                    format!("{} changed since it was signed", f.path),
                    Some(f.path.clone()),
                )
            }
            None => {
                return (
                    format!("{} is not among the signed files (renamed or new)", f.path),
                    Some(f.path.clone()),
                )
            }
            Some(_) => {}
        }
    }
    if let Some(gone) = sig
        .files
        .iter()
        .find(|r| !files.iter().any(|f| f.path == r.path))
    {
        return (
            format!(
                "{} was signed but is no longer part of it (renamed or removed)",
                shown(&gone.path)
            ),
            Some(shown(&gone.path)),
        );
    }
    ("the signature does not match the signed files".into(), None)
}
