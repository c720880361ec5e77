//! The operator's policy over a run: every migration judged before anything
//! runs, and the ceilings each run's writer enforces.

use super::migrator::Migrator;
use super::options::UpOptions;
use crate::error::Result;
use crate::manifest::Body;
use crate::options::Strategy;
use crate::pipeline::PipelineOptions;
use crate::policy::{Operation, RunLimits, Subject, Verdict};
use crate::source::Migration;

impl Migrator {
    /// The policy's verdict on `m` run forward with `opts`; `None` without
    /// a policy.
    pub(super) async fn verdict(&self, m: &Migration, opts: &UpOptions) -> Result<Option<Verdict>> {
        let Some(policy) = &self.policy else {
            return Ok(None);
        };
        let (strategy, threads) = match &m.manifest.body {
            Body::Wasm(spec) => (
                // A strategy the deployment refuses is judged as asked.
                match self.strategy_for(spec, opts.strategy).await {
                    Ok((chosen, _)) => Some(chosen),
                    Err(_) => opts.strategy.or(spec.strategy),
                },
                PipelineOptions::new(spec.batch_size, spec.threads).threads,
            ),
            _ => (None, 0),
        };
        let subject = Subject {
            migration: m,
            database: self.target.db().name(),
            strategy,
            threads,
        };
        Ok(Some(policy.verdict(&subject)))
    }

    /// Refuses the run when the policy refuses any of `todo`, naming the
    /// first migration, the rule and its line; nothing has run yet.
    pub(super) async fn check_policy(&self, todo: &[&Migration], opts: &UpOptions) -> Result<()> {
        let Some(policy) = &self.policy else {
            return Ok(());
        };
        for m in todo {
            if let Some(Verdict::Refused { rule, line, reason }) = self.verdict(m, opts).await? {
                return Err(crate::error::PolicyError::Refused {
                    id: m.id.clone(),
                    file: m.manifest_path.clone(),
                    rule,
                    policy: policy.path.clone(),
                    line,
                    reason,
                }
                .into());
            }
        }
        Ok(())
    }

    /// The ceilings of documents for a forward run of `m` over `collection`.
    pub(super) fn run_limits(&self, m: &Migration, collection: &str) -> RunLimits {
        self.policy
            .as_ref()
            .map(|p| p.run_limits(m, self.target.db().name(), collection))
            .unwrap_or_default()
    }

    /// Whether the policy lets `auto` choose a rewrite (the strategy, and
    /// the swap it ends with).
    pub(super) fn policy_allows_rewrite(&self) -> bool {
        self.policy.as_ref().is_none_or(|p| {
            p.forbids(Operation::Swap).is_none()
                && p.strategies
                    .as_ref()
                    .is_none_or(|r| r.value.contains(&Strategy::Rewrite))
        })
    }
}
