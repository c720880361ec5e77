//! [`SigningError`]: a key, a signature or a signed migration that cannot be
//! used or trusted.

use std::path::PathBuf;

/// A key, a signature or a signed migration that cannot be used or trusted.
///
/// [`Unsigned`](Self::Unsigned), [`Altered`](Self::Altered),
/// [`Untrusted`](Self::Untrusted) and [`BadSignature`](Self::BadSignature)
/// are refusals of a migration (see [`SigningError::is_refusal`]); the rest
/// are keys or files that cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SigningError {
    /// A public key given as `<name>:<base64>` is not one.
    #[error("invalid public key {given}: {reason}; expected <name>:<base64 of the 32-byte Ed25519 public key>, as `mongoshift keygen` prints it")]
    PublicKey {
        /// Where it came from: the argument, or `file:line`.
        given: String,
        /// Why.
        reason: String,
    },
    /// A line of a trusted keys file is not a public key.
    #[error("invalid trusted keys file {path}, line {line}: {reason}; expected <name>:<base64 of the 32-byte Ed25519 public key> per line")]
    KeysFile {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// Why.
        reason: String,
    },
    /// Two trusted keys are the same key under different names.
    #[error("the trusted keys {first} and {second} are the same key (id {key_id}); list it once")]
    DuplicateKey {
        /// The first name.
        first: String,
        /// The second name.
        second: String,
        /// The key's id.
        key_id: String,
    },
    /// Signatures are checked, but no key is trusted.
    #[error("no trusted key: give --trusted-key <name>:<base64> or --trusted-keys FILE")]
    NoTrustedKeys,
    /// A private key file cannot be read or does not hold an Ed25519 key.
    #[error("invalid private key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// Why (never the key itself).
        reason: String,
    },
    /// `keygen` would overwrite a file.
    #[error("{path} already exists; keygen never overwrites a key: choose another --out or remove the file first")]
    KeyExists {
        /// The file.
        path: PathBuf,
    },
    /// A file cannot be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file a migration refers to has a path a signature cannot name.
    #[error("migration {id}: the path {path} cannot be signed (it holds a line break)")]
    UnsignablePath {
        /// The migration.
        id: String,
        /// The path.
        path: PathBuf,
    },
    /// No signature beside the migration.
    #[error("migration {id} is not signed: {path} does not exist; sign it with `mongoshift sign --key KEY {id}`")]
    Unsigned {
        /// The migration.
        id: String,
        /// Where its signature would be.
        path: PathBuf,
    },
    /// The signature file cannot be read as one.
    #[error("migration {id}: the signature {path} is invalid: {reason}; sign it again with `mongoshift sign`")]
    BadSignature {
        /// The migration.
        id: String,
        /// The signature file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The signature was made by a key that is not trusted.
    #[error("migration {id} is signed by key {key_id}, which is not trusted; add its public key to the trusted keys, or sign it with a trusted key")]
    Untrusted {
        /// The migration.
        id: String,
        /// The id of the key that signed it.
        key_id: String,
    },
    /// The signature does not match the files on disk: a byte changed, a
    /// file was renamed, or the signature is another migration's.
    #[error("migration {id} does not match its signature by key {key_id}: {what}; review the change and sign it again")]
    Altered {
        /// The migration.
        id: String,
        /// The key that signed it.
        key_id: String,
        /// What differs: the file that changed, when the signature names
        /// it, or that the signature is another migration's.
        what: String,
        /// The file that changed, relative to the migrations directory,
        /// when it can be told.
        file: Option<String>,
    },
}

impl SigningError {
    /// Whether this refuses a migration (unsigned, altered, untrusted or a
    /// broken signature), rather than a key or file that cannot be read.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            SigningError::Unsigned { .. }
                | SigningError::BadSignature { .. }
                | SigningError::Untrusted { .. }
                | SigningError::Altered { .. }
                | SigningError::UnsignablePath { .. }
        )
    }

    /// Whether a public key given as text (`<name>:<base64>`, an argument)
    /// is invalid, or none is given: a bad argument, where the files named
    /// by arguments ([`KeyFile`](Self::KeyFile), [`KeysFile`](Self::KeysFile))
    /// are bad input.
    pub fn is_bad_key(&self) -> bool {
        matches!(
            self,
            SigningError::PublicKey { .. }
                | SigningError::DuplicateKey { .. }
                | SigningError::NoTrustedKeys
        )
    }
}
