//! Signatures `up` checks before it runs anything (see [`crate::signing`]),
//! and the signer each ledger entry records.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::Result;
use crate::signing::{Requirement, SignatureRule, Signer, TrustedKeys};

use super::migrator::Migrator;

impl Migrator {
    /// Makes `up` check the signature of every migration in the directory
    /// against `keys` before it takes the lock: an altered migration, or
    /// one signed by a key not in `keys`, is refused, and so is an unsigned
    /// one when signatures are [`Requirement::Required`]. Nothing is
    /// written when one is refused. The ledger records the signer's key id
    /// of each migration run.
    pub fn signatures(mut self, keys: TrustedKeys, requirement: Requirement) -> Self {
        self.signatures = Some(Arc::new(SignatureRule { keys, requirement }));
        self
    }

    /// The signer of each signed migration on disk, checked against the
    /// keys given to [`signatures`](Self::signatures) (none when none were
    /// given); the error of the first migration refused.
    pub fn check_signatures(&self) -> Result<HashMap<String, Signer>> {
        let mut signers = HashMap::new();
        let Some(rule) = &self.signatures else {
            return Ok(signers);
        };
        for m in &self.migrations {
            if let Some(s) = rule.check(m)? {
                signers.insert(m.id.clone(), s);
            }
        }
        Ok(signers)
    }

    /// A copy that records `signers` in the ledger entries it writes.
    pub(super) fn with_signers(&self, signers: HashMap<String, Signer>) -> Migrator {
        Migrator {
            signers: Arc::new(signers),
            ..self.clone()
        }
    }

    /// The key id of `id`'s signer, for its ledger entry.
    pub(super) fn signer_of(&self, id: &str) -> Option<String> {
        self.signers.get(id).map(|s| s.key_id.clone())
    }

    /// The key ids of the signers of `ids`, for the audit record: none when
    /// no keys were given or a signature does not check.
    pub(super) fn signers_of(&self, ids: &[String]) -> Option<String> {
        self.signatures.as_ref()?;
        let signers = self.check_signatures().ok()?;
        let mut keys: Vec<&str> = ids
            .iter()
            .filter_map(|id| signers.get(id))
            .map(|s| s.key_id.as_str())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        (!keys.is_empty()).then(|| keys.join(", "))
    }
}
