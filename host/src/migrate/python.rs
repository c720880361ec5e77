//! How the migrator runs Python migrations (see [`crate::python`]): the file
//! is read by the registered runtime; iterative steps go through the pipeline
//! exactly like Wasm transforms, bulk steps are calls.

use std::sync::Arc;

use crate::error::{MigrateError, Result};
use crate::ledger::LedgerEntry;
use crate::options::{OnError, TxMode};
use crate::pipeline::{self, PipelineOptions, Transformer};
use crate::progress::{Direction, Event};
use crate::python::{BulkStep, PythonPlan, PythonStep, NO_RUNTIME};
use crate::source::Migration;
use crate::update::Counts;
use crate::writer::WriteOptions;

use super::dry_run::{DryRunMigration, Sampled};
use super::migrator::{count_matching, Migrator};
use super::options::UpOptions;
use super::plan::PlannedStep;
use super::settings::{choose_pre_images, Asked};
use super::work::{One, Work};

pub(super) struct PyPrepared {
    pub(super) plan: Arc<PythonPlan>,
    pub(super) tx: TxMode,
    pub(super) session: Option<mongodb::ClientSession>,
}

impl Migrator {
    /// Reads a Python file through the runtime, off the async threads (the
    /// runtime waits for the GIL).
    pub(super) async fn load_python(
        &self,
        m: &Migration,
        direction: Direction,
    ) -> Result<Arc<PythonPlan>> {
        let Some(rt) = self.python.clone() else {
            return Err(self.no_python(m));
        };
        let m2 = m.clone();
        let plan = in_runtime(m, move || rt.load(&m2, direction)).await?;
        let iterative = plan
            .steps
            .iter()
            .filter(|s| matches!(s, PythonStep::Iterative { .. }))
            .count();
        if iterative > 1 {
            return Err(MigrateError::Python {
                migration: m.id.clone(),
                message: format!("it has {iterative} iterative steps in one direction, but a migration keeps one checkpoint; put each iterative migration in its own file"),
            });
        }
        Ok(Arc::new(plan))
    }

    pub(super) fn no_python(&self, m: &Migration) -> MigrateError {
        MigrateError::Python {
            migration: m.id.clone(),
            message: match &self.python_missing {
                Some(why) => format!("no Python runtime ({why}); {NO_RUNTIME}"),
                None => format!("no Python runtime; {NO_RUNTIME}"),
            },
        }
    }

    pub(super) fn python_guarantee(&self) -> String {
        format!(
            "iterative steps: {}; bulk steps run as one call each and rerun if the run dies",
            self.tx_mode(None).guarantee()
        )
    }

    pub(super) async fn plan_python(
        &self,
        m: &Migration,
        direction: Direction,
        work: &Work,
    ) -> Result<Vec<PlannedStep>> {
        let plan = match work {
            Work::Python(Some(p)) => p.clone(),
            _ => match self.load_python(m, direction).await {
                Ok(p) => p,
                // A plan shows what it can: the reason this one cannot run.
                Err(e) => {
                    return Ok(vec![PlannedStep {
                        description: format!("python migration that cannot run: {e}"),
                        matching: None,
                    }])
                }
            },
        };
        let mut steps = Vec::new();
        for s in &plan.steps {
            let cross = match s {
                PythonStep::Iterative {
                    outputs, lookups, ..
                } => super::plan::cross_plan(outputs, lookups),
                PythonStep::Bulk { .. } => String::new(),
            };
            steps.push(PlannedStep {
                description: format!("{}{cross}", s.description()),
                matching: match s {
                    PythonStep::Iterative {
                        collection, filter, ..
                    } => Some(self.count_in(collection, filter).await?),
                    PythonStep::Bulk { .. } => None,
                },
            });
        }
        Ok(steps)
    }

    pub(super) async fn count_in(&self, collection: &str, filter: &bson::Document) -> Result<u64> {
        count_matching(&self.target, collection, filter).await
    }

