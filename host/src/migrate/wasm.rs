//! Running a Wasm migration: loading its module, choosing its strategy and
//! transaction mode, and driving the pipeline (in place) or the rewrite.

use std::time::Instant;

use bson::doc;

use crate::error::{MigrateError, Result};
use crate::ledger::{Checkpoint, LedgerEntry};
use crate::manifest::WasmSpec;
use crate::options::{Cutover, OnError, Strategy, TxMode, UpdateForm};
use crate::pipeline::{self, PipelineOptions, Transformer};
use crate::progress::{Direction, Event};
use crate::source::Migration;
use crate::update;
use crate::wasm::TransformModule;
use crate::writer::{Destination, WriteOptions};

use super::migrator::{count_matching, Migrator};
use super::options::UpOptions;
use super::settings::{choose_pre_images, Asked};
use super::work::One;

pub(super) struct Prepared {
    pub(super) module: Transformer,
    pub(super) tx: TxMode,
    pub(super) form: UpdateForm,
    pub(super) strategy: Strategy,
    /// A rewrite keeps the originals in its backup.
    pub(super) keep: bool,
    pub(super) session: Option<mongodb::ClientSession>,
    /// When a rewrite swaps (a rollback never waits).
    pub(super) cutover: Cutover,
}

impl Migrator {
    pub(super) fn load_module(&self, m: &Migration, spec: &WasmSpec) -> Result<TransformModule> {
        // Loading checks, hashes and deserializes the module: most of the
        // engine's own time per database in a fleet run, whose databases
        // share this migrator's memo. The checksum covers the module and
        // its limits.
        let key = format!("{}@{}", m.id, m.checksum);
        let memo = || self.modules.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(module) = memo().get(&key) {
            return Ok(module.clone());
        }
        let module = self.load_module_file(m, spec)?;
        memo().insert(key, module.clone());
        Ok(module)
    }

    fn load_module_file(&self, m: &Migration, spec: &WasmSpec) -> Result<TransformModule> {
        let module = crate::local::load_wasm(m, spec)?;
        if let Some(message) = module.cache_warning() {
            self.progress.event(&Event::Warning {
                id: m.id.clone(),
                message,
            });
        }
        Ok(module)
    }

    pub(super) async fn count(&self, spec: &WasmSpec) -> Result<u64> {
        count_matching(&self.target, &spec.collection, &spec.filter).await
    }

    /// The progress total of a run: on a resume, what the checkpoint read
    /// plus what matches after its last `_id` (a migration that deletes
    /// documents, or changes them out of its filter, has made the collection
    /// smaller than the work it has done).
    async fn total(&self, spec: &WasmSpec, cp: Option<&Checkpoint>) -> Result<u64> {
        let Some((read, Some(last))) = cp.map(|c| (c.read, c.last_id.clone())) else {
            return self.count(spec).await;
        };
        let after = doc! { "_id": { "$gt": last } };
        let filter = if spec.filter.is_empty() {
            after
        } else {
            doc! { "$and": [spec.filter.clone(), after] }
        };
        let left = count_matching(&self.target, &spec.collection, &filter).await?;
        Ok(u64::try_from(read).unwrap_or(0) + left)
    }

    /// Loads the module and settles how the run writes; records the settings
    /// in the ledger entry.
    pub(super) async fn prepare_wasm(
        &self,
        m: &Migration,
        spec: &WasmSpec,
        direction: Direction,
        opts: &UpOptions,
        entry: &mut LedgerEntry,
    ) -> Result<Prepared> {
        let module = {
            let (this, m2, spec2) = (self.clone(), m.clone(), spec.clone());
            tokio::task::spawn_blocking(move || this.load_module(&m2, &spec2))
                .await
                .map_err(|e| MigrateError::Task {
                    task: "module loading".into(),
                    message: e.to_string(),
                })??
        };
        if direction == Direction::Down && !module.info().backward {
            return Err(MigrateError::Irreversible {
                id: m.id.clone(),
                reason: "its module has no backward transform".into(),
            });
        }
        let asked = Asked {
            transactions: opts.transactions.or(spec.transactions),
            pre_images: opts.pre_images.or(spec.pre_images),
            form: opts.in_place_writes.or(spec.in_place_writes),
        };
        let settings = self.settings(asked, module.info().backward, true);
        let strategy = match direction {
            Direction::Down => Strategy::InPlace,
            // A rewrite that stopped part-way goes on as a rewrite.
            Direction::Up if entry.rewrite.is_some() => Strategy::Rewrite,
            Direction::Up => {
                let (strategy, why) = self.strategy_for(spec, opts.strategy).await?;
                if strategy != Strategy::Rewrite && opts.cutover.postponed() {
                    return Err(super::cutover::not_a_rewrite(&m.id, &why));
                }
                strategy
            }
        };
        // A rewrite's copy needs no transactions: inserting a document again
        // is refused as a duplicate (ignored), and a document that changed in
        // between is redone from the change stream anyway.
        let tx = if strategy == Strategy::Rewrite && asked.transactions.is_none() {
            TxMode::None
        } else {
            settings.tx
        };
        // A rewrite keeps the originals (in its backup) by the rule of
        // pre-images; one already started keeps what it chose.
        let keep = entry
            .rewrite
            .as_ref()
            .map_or(settings.keep_originals, |r| r.keep);
        if strategy == Strategy::Rewrite {
            entry.pre_images = None;
        } else {
            choose_pre_images(entry, m, direction, settings.keep_originals);
        }
        entry
            .collection
            .get_or_insert_with(|| spec.collection.clone());
        if !spec.outputs.is_empty() && tx == TxMode::None {
            return Err(MigrateError::CrossWithoutTransactions { id: m.id.clone() });
        }
        let session = self.prepare_writes(entry, tx, settings.quarantine).await?;
        Ok(Prepared {
            module: Transformer::Wasm(module),
            tx,
            form: settings.form,
            strategy,
            keep,
            session,
            cutover: match direction {
                Direction::Up => opts.cutover,
                Direction::Down => Cutover::default(),
            },
        })
    }

