//! The signature file: `<id>.sig` beside the entry in the migrations
//! directory, a small TOML document.
//!
//! ```toml
//! # mongoshift signature; `mongoshift verify --signatures` checks it
//! format = "mongoshift-signature-v1"
//! migration = "20260115093000_add_status"
//! key_id = "3f0c9a1e5b7d2c48"
//! signature = "<base64 of the 64-byte Ed25519 signature>"
//!
//! [[files]]
//! path = "20260115093000_add_status.toml"
//! sha256 = "…"
//! ```
//!
//! `signature` is over the canonical message of [`super::message`], built
//! from the files on disk when checking. `files` repeats what was signed so
//! that a refusal can name the file that changed; it is not trusted for
//! anything else (editing it breaks nothing but the diagnosis).

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::message::{SignedFile, MESSAGE_VERSION};
use crate::error::SigningError;
use crate::source::{Migration, SIGNATURE_EXTENSION};

/// A signature file's contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureFile {
    /// The format, `mongoshift-signature-v1`.
    pub format: String,
    /// The migration it was made for.
    pub migration: String,
    /// The id of the key that made it.
    pub key_id: String,
    /// The Ed25519 signature, standard base64.
    pub signature: String,
    /// The files signed and their hashes, for messages only.
    #[serde(default)]
    pub files: Vec<FileRecord>,
}

/// One signed file, as the signature file lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRecord {
    /// Relative to the migrations directory.
    pub path: String,
    /// SHA-256 of its bytes when signed.
    pub sha256: String,
}

impl From<&SignedFile> for FileRecord {
    fn from(f: &SignedFile) -> FileRecord {
        FileRecord {
            path: f.path.clone(),
            sha256: f.sha256.clone(),
        }
    }
}

/// Where `m`'s signature lives: `<id>.sig` in the migrations directory.
pub fn signature_path(m: &Migration) -> PathBuf {
    m.path
        .parent()
        .unwrap_or(Path::new(""))
        .join(format!("{}.{SIGNATURE_EXTENSION}", m.id))
}

impl SignatureFile {
    /// A signature of migration `id` by key `key_id` over `files`.
    pub fn new(
        id: &str,
        key_id: &str,
        signature: &ed25519_dalek::Signature,
        files: &[SignedFile],
    ) -> Self {
        SignatureFile {
            format: MESSAGE_VERSION.into(),
            migration: id.into(),
            key_id: key_id.into(),
            signature: STANDARD.encode(signature.to_bytes()),
            files: files.iter().map(FileRecord::from).collect(),
        }
    }

    /// Reads `m`'s signature file; `None` when there is none.
    pub fn read(m: &Migration) -> Result<Option<SignatureFile>, SigningError> {
        let path = signature_path(m);
        let text = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(SigningError::Io {
                    action: "read",
                    path,
                    source,
                })
            }
        };
        let bad = |reason: String| SigningError::BadSignature {
            id: m.id.clone(),
            path: path.clone(),
            reason,
        };
        let text = String::from_utf8(text).map_err(|_| bad("it is not UTF-8 text".into()))?;
        let file: SignatureFile = toml::from_str(&text)
            .map_err(|e| bad(crate::text::bounded(e.message().as_bytes(), 300)))?;
        if file.format != MESSAGE_VERSION {
            return Err(bad(format!(
                "format `{}` is not {MESSAGE_VERSION}",
                crate::text::bounded(file.format.as_bytes(), 80)
            )));
        }
        file.signature_bytes().map_err(bad)?;
        Ok(Some(file))
    }

    /// The signature, checked to be 64 bytes of standard base64.
    pub fn signature_bytes(&self) -> Result<ed25519_dalek::Signature, String> {
        let bytes = STANDARD
            .decode(self.signature.trim())
            .map_err(|e| format!("`signature` is not standard base64 ({e})"))?;
        let bytes: [u8; 64] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| format!("`signature` is {} bytes, not 64", bytes.len()))?;
        Ok(ed25519_dalek::Signature::from_bytes(&bytes))
    }

    /// Writes it as `m`'s signature, replacing any before: a new file moved
    /// over the old one, so a reader sees one or the other.
    pub fn write(&self, m: &Migration) -> Result<PathBuf, SigningError> {
        let path = signature_path(m);
        let body = toml::to_string(self).map_err(|e| SigningError::Io {
            action: "write",
            path: path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let text =
            format!("# mongoshift signature; `mongoshift verify --signatures` checks it\n{body}");
        // A dot file: discovery skips it should a crash leave it behind.
        let tmp = path.with_file_name(format!(".{}.{SIGNATURE_EXTENSION}.tmp", m.id));
        let io = |source| SigningError::Io {
            action: "write",
            path: path.clone(),
            source,
        };
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(path)
    }
}