    /// How `down` undoes a Python migration: its pre-images when kept (they
    /// need no Python), else its backward steps.
    pub(super) fn python_down(&self, m: &Migration, e: &LedgerEntry) -> Result<Work> {
        if let Some(backup) = &e.pre_images {
            // Where the run recorded it, else the file names it.
            let collection = match (&e.collection, &self.python) {
                (Some(c), _) => c.clone(),
                (None, None) => return Err(self.no_python(m)),
                (None, Some(_)) => self.python_collection(m).ok_or_else(|| MigrateError::Python {
                    migration: m.id.clone(),
                    message: "pre-images were kept, but its file no longer names the collection of an iterative step".into(),
                })?,
            };
            return Ok(Work::Restore {
                collection,
                backup: backup.clone(),
            });
        }
        let Some(rt) = &self.python else {
            return Err(self.no_python(m));
        };
        let plan = rt
            .load(m, Direction::Down)
            .map_err(|message| MigrateError::Python {
                migration: m.id.clone(),
                message: crate::text::message(message),
            })?;
        if plan.steps.is_empty() {
            return Err(MigrateError::Irreversible {
                id: m.id.clone(),
                reason: "its file defines no backward migration and no pre-images were kept".into(),
            });
        }
        Ok(Work::Python(Some(Arc::new(plan))))
    }

    /// The collection of a Python migration's iterative forward step.
    pub(super) fn python_collection(&self, m: &Migration) -> Option<String> {
        let plan = self.python.as_ref()?.load(m, Direction::Up).ok()?;
        plan.steps.into_iter().find_map(|s| match s {
            PythonStep::Iterative { collection, .. } => Some(collection),
            PythonStep::Bulk { .. } => None,
        })
    }

    /// Reads the file and settles how the run writes (as for Wasm: pre-images
    /// when there is no way back, side collections, the session).
    pub(super) async fn prepare_python(
        &self,
        m: &Migration,
        plan: Option<Arc<PythonPlan>>,
        direction: Direction,
        opts: &UpOptions,
        entry: &mut LedgerEntry,
    ) -> Result<PyPrepared> {
        let plan = match plan {
            Some(p) => p,
            None => self.load_python(m, direction).await?,
        };
        let iterative = plan
            .steps
            .iter()
            .any(|s| matches!(s, PythonStep::Iterative { .. }));
        let asked = Asked {
            transactions: opts.transactions,
            pre_images: opts.pre_images,
            form: None,
        };
        let settings = self.settings(asked, plan.reversible, iterative);
        let tx = settings.tx;
        choose_pre_images(entry, m, direction, iterative && settings.keep_originals);
        if entry.collection.is_none() {
            entry.collection = plan.steps.iter().find_map(|s| match s {
                PythonStep::Iterative { collection, .. } => Some(collection.clone()),
                PythonStep::Bulk { .. } => None,
            });
        }
        for s in &plan.steps {
            if let PythonStep::Iterative { outputs, .. } = s {
                super::outputs::prepare(&self.target, &m.id, outputs, tx).await?;
            }
        }
        let session = self.prepare_writes(entry, tx, settings.quarantine).await?;
        Ok(PyPrepared { plan, tx, session })
    }

    /// Runs a Python migration's steps in order: bulk steps are calls into
    /// the runtime, iterative ones go through the pipeline.
    pub(super) async fn run_python(
        &self,
        one: One<'_>,
        prepared: PyPrepared,
        entry: &LedgerEntry,
    ) -> Result<(Counts, i64)> {
        let m = one.m;
        let PyPrepared {
            plan,
            tx,
            mut session,
        } = prepared;
        let mut total = None;
        for s in &plan.steps {
            if let PythonStep::Iterative {
                collection, filter, ..
            } = s
            {
                total = Some(self.count_in(collection, filter).await?);
            }
        }
        self.started(m, one.direction, &Work::Python(Some(plan.clone())), total);
        let mut counts = Counts::default();
        let mut failed = 0;
        for (i, s) in plan.steps.iter().enumerate() {
            self.progress.event(&Event::StepStarted {
                id: m.id.clone(),
                step: i + 1,
                description: s.description().to_string(),
            });
            let (c, f) = match s {
                PythonStep::Bulk { run, .. } => {
                    self.run_bulk(m, run.clone()).await?;
                    (Counts::default(), 0)
                }
                PythonStep::Iterative { .. } => {
                    let job = self.python_job(one, s, entry, tx);
                    let cp = pipeline::run(pipeline::Job {
                        total,
                        session: session.take(),
                        ..job
                    })
                    .await?;
                    (
                        Counts {
                            matched: cp.read as u64,
                            modified: (cp.replaced + cp.deleted) as u64,
                        },
                        cp.failed,
                    )
                }
            };
            self.progress.event(&Event::StepFinished {
                id: m.id.clone(),
                step: i + 1,
                matched: c.matched,
                modified: c.modified,
            });
            counts.matched += c.matched;
            counts.modified += c.modified;
            failed += f;
        }
        Ok((counts, failed))
    }

