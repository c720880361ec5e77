//! The signature rule an operator policy sets (`trusted_keys`,
//! `signatures`), for `up` and `verify --signatures` to check.

use super::rules::{Policy, Signatures};
use crate::signing::{Requirement, SignatureRule, TrustedKeys};

impl Policy {
    /// Its trusted keys, and whether every migration must be signed;
    /// `None` when it sets neither. The keys were checked when the policy
    /// was read.
    pub fn signature_rule(&self) -> Option<SignatureRule> {
        let required = self.signatures.value == Signatures::Required;
        if self.trusted_keys.is_empty() && !required {
            return None;
        }
        let keys: Vec<String> = self.trusted_keys.iter().map(|k| k.value.clone()).collect();
        Some(SignatureRule {
            keys: TrustedKeys::parse(&keys).unwrap_or_default(),
            requirement: if required {
                Requirement::Required
            } else {
                Requirement::Optional
            },
        })
    }
}
