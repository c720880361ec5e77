//! [`PrivateKey`]: an Ed25519 signing key, made from the system's random
//! source and kept in a PKCS#8 PEM file (the format `openssl genpkey
//! -algorithm ed25519` writes, so either tool's keys work with the other).

use std::io::Write;
use std::path::Path;

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::SigningKey;

use super::public_key::PublicKey;
use crate::error::SigningError;

/// An Ed25519 signing key. Its bytes never appear in a message or in
/// `Debug` output.
pub struct PrivateKey {
    key: SigningKey,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey")
            .field(
                "key_id",
                &super::public_key::key_id(&self.key.verifying_key()),
            )
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<PrivateKey, SigningError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| SigningError::Io {
            action: "read random bytes for",
            path: "the new key".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let key = SigningKey::from_bytes(&seed);
        seed.fill(0);
        Ok(PrivateKey { key })
    }

    /// Reads a PKCS#8 PEM file holding an Ed25519 private key.
    pub fn read(path: &Path) -> Result<PrivateKey, SigningError> {
        let bad = |reason: &str| SigningError::KeyFile {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => bad("the file is not text (expected PEM)"),
            _ => bad(&format!("cannot read it ({e})")),
        })?;
        if !text.contains("-----BEGIN PRIVATE KEY-----") {
            return Err(bad(
                "no `-----BEGIN PRIVATE KEY-----` block: expected an Ed25519 private key in PKCS#8 PEM, as `mongoshift keygen` writes it",
            ));
        }
        let key = SigningKey::from_pkcs8_pem(&text)
            .map_err(|_| bad("the PEM block is not an Ed25519 private key in PKCS#8"))?;
        Ok(PrivateKey { key })
    }

    /// Writes the key to a new file `path`, readable by its owner only
    /// (mode 0600 on Unix). Never overwrites a file.
    pub fn write_new(&self, path: &Path) -> Result<(), SigningError> {
        // PKCS#8 v1, the secret key alone: the form every OpenSSL 3 reads
        // (the v2 form with the public key is refused by OpenSSL 3.0).
        let pair = ed25519_dalek::pkcs8::KeypairBytes {
            secret_key: self.key.to_bytes(),
            public_key: None,
        };
        let pem = pair
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map_err(|e| SigningError::KeyFile {
                path: path.to_path_buf(),
                reason: format!("cannot encode the key ({e})"),
            })?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let io = |source| SigningError::Io {
            action: "write",
            path: path.to_path_buf(),
            source,
        };
        let mut file = options.open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => SigningError::KeyExists {
                path: path.to_path_buf(),
            },
            _ => io(e),
        })?;
        file.write_all(pem.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// The public half, under `name`.
    pub fn public(&self, name: &str) -> PublicKey {
        PublicKey {
            name: name.to_string(),
            key: self.key.verifying_key(),
        }
    }

    /// The key's id (see [`super::key_id`]).
    pub fn id(&self) -> String {
        super::public_key::key_id(&self.key.verifying_key())
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> ed25519_dalek::Signature {
        ed25519_dalek::Signer::sign(&self.key, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_key_reads_back_the_same_and_is_never_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k.pem");
        let key = PrivateKey::generate().expect("key");
        key.write_new(&path).expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(PrivateKey::read(&path).expect("read").id(), key.id());
        let other = PrivateKey::generate().expect("key");
        assert!(matches!(
            other.write_new(&path),
            Err(SigningError::KeyExists { .. })
        ));
        assert_eq!(PrivateKey::read(&path).expect("read").id(), key.id());
        assert!(!format!("{key:?}").contains(&hex::encode(key.key.to_bytes())));
    }
}
