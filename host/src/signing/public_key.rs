//! [`PublicKey`]: a named Ed25519 public key, written `<name>:<base64>`, and
//! its short, stable key id.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

use crate::error::SigningError;

/// A named Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// The name people know the key by (a team, a person, a year).
    pub name: String,
    /// The key.
    pub key: VerifyingKey,
}

impl PublicKey {
    /// Parses `<name>:<base64>`: a name of letters, digits, `.`, `_`, `-`
    /// and `@`, and the standard base64 of the 32-byte public key, as
    /// `mongoshift keygen` prints it. `given` says where the text came from
    /// (the argument, or `file:line`) for the error.
    pub fn parse(text: &str, given: &str) -> Result<PublicKey, SigningError> {
        let bad = |reason: String| SigningError::PublicKey {
            given: given.to_string(),
            reason,
        };
        let (name, b64) = text
            .trim()
            .split_once(':')
            .ok_or_else(|| bad("no `:` between the name and the key".into()))?;
        check_key_name(name).map_err(bad)?;
        let bytes = STANDARD
            .decode(b64.trim())
            .map_err(|e| bad(format!("the key is not standard base64 ({e})")))?;
        let bytes: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| bad(format!("the key is {} bytes, not 32", bytes.len())))?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| bad("the bytes are not an Ed25519 public key".into()))?;
        Ok(PublicKey {
            name: name.to_string(),
            key,
        })
    }

    /// The key's id: see [`key_id`].
    pub fn id(&self) -> String {
        key_id(&self.key)
    }

    /// The key's standard base64.
    pub fn base64(&self) -> String {
        STANDARD.encode(self.key.as_bytes())
    }
}

impl std::fmt::Display for PublicKey {
    /// `<name>:<base64>`, the form [`PublicKey::parse`] reads.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.name, self.base64())
    }
}

/// A key's id: the first 16 hex digits of the SHA-256 of its 32 bytes.
/// Short enough to read out, stable for the key whatever its name.
pub fn key_id(key: &VerifyingKey) -> String {
    let mut id = hex::encode(Sha256::digest(key.as_bytes()));
    id.truncate(16);
    id
}

/// Checks a key's name: not empty, letters, digits, `.`, `_`, `-`, `@`.
pub fn check_key_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name before `:` is empty".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(format!(
            "the name `{name}` has characters other than letters, digits, `.`, `_`, `-` and `@`"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64() -> String {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
        STANDARD.encode(key.as_bytes())
    }

    #[test]
    fn parses_what_it_prints_and_the_id_is_stable() {
        let text = format!("ops:{}", b64());
        let k = PublicKey::parse(&text, "--trusted-key").expect("valid");
        assert_eq!(k.name, "ops");
        assert_eq!(k.to_string(), text);
        assert_eq!(k.id().len(), 16);
        let renamed = PublicKey::parse(&format!("other:{}", b64()), "x").expect("valid");
        assert_eq!(renamed.id(), k.id(), "the id is the key's, not the name's");
    }

    #[test]
    fn bad_keys_say_what_is_wrong_and_where_they_came_from() {
        for (text, why) in [
            (b64(), "no `:`"),
            (format!(":{}", b64()), "empty"),
            (format!("a b:{}", b64()), "characters"),
            ("ops:not base64!".into(), "not standard base64"),
            ("ops:AAAA".into(), "3 bytes, not 32"),
        ] {
            let e = PublicKey::parse(&text, "keys.txt:3").expect_err(&text);
            let msg = e.to_string();
            assert!(
                msg.contains(why) && msg.contains("keys.txt:3"),
                "{text}: {msg}"
            );
            assert!(e.is_bad_key());
        }
    }
}
