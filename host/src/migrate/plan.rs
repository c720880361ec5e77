//! `plan`: what `up` or `down` would do, step by step, on this deployment.

use super::migrator::Migrator;
use super::options::{DownTarget, UpOptions};
use super::pending::{pending, roll_back_order};
use super::resume;
use super::status::Status;
use super::swap_back::swap_back_plan;
use super::work::Work;

use serde::Serialize;

use crate::error::{MigrateError, Result};
use crate::ledger::LedgerEntry;
use crate::manifest::{Body, WasmSpec};
use crate::options::Strategy;
use crate::pipeline::PipelineOptions;
use crate::progress::Direction;
use crate::source::Migration;
use crate::update;

/// One migration in a plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedMigration {
    /// The migration.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// Its description.
    pub description: String,
    /// Its state now.
    pub status: Status,
    /// Its steps, with the documents each would touch now.
    pub steps: Vec<PlannedStep>,
    /// What a run of it guarantees on this deployment.
    pub guarantee: String,
    /// What may go wrong on this deployment (e.g. an oplog too short for a
    /// rewrite's copy).
    pub warnings: Vec<String>,
    /// Whether its code runs in the sandbox (Wasm); `update` steps and
    /// Python files run with the user's full rights.
    pub sandboxed: bool,
    /// The operator policy's verdict (`up` only, with a policy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<crate::policy::Verdict>,
}

/// One step in a plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedStep {
    /// What it does.
    pub description: String,
    /// Documents it would touch now, for document steps.
    pub matching: Option<u64>,
}

/// What `up` or `down` would do.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Up or down.
    pub direction: Direction,
    /// What the run guarantees on this deployment.
    pub guarantee: String,
    /// The migrations, in the order they would run.
    pub migrations: Vec<PlannedMigration>,
    /// The operator policy's file, when one judged the migrations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<std::path::PathBuf>,
    /// Python migrations Beanie's `migrations_log` records as applied, which
    /// `up` would record as baselined instead of running.
    pub adopted_from_beanie: Vec<String>,
}

impl Migrator {
    /// What `up` would do now, with the documents each step would touch.
    pub async fn plan_up(&self, opts: &UpOptions) -> Result<Plan> {
        let mut entries = self.ledger.entries().await?;
        let adopted: Vec<String> = self
            .beanie_adoptable(&entries)
            .await?
            .iter()
            .map(|m| m.id.clone())
            .collect();
        let now = bson::DateTime::now();
        for id in &adopted {
            let m = self
                .migrations
                .iter()
                .find(|m| &m.id == id)
                .expect("on disk");
            entries.push(super::baseline::baselined(m, "", now));
        }
        let todo = pending(&self.migrations, &self.dir, &entries, opts)?;
        let mut plan = self
            .plan(
                Direction::Up,
                &entries,
                todo.iter().map(|m| (*m, Work::forward(m))).collect(),
                opts.strategy,
            )
            .await?;
        plan.policy = self.policy.as_ref().map(|p| p.path.clone());
        for (planned, m) in plan.migrations.iter_mut().zip(&todo) {
            planned.policy = self.verdict(m, opts).await?;
        }
        plan.adopted_from_beanie = adopted;
        Ok(plan)
    }

    /// What `down` would do now.
    pub async fn plan_down(&self, target: &DownTarget) -> Result<Plan> {
        let entries = self.ledger.entries().await?;
        let todo = self.to_roll_back(&entries, target, &[])?;
        self.plan(Direction::Down, &entries, todo, None).await
    }

