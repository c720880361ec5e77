//! [`SignatureRule`]: the keys trusted, and whether an unsigned migration
//! is refused ([`Requirement`]).

use super::check::{check, Signer};
use super::trusted::TrustedKeys;
use crate::error::SigningError;
use crate::source::Migration;

/// Whether an unsigned migration is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Every migration must carry a good signature by a trusted key.
    Required,
    /// An unsigned migration is let through (with no signer); a signed one
    /// must still match its files and be signed by a trusted key.
    Optional,
}

/// The keys trusted, and whether an unsigned migration is refused.
#[derive(Debug, Clone)]
pub struct SignatureRule {
    /// The keys whose signatures are accepted.
    pub keys: TrustedKeys,
    /// Whether every migration must be signed.
    pub requirement: Requirement,
}

impl SignatureRule {
    /// [`check`]s `m`, letting an unsigned migration through (as `None`)
    /// when signatures are [`Requirement::Optional`].
    pub fn check(&self, m: &Migration) -> Result<Option<Signer>, SigningError> {
        match check(m, &self.keys) {
            Ok(signer) => Ok(Some(signer)),
            Err(SigningError::Unsigned { .. }) if self.requirement == Requirement::Optional => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}
