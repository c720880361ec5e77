//! `plan --distributed`: how each pending migration would run in a
//! distributed run, and why.

use serde::Serialize;

use crate::error::{MigrateError, Result};
use crate::partition::{self, DistributedOptions};

use super::migrator::{count_matching, Migrator};
use super::options::UpOptions;
use super::pending::pending;

/// How one pending migration runs in a distributed run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "runs", rename_all = "snake_case")]
#[non_exhaustive]
pub enum DistributedPlan {
    /// Shared by the workers, partition by partition.
    Partitioned {
        /// Its partitions: recorded, or what a split would make now.
        partitions: u64,
        /// Whether they are recorded already.
        recorded: bool,
        /// What then runs on one worker, and why (a rewrite's catch-up
        /// and swap).
        #[serde(skip_serializing_if = "Option::is_none")]
        then_one_worker: Option<String>,
    },
    /// Run once, on the worker that takes the lock first.
    OneWorker {
        /// Why.
        reason: String,
    },
    /// Refused.
    Refused {
        /// Why, and what to do.
        reason: String,
    },
}

/// One pending migration and how it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DistributedRow {
    /// The migration.
    pub id: String,
    /// How.
    #[serde(flatten)]
    pub plan: DistributedPlan,
}

impl Migrator {
    /// How `up --distributed` would run each pending migration.
    pub async fn plan_distributed(
        &self,
        opts: &UpOptions,
        dist: &DistributedOptions,
    ) -> Result<Vec<DistributedRow>> {
        let entries = self.ledger.entries().await?;
        let mut rows = Vec::new();
        for m in pending(&self.migrations, &self.dir, &entries, opts)? {
            let plan = match self.distributable(m, opts, dist) {
                Err(MigrateError::NotDistributable { reason, .. }) => {
                    DistributedPlan::Refused { reason }
                }
                Err(e) => DistributedPlan::Refused {
                    reason: e.to_string(),
                },
                Ok(None) => DistributedPlan::OneWorker {
                    reason: one_worker_reason(m),
                },
                Ok(Some(shared)) => {
                    let spec = shared.spec;
                    let recorded = partition::load(&self.target, &m.id).await?.len() as u64;
                    let partitions = match (recorded, dist.pinned) {
                        (0, Some(p)) => u64::from(p.of),
                        (0, None) => {
                            let n = count_matching(&self.target, &spec.collection, &spec.filter)
                                .await?;
                            n.div_ceil(dist.partition_docs).max(1)
                        }
                        (n, _) => n,
                    };
                    DistributedPlan::Partitioned {
                        partitions,
                        recorded: recorded > 0,
                        then_one_worker: shared.rewrite.then(|| {
                            "a rewrite's copy is shared; its catch-up and swap run on the one \
                             worker that takes the lock once every partition is copied"
                                .to_string()
                        }),
                    }
                }
            };
            rows.push(DistributedRow {
                id: m.id.clone(),
                plan,
            });
        }
        Ok(rows)
    }
}

fn one_worker_reason(m: &crate::source::Migration) -> String {
    use crate::manifest::Body;
    match &m.manifest.body {
        Body::Update(_) => "a server-side update runs once, on the server".into(),
        Body::Python(_) => "Python migrations run on one worker".into(),
        Body::Wasm(_) => "runs on one worker".into(),
    }
}