    pub(super) async fn plan(
        &self,
        direction: Direction,
        entries: &[LedgerEntry],
        todo: Vec<(&Migration, Work)>,
        strategy: Option<Strategy>,
    ) -> Result<Plan> {
        let mut migrations = Vec::new();
        for (m, work) in todo {
            let steps: Vec<PlannedStep> = match &work {
                Work::Steps(steps) => {
                    let counts = update::count_steps(&self.target, steps).await?;
                    steps
                        .iter()
                        .zip(counts)
                        .map(|(s, n)| PlannedStep {
                            description: s.describe(),
                            matching: n,
                        })
                        .collect()
                }
                Work::Wasm(spec) => vec![PlannedStep {
                    description: format!(
                        "wasm transform {} ({}) on {} where {}, batches of {} on {} thread(s){}; {}",
                        spec.module.display(),
                        if direction == Direction::Up {
                            "forward"
                        } else {
                            "backward"
                        },
                        spec.collection,
                        spec.filter,
                        spec.batch_size,
                        PipelineOptions::new(spec.batch_size, spec.threads).threads,
                        cross_plan(&spec.outputs, &spec.lookups),
                        if direction == Direction::Up {
                            let (s, why) = self.strategy_for(spec, strategy).await?;
                            format!("strategy {}: {why}", s.as_str())
                        } else {
                            "in place".to_string()
                        }
                    ),
                    matching: Some(self.count(spec).await?),
                }],
                Work::SwapBack { state, backward } => vec![PlannedStep {
                    description: swap_back_plan(&m.id, state, backward.is_some()),
                    matching: None,
                }],
                Work::Python(_) => self.plan_python(m, direction, &work).await?,
                Work::Restore { collection, backup } => vec![PlannedStep {
                    description: format!("restore the pre-images in {backup} into {collection}"),
                    matching: Some(
                        self.target
                            .db()
                            .collection::<bson::Document>(backup)
                            .estimated_document_count()
                            .await
                            .map_err(|e| MigrateError::db("cannot count pre-images", e))?,
                    ),
                }],
            };
            let warnings = match &work {
                Work::Wasm(spec)
                    if direction == Direction::Up
                        && self.strategy_for(spec, strategy).await?.0 == Strategy::Rewrite =>
                {
                    self.rewrite_warnings(m, spec).await?
                }
                Work::Wasm(spec) => {
                    super::outputs::unindexed_lookups(&self.target, &spec.lookups, direction).await
                }
                _ => Vec::new(),
            };
            migrations.push(PlannedMigration {
                id: m.id.clone(),
                kind: m.manifest.kind.to_string(),
                description: m.manifest.description.clone(),
                status: entries.iter().find(|e| e.id == m.id).map_or(Status::Pending, |e| Status::Recorded(e.state)),
                steps,
                guarantee: match &work {
                    Work::Wasm(spec)
                        if direction == Direction::Up
                            && spec.transactions.is_none()
                            && self.strategy_for(spec, strategy).await?.0 == Strategy::Rewrite =>
                    {
                        "exactly-once: the copy is idempotent (a document inserted again is ignored, changes are followed from the change stream), the phase and stream position are in the ledger, and the swap is a rename".to_string()
                    }
                    Work::Wasm(spec) => self.tx_mode(spec.transactions).guarantee().to_string(),
                    Work::Restore { .. } => "idempotent: restoring pre-images can be repeated until it completes".to_string(),
                    Work::SwapBack { .. } => "each step recorded before it is taken; a run killed anywhere is finished by `down` and undone by `up`; the collection's name always stands for a complete collection".to_string(),
                    Work::Steps(_) => "server-side steps, each atomic per document; a run that dies between steps reruns them".to_string(),
                    Work::Python(_) => self.python_guarantee(),
                },
                warnings,
                sandboxed: m.manifest.kind.sandboxed(),
                policy: None,
            });
        }
        Ok(Plan {
            adopted_from_beanie: Vec::new(),
            direction,
            guarantee: self.guarantee(),
            migrations,
            policy: None,
        })
    }

    /// Whether the oplog looks too short for a rewrite's copy.
    pub(super) async fn rewrite_warnings(
        &self,
        m: &Migration,
        spec: &WasmSpec,
    ) -> Result<Vec<String>> {
        let Some(reach) =
            crate::rewrite::oplog_reach(&self.target, std::time::Duration::from_secs(2)).await
        else {
            return Ok(Vec::new());
        };
        let documents = self.count(spec).await?;
        let average = self
            .target
            .db()
            .run_command(bson::doc! { "collStats": &spec.collection })
            .await
            .ok()
            .and_then(|s| match s.get("avgObjSize") {
                Some(bson::Bson::Int32(n)) => Some(i64::from(*n)),
                Some(bson::Bson::Int64(n)) => Some(*n),
                Some(bson::Bson::Double(n)) => Some(*n as i64),
                _ => None,
            })
            .filter(|n| *n > 0);
        let bytes = average.map(|a| a * documents as i64);
        // The originals are copied too unless the module can recompute them.
        let keep = match spec.pre_images {
            Some(k) => k,
            None => self
                .load_module(m, spec)
                .map_or(true, |module| !module.info().backward),
        };
        Ok(
            crate::rewrite::oplog_too_short(&reach, documents, bytes, keep)
                .into_iter()
                .collect(),
        )
    }