    /// The strategy a forward run of `spec` gets (asked: the flag's), and why.
    pub(super) async fn strategy_for(
        &self,
        spec: &WasmSpec,
        asked: Option<Strategy>,
    ) -> Result<(Strategy, String)> {
        let asked = asked.or(spec.strategy).unwrap_or_default();
        if !spec.outputs.is_empty() || !spec.lookups.is_empty() {
            let why =
                "a cross-collection migration (outputs, lookups) runs in place: each batch's \
                       writes to every collection commit in one transaction";
            return match asked {
                Strategy::Rewrite => Err(MigrateError::Refused { reason: why.into() }),
                _ => Ok((Strategy::InPlace, format!("in place: {why}"))),
            };
        }
        let mut refusal =
            crate::rewrite::refusal(&self.target, &spec.collection, &spec.filter).await?;
        if asked == Strategy::Auto && refusal.is_none() && !self.policy_allows_rewrite() {
            refusal = Some("the policy does not allow a rewrite".into());
        }
        Ok(match (asked, refusal) {
            (Strategy::InPlace, _) => (Strategy::InPlace, "asked for".into()),
            (Strategy::Rewrite, None) => (Strategy::Rewrite, "asked for".into()),
            (Strategy::Rewrite, Some(reason)) => return Err(MigrateError::Refused { reason }),
            (Strategy::Auto, None) => (
                Strategy::Rewrite,
                "auto: a whole-collection migration on a replica set, so copy and swap".into(),
            ),
            (Strategy::Auto, Some(reason)) => (
                Strategy::InPlace,
                format!("auto: in place because {reason}"),
            ),
        })
    }

    /// What a document-by-document run needs before its first batch: its side
    /// collections (pre-images, quarantine) created, the session of a dead
    /// earlier run ended, and its own session (recorded in `entry`).
    pub(super) async fn prepare_writes(
        &self,
        entry: &mut LedgerEntry,
        tx: TxMode,
        quarantine: bool,
    ) -> Result<Option<mongodb::ClientSession>> {
        // Create the side collections now: creating them implicitly inside a
        // batch's transaction is restricted on some servers.
        for coll in entry
            .pre_images
            .iter()
            .map(String::as_str)
            .chain(quarantine.then_some(crate::writer::QUARANTINE_COLLECTION))
        {
            match self.target.db().create_collection(coll).await {
                Ok(()) => {}
                Err(e) if matches!(&*e.kind, mongodb::error::ErrorKind::Command(c) if c.code == 48) =>
                    {}
                Err(e) => return Err(MigrateError::db(format!("cannot create {coll}"), e)),
            }
        }
        self.end_dead_session(entry).await;
        let session = self.session_for(tx).await?;
        if let Some(s) = &session {
            entry.session = Some(s.id().clone());
        }
        Ok(session)
    }

    /// The session a run's batches commit in: none without transactions.
    pub(super) async fn session_for(&self, tx: TxMode) -> Result<Option<mongodb::ClientSession>> {
        if tx == TxMode::None {
            return Ok(None);
        }
        self.target
            .client()
            .start_session()
            .await
            .map(Some)
            .map_err(|e| MigrateError::db("cannot start a session", e))
    }