    /// Runs a bulk step in the runtime, off the async threads.
    async fn run_bulk(&self, m: &Migration, run: Arc<dyn BulkStep>) -> Result<()> {
        let db = self.target.db().name().to_string();
        in_runtime(m, move || run.run(&db)).await
    }

    /// The pipeline's job for an iterative step. A rollback of a run that
    /// stopped part-way undoes what it committed, no further.
    fn python_job<'a>(
        &'a self,
        one: One<'a>,
        step: &'a PythonStep,
        entry: &LedgerEntry,
        tx: TxMode,
    ) -> pipeline::Job<'a> {
        let PythonStep::Iterative {
            collection,
            filter,
            batch_size,
            threads,
            transform,
            outputs,
            lookups,
            ..
        } = step
        else {
            unreachable!("an iterative step")
        };
        let cross = crate::writer::Cross::declared(&one.m.id, outputs, lookups, one.direction);
        let undo_through = entry
            .undo_through
            .as_ref()
            .filter(|_| one.direction == Direction::Down);
        let filter = crate::batch::bounded(filter, undo_through);
        pipeline::Job {
            target: &self.target,
            migration: &one.m.id,
            collection,
            filter: filter.clone(),
            direction: one.direction,
            module: Transformer::Custom(transform.clone()),
            options: PipelineOptions::new(*batch_size, *threads),
            total: None,
            progress: &self.progress,
            resume: entry.checkpoint.clone(),
            write: WriteOptions {
                tx,
                fence: one.lease.token(),
                checkpoint: crate::ledger::CheckpointSlot::Entry,
                pre_images: entry.pre_images.clone(),
                quarantine: self.on_error == OnError::Quarantine,
                max_attempts: 30,
                destination: crate::writer::Destination::InPlace {
                    form: crate::options::UpdateForm::default(),
                    reread: true,
                },
                filter,
                cross: cross.clone(),
                limits: match one.direction {
                    Direction::Up => self.run_limits(one.m, collection),
                    Direction::Down => Default::default(),
                },
            },
            dry_run: None,
            limit: None,
            session: None,
            schema: None,
            lookups: cross.lookups(),
            controls: self.controls,
        }
    }

    /// A dry run of a Python migration: its iterative step runs over the
    /// sample like a Wasm transform (nothing written); bulk steps, which do
    /// their own writes, are not run.
    pub(super) async fn dry_run_python(
        &self,
        m: &Migration,
        sample: Option<u64>,
    ) -> Result<DryRunMigration> {
        if self.python.is_none() {
            return Ok(DryRunMigration::unsampled(
                m,
                0,
                format!("not sampled: {}", self.no_python(m)),
            ));
        }
        let plan = self.load_python(m, Direction::Up).await?;
        let bulk = plan
            .steps
            .iter()
            .filter(|s| matches!(s, PythonStep::Bulk { .. }))
            .count();
        let skipped = (bulk > 0)
            .then(|| format!("{bulk} bulk step(s) not run: they write to the database themselves"));
        let Some(PythonStep::Iterative {
            collection,
            filter,
            batch_size,
            threads,
            transform,
            ..
        }) = plan
            .steps
            .iter()
            .find(|s| matches!(s, PythonStep::Iterative { .. }))
        else {
            return Ok(DryRunMigration::unsampled(
                m,
                0,
                skipped.unwrap_or_else(|| "nothing to run".into()),
            ));
        };
        let total = self.count_in(collection, filter).await?;
        let mut report = self
            .sample(
                m,
                Sampled {
                    collection,
                    filter,
                    module: Transformer::Custom(transform.clone()),
                    options: PipelineOptions::new(*batch_size, *threads),
                    schema: None,
                    total,
                    lookups: None,
                },
                sample,
            )
            .await?;
        if let Some(s) = skipped {
            report.note = Some(match report.note {
                Some(n) => format!("{n}; {s}"),
                None => s,
            });
        }
        Ok(report)
    }
}

/// Runs `f` in the Python runtime, off the async threads (it waits for the
/// GIL); its error, or its panic, is the migration's.
async fn in_runtime<T: Send + 'static>(
    m: &Migration,
    f: impl FnOnce() -> std::result::Result<T, String> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| MigrateError::Python {
            migration: m.id.clone(),
            message: format!("the Python runtime panicked: {e}"),
        })?
        .map_err(|message| MigrateError::Python {
            migration: m.id.clone(),
            message: crate::text::message(message),
        })
}