    pub(super) fn guarantee(&self) -> String {
        let tx = if self.target.supports_transactions() {
            "ledger writes are fenced by the lock in transactions"
        } else {
            "standalone server: no transactions; ledger writes are fenced by token only"
        };
        format!(
            "update migrations run as server-side operations, each atomic per document; a run that dies between steps is recorded as failed or running and its steps rerun on the next `up` ({tx})"
        )
    }

    /// The migrations `down` rolls back, newest first, each with its backward steps.
    pub(super) fn to_roll_back<'a>(
        &'a self,
        entries: &[LedgerEntry],
        target: &DownTarget,
        allowed: &[String],
    ) -> Result<Vec<(&'a Migration, Work)>> {
        resume::check_named(allowed, &self.migrations, &self.dir)?;
        let chosen = roll_back_order(&self.migrations, &self.dir, entries, target)?;
        chosen
            .into_iter()
            .map(|e| {
                let m = self.migrations.iter().find(|m| m.id == e.id).ok_or_else(|| MigrateError::MissingOnDisk {
                    id: e.id.clone(),
                    state: e.state.to_string(),
                    path: self.dir.clone(),
                })?;
                let work = match &m.manifest.body {
                    Body::Update(b) => {
                        let steps = b.backward.clone().map_err(|reason| MigrateError::Irreversible { id: m.id.clone(), reason })?;
                        resume::check_way_back(e, m, "its backward steps", allowed)?;
                        Work::Steps(steps)
                    }
                    Body::Wasm(spec) if e.rewrite.is_some() => {
                        let state = e.rewrite.clone().expect("checked");
                        // A changed module's backward transform is used only
                        // with consent; kept originals need none.
                        let way_back = resume::check_way_back(e, m, "its module's backward transform", allowed);
                        self.swap_back_work(m, spec, state, way_back)?
                    }
                    // The exact originals beat recomputing them, and need no module.
                    Body::Wasm(spec) if e.pre_images.is_some() => Work::Restore {
                        collection: e.collection.clone().unwrap_or_else(|| spec.collection.clone()),
                        backup: e.pre_images.clone().expect("checked"),
                    },
                    Body::Wasm(spec) => {
                        let module = self.load_module(m, spec)?;
                        if !module.info().backward {
                            return Err(MigrateError::Irreversible {
                                id: m.id.clone(),
                                reason: format!(
                                    "its module {} has no backward transform and no pre-images were kept (pre_images = false, or pruned)",
                                    spec.module.display()
                                ),
                            });
                        }
                        resume::check_way_back(e, m, "its module's backward transform", allowed)?;
                        Work::Wasm(spec.clone())
                    }
                    Body::Python(_) => {
                        if e.pre_images.is_none() {
                            resume::check_way_back(e, m, "its backward migration", allowed)?;
                        }
                        self.python_down(m, e)?
                    }
                };
                Ok((m, work))
            })
            .collect()
    }
}

/// What a cross-collection migration reads and writes besides its own
/// collection, for its plan line.
/// What a cross-collection migration writes and reads besides its own
/// collection, for its plan line (Wasm and Python alike).
pub(super) fn cross_plan(
    outputs: &[crate::manifest::Namespace],
    lookups: &[crate::manifest::Lookup],
) -> String {
    let mut out = String::new();
    if !outputs.is_empty() {
        let names: Vec<String> = outputs.iter().map(ToString::to_string).collect();
        out.push_str(&format!("; outputs to {}", names.join(", ")));
    }
    for l in lookups {
        let on = match l.on {
            crate::manifest::LookupOn::Both => "",
            crate::manifest::LookupOn::Forward => ", up only",
            crate::manifest::LookupOn::Backward => ", down only",
        };
        out.push_str(&format!(
            "; looks up `{}` in {} ({} = {}, at most {}{on})",
            l.as_name, l.from, l.foreign_field, l.local_field, l.limit
        ));
    }
    out
}