    /// The transaction mode a run gets on this deployment.
    pub(super) fn tx_mode(&self, asked: Option<TxMode>) -> TxMode {
        if self.target.supports_transactions() {
            asked.unwrap_or_default()
        } else {
            TxMode::None
        }
    }

    /// Runs a Wasm migration: in place through the pipeline, or as a
    /// rewrite (the copy through the pipeline, then the catch-up and swap).
    pub(super) async fn run_wasm(
        &self,
        one: One<'_>,
        spec: &WasmSpec,
        prepared: Prepared,
        entry: &LedgerEntry,
    ) -> Result<(update::Counts, i64)> {
        let (m, direction) = (one.m, one.direction);
        super::outputs::prepare(&self.target, &m.id, &spec.outputs, prepared.tx).await?;
        let total = self.total(spec, entry.checkpoint.as_ref()).await?;
        self.started(m, direction, one.work, Some(total));
        let schema = crate::local::compile_schema(spec);
        let rewrite = if prepared.strategy == Strategy::Rewrite {
            let run = crate::rewrite::Run {
                target: &self.target,
                migration: &m.id,
                fence: one.lease.token(),
                progress: &self.progress,
                cutover: prepared.cutover,
            };
            let state = entry.rewrite.clone();
            Some(crate::rewrite::Rewrite::start(run, &spec.collection, prepared.keep, state).await?)
        } else {
            None
        };
        let copy_started = Instant::now();
        let mut cp = match &rewrite {
            Some(r) if !r.copying() => entry.checkpoint.clone().unwrap_or_default(),
            _ => {
                let job = self.wasm_job(one, spec, &prepared, entry, rewrite.as_ref());
                pipeline::run(pipeline::Job {
                    total: Some(total),
                    session: prepared.session,
                    schema: schema.clone(),
                    ..job
                })
                .await?
            }
        };
        if let Some(r) = rewrite {
            let mut again =
                crate::transform::WorkerSlot::new(prepared.module, &m.id, direction, schema);
            let mut follow = crate::rewrite::Follow {
                target: &self.target,
                migration: &m.id,
                fence: one.lease.token(),
                quarantine: self.on_error == OnError::Quarantine,
                retransform: &mut again,
                progress: &self.progress,
            };
            cp.changed += r.finish(&mut follow, copy_started.elapsed()).await?.changed;
        }
        Ok((
            update::Counts {
                matched: cp.read as u64,
                modified: (cp.replaced + cp.deleted) as u64,
            },
            cp.failed,
        ))
    }

    /// The pipeline's job for a Wasm run: in place, or the copy of a
    /// `rewrite` (a copy started over after the oplog dropped its start
    /// resumes from nothing). A rollback goes no further than what the
    /// forward run committed.
    fn wasm_job<'a>(
        &'a self,
        one: One<'a>,
        spec: &'a WasmSpec,
        prepared: &Prepared,
        entry: &LedgerEntry,
        rewrite: Option<&crate::rewrite::Rewrite>,
    ) -> pipeline::Job<'a> {
        let direction = one.direction;
        let undo_through = entry
            .undo_through
            .as_ref()
            .filter(|_| direction == Direction::Down);
        let filter = crate::batch::bounded(&spec.filter, undo_through);
        let destination = match rewrite {
            Some(r) => r.destination(),
            None => Destination::InPlace {
                form: prepared.form,
                reread: true,
            },
        };
        let cross =
            crate::writer::Cross::declared(&one.m.id, &spec.outputs, &spec.lookups, direction);
        let resume_from = match rewrite {
            Some(r) if r.restarted() => None,
            _ => entry.checkpoint.clone(),
        };
        pipeline::Job {
            target: &self.target,
            migration: &one.m.id,
            collection: &spec.collection,
            filter: filter.clone(),
            direction,
            module: prepared.module.clone(),
            options: PipelineOptions::new(spec.batch_size, spec.threads),
            total: None,
            progress: &self.progress,
            resume: resume_from,
            write: WriteOptions {
                tx: prepared.tx,
                fence: one.lease.token(),
                checkpoint: crate::ledger::CheckpointSlot::Entry,
                pre_images: entry.pre_images.clone(),
                quarantine: self.on_error == OnError::Quarantine,
                max_attempts: 30,
                destination,
                filter,
                cross: cross.clone(),
                limits: match direction {
                    Direction::Up => self.run_limits(one.m, &spec.collection),
                    Direction::Down => Default::default(),
                },
            },
            dry_run: None,
            limit: None,
            session: None,
            schema: None,
            lookups: cross.lookups(),
            controls: self.controls_with(&spec.throttle),
        }
    }
}
