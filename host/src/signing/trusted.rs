//! [`TrustedKeys`]: the public keys whose signatures are accepted, found by
//! key id.

use std::path::Path;

use super::public_key::PublicKey;
use crate::error::SigningError;

/// The public keys whose signatures are accepted. Several at once during a
/// rotation: the old key and the new one.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    keys: Vec<PublicKey>,
}

impl TrustedKeys {
    /// Parses `<name>:<base64>` lines (as an operator policy's
    /// `trusted_keys` lists them, or `--trusted-key` flags). An error names
    /// the key that is wrong.
    pub fn parse(keys: &[String]) -> Result<TrustedKeys, SigningError> {
        let mut out = TrustedKeys::default();
        for k in keys {
            out.add(PublicKey::parse(
                k,
                &format!("`{}`", crate::text::bounded(k.as_bytes(), 120)),
            )?)?;
        }
        Ok(out)
    }

    /// Reads a file of keys, one `<name>:<base64>` per line; blank lines
    /// and lines starting with `#` are skipped. An error names the file and
    /// the line.
    pub fn read(path: &Path) -> Result<TrustedKeys, SigningError> {
        let text = std::fs::read_to_string(path).map_err(|source| SigningError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        })?;
        let mut out = TrustedKeys::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key = PublicKey::parse(line, "").map_err(|e| match e {
                SigningError::PublicKey { reason, .. } => SigningError::KeysFile {
                    path: path.to_path_buf(),
                    line: i + 1,
                    reason,
                },
                other => other,
            })?;
            out.add(key)?;
        }
        Ok(out)
    }

    /// Adds a key; the same key under another name is an error.
    pub fn add(&mut self, key: PublicKey) -> Result<(), SigningError> {
        match self.keys.iter().find(|k| k.key == key.key) {
            Some(k) if k.name == key.name => Ok(()),
            Some(k) => Err(SigningError::DuplicateKey {
                first: k.name.clone(),
                second: key.name,
                key_id: k.id(),
            }),
            None => {
                self.keys.push(key);
                Ok(())
            }
        }
    }

    /// Adds every key of `other`.
    pub fn extend(&mut self, other: TrustedKeys) -> Result<(), SigningError> {
        other.keys.into_iter().try_for_each(|k| self.add(k))
    }

    /// The key with id `key_id`, if trusted.
    pub fn find(&self, key_id: &str) -> Option<&PublicKey> {
        self.keys.iter().find(|k| k.id() == key_id)
    }

    /// The keys, in the order given.
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// Whether no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(name: &str, seed: u8) -> String {
        let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]).verifying_key();
        PublicKey {
            name: name.into(),
            key,
        }
        .to_string()
    }

    #[test]
    fn a_file_skips_comments_and_names_the_bad_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys");
        std::fs::write(
            &path,
            format!("# team keys\n\n{}\n{}\n", line("a", 1), line("b", 2)),
        )
        .expect("write");
        let keys = TrustedKeys::read(&path).expect("valid");
        assert_eq!(keys.keys().len(), 2);
        let id = keys.keys()[1].id();
        assert_eq!(keys.find(&id).map(|k| k.name.as_str()), Some("b"));
        std::fs::write(&path, format!("{}\nc:AAAA\n", line("a", 1))).expect("write");
        let e = TrustedKeys::read(&path).expect_err("bad line 2");
        assert!(
            e.to_string().contains(&format!(
                "invalid trusted keys file {}, line 2: ",
                path.display()
            )),
            "{e}"
        );
    }

    #[test]
    fn the_same_key_under_two_names_is_refused() {
        let e = TrustedKeys::parse(&[line("a", 1), line("b", 1)]).expect_err("same key");
        assert!(matches!(e, SigningError::DuplicateKey { .. }), "{e}");
        assert_eq!(
            TrustedKeys::parse(&[line("a", 1), line("a", 1)])
                .expect("same name")
                .keys()
                .len(),
            1
        );
    }
}
