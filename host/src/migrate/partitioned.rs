//! One migration shared by the workers of a distributed run: its partitions
//! recorded once (under the lock, briefly), then claimed, run and completed
//! one at a time until the migration is applied.

use bson::DateTime;

use crate::error::{MigrateError, Result};
use crate::ledger::{CheckpointSlot, LedgerEntry, Phase, RewriteState, State};
use crate::lock::Lease;
use crate::manifest::WasmSpec;
use crate::options::{OnError, TxMode};
use crate::partition::{self, AfterLast, Claim, DistributedOptions, Partition, RecordedBy};
use crate::pipeline::{self, PipelineOptions, Transformer};
use crate::progress::{Direction, Event};
use crate::report::Completed;
use crate::source::Migration;
use crate::writer::{Cross, Destination, WriteOptions};

use super::distributed::{completed, is_applied, taken_back, Shared, POLL};
use super::migrator::Migrator;
use super::options::UpOptions;
use super::settings::{choose_pre_images, Asked};
use crate::local::compile_schema;

/// What every claim of one migration runs with.
struct Worker<'a> {
    m: &'a Migration,
    spec: &'a WasmSpec,
    module: Transformer,
    form: crate::options::UpdateForm,
    pre_images: Option<String>,
    /// The rewrite whose copy the partitions share.
    rewrite: Option<RewriteState>,
}

impl Worker<'_> {
    /// Where a claim's batches write: in place, or into the shadow (and
    /// the originals into the backup) of a shared rewrite's copy.
    fn destination(&self) -> Destination {
        match &self.rewrite {
            Some(r) => Destination::Shadow {
                shadow: r.shadow.clone(),
                backup: r.keep.then(|| r.backup.clone()),
            },
            None => Destination::InPlace {
                form: self.form,
                reread: true,
            },
        }
    }

    /// A copy needs no transactions (a document inserted again is ignored
    /// as a duplicate; one changed since is redone by the catch-up), and
    /// what follows its last partition is the catch-up, not the end.
    fn tx_and_last(&self) -> (TxMode, AfterLast) {
        match self.rewrite {
            Some(_) => (TxMode::None, AfterLast::CatchUp),
            None => (TxMode::Batch, AfterLast::Apply),
        }
    }
}

impl Migrator {
    /// Runs this worker's share of `m` and returns once it is applied (by
    /// whichever worker completed its last partition).
    pub(super) async fn run_partitioned(
        &self,
        m: &Migration,
        shared: Shared<'_>,
        opts: &UpOptions,
        dist: &DistributedOptions,
    ) -> Result<Completed> {
        let spec = shared.spec;
        let mut parts = partition::load(&self.target, &m.id).await?;
        let entry = self.ledger.get(&m.id).await?;
        if parts.is_empty() || entry.as_ref().is_none_or(|e| e.state != State::Running) {
            self.record_partitions(m, shared, opts, dist).await?;
            parts = partition::load(&self.target, &m.id).await?;
        }
        check_join(m, &parts, dist)?;
        self.check_same_collection(m, spec, &parts).await?;
        let Some(entry) = self.ledger.get(&m.id).await? else {
            return Err(MigrateError::NotDistributable {
                id: m.id.clone(),
                reason: "its partitions are recorded but its ledger entry is gone; \
                         drop its documents from mongoshift_partitions and run again"
                    .into(),
            });
        };
        let worker = Worker {
            m,
            spec,
            module: Transformer::Wasm(self.load_module(m, spec)?),
            form: opts
                .in_place_writes
                .or(spec.in_place_writes)
                .unwrap_or_default(),
            pre_images: entry.pre_images.clone(),
            rewrite: entry.rewrite.clone(),
        };
        self.started(m, Direction::Up, &super::work::Work::forward(m), None);
        let only = dist.pinned.map(|p| p.index);
        loop {
            let entry = self.ledger.get(&m.id).await?;
            match entry.as_ref() {
                Some(e) if is_applied(e) => return Ok(completed(e)),
                Some(e) if e.state == State::Failed => {
                    return Err(MigrateError::NotDistributable {
                        id: m.id.clone(),
                        reason: format!(
                            "another worker failed: {}; fix the cause and run \
                             `mongoshift up --distributed` again (it goes on from every \
                             partition's checkpoint)",
                            e.error.as_deref().unwrap_or("no error recorded")
                        ),
                    })
                }
                // Rolled back (or removed) by another run meanwhile: it
                // took every partition back first.
                Some(e) if e.state != State::Running || e.direction != Some(Direction::Up) => {
                    return Err(taken_back(m, Some(e)))
                }
                None => return Err(taken_back(m, None)),
                // Every partition is copied: the catch-up and the swap, on
                // whichever worker takes the lock first.
                Some(e) if e.rewrite.as_ref().is_some_and(|r| r.phase != Phase::Copy) => {
                    return self.run_alone(m, opts, true).await
                }
                _ => {}
            }
            let ttl = self.lock.ttl;
            match partition::claim(&self.target, &m.id, &dist.worker, ttl, only).await? {
                Some(claim) => {
                    self.partitions_event(&m.id).await;
                    let res = match self.run_claim(&worker, &claim).await {
                        Ok(()) => partition::complete(&self.target, &claim, worker.tx_and_last().1)
                            .await
                            .map(drop),
                        Err(e) => Err(e),
                    };
                    match res {
                        Ok(()) => self.partitions_event(&m.id).await,
                        // Too slow to renew (a stalled host): another worker
                        // has it and nothing of ours was committed after
                        // that. Claim something else.
                        Err(e @ MigrateError::PartitionLost { .. }) => {
                            self.progress.event(&Event::Warning {
                                id: m.id.clone(),
                                message: e.to_string(),
                            });
                        }
                        Err(e) => {
                            let message = format!("on worker {}: {e}", dist.worker);
                            partition::hand_back(&self.target, claim, &message).await?;
                            return Err(e);
                        }
                    }
                }
                None => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// Tells how far the partitions of `migration` are, over every worker
    /// (nothing when they cannot be read: it is only progress).
    async fn partitions_event(&self, migration: &str) {
        let Ok(parts) = partition::load(&self.target, migration).await else {
            return;
        };
        if let Some(c) = partition::counts(&parts).into_iter().next() {
            self.progress.event(&Event::Partitions {
                id: c.migration,
                done: c.done,
                running: c.running,
                pending: c.pending,
                documents: c.documents,
                rate: c.rate,
                eta_seconds: c.eta_seconds,
            });
        }
    }

    /// Refuses partitions recorded for a collection since dropped and
    /// re-created (told by its UUID, where the server has one).
    async fn check_same_collection(
        &self,
        m: &Migration,
        spec: &WasmSpec,
        parts: &[Partition],
    ) -> Result<()> {
        let Some(recorded) = parts.first().and_then(|p| p.collection_uuid.as_ref()) else {
            return Ok(());
        };
        let now = partition::collection_uuid(&self.target, &spec.collection).await?;
        if now.as_ref().is_some_and(|now| now != recorded) {
            return Err(MigrateError::SplitOutdated {
                id: m.id.clone(),
                collection: spec.collection.clone(),
            });
        }
        Ok(())
    }

    /// Records the partitions of `m` under the lock, unless a worker that
    /// held it first did; sets the ledger entry running (again, after a
    /// failure).
    async fn record_partitions(
        &self,
        m: &Migration,
        shared: Shared<'_>,
        opts: &UpOptions,
        dist: &DistributedOptions,
    ) -> Result<()> {
        let lease = Lease::acquire(&self.target, &self.lock, &self.progress).await?;
        let res = self.record_locked(&lease, m, shared, opts, dist).await;
        let released = lease.release().await;
        res?;
        released
    }

    async fn record_locked(
        &self,
        lease: &Lease,
        m: &Migration,
        shared: Shared<'_>,
        opts: &UpOptions,
        dist: &DistributedOptions,
    ) -> Result<()> {
        let spec = shared.spec;
        let previous = self.ledger.get(&m.id).await?;
        let mut parts = partition::load(&self.target, &m.id).await?;
        // Partitions of a run since rolled back (or whose entry is gone)
        // say nothing of this one: split afresh. A failed run's are kept,
        // to go on from their checkpoints.
        let resumable = previous
            .as_ref()
            .is_some_and(|e| matches!(e.state, State::Running | State::Failed));
        if !parts.is_empty() && !resumable && !previous.as_ref().is_some_and(is_applied) {
            partition::forget(&self.target, &m.id).await?;
            parts.clear();
        }
        let running = previous.as_ref().is_some_and(|e| e.state == State::Running);
        if previous.as_ref().is_some_and(is_applied) || (running && !parts.is_empty()) {
            return Ok(());
        }
        if parts.is_empty() {
            if let Some(p) = previous.as_ref().filter(|p| p.checkpoint.is_some()) {
                if matches!(p.state, State::Running | State::Failed) {
                    return Err(MigrateError::NotDistributable {
                        id: m.id.clone(),
                        reason: "a run without --distributed stopped part-way through it; \
                                 finish it with `mongoshift up`"
                            .into(),
                    });
                }
            }
        }
        let mut entry = LedgerEntry::new(
            &m.id,
            &m.manifest.description,
            m.manifest.kind.as_str(),
            &m.checksum,
        );
        entry.started_at = Some(DateTime::now());
        entry.signer = self.signer_of(&m.id);
        entry.direction = Some(Direction::Up);
        entry.collection = Some(spec.collection.clone());
        entry.pre_images = previous.as_ref().and_then(|p| p.pre_images.clone());
        let module = self.load_module(m, spec)?;
        let asked = Asked {
            transactions: Some(TxMode::Batch),
            pre_images: opts.pre_images.or(spec.pre_images),
            form: opts.in_place_writes.or(spec.in_place_writes),
        };
        let settings = self.settings(asked, module.info().backward, true);
        // A rewrite keeps the originals in its backup, not as pre-images; a
        // copy already started goes on as it was.
        let recorded = previous
            .as_ref()
            .filter(|p| resumable || p.state == State::Running)
            .and_then(|p| p.rewrite.clone());
        if !shared.rewrite && recorded.is_none() {
            choose_pre_images(&mut entry, m, Direction::Up, settings.keep_originals);
        } else {
            // Refused here, before anything is written, where a rewrite
            // cannot run (a filter, a capped collection...).
            self.strategy_for(spec, Some(crate::options::Strategy::Rewrite))
                .await?;
            entry.pre_images = None;
        }
        // Side collections first: creating them inside a batch's
        // transaction is restricted on some servers.
        self.prepare_writes(&mut entry, TxMode::None, settings.quarantine)
            .await?;
        if parts.is_empty() {
            let exactly = dist.pinned.map(|p| p.of);
            let ranges = partition::split(
                &self.target,
                &spec.collection,
                &spec.filter,
                dist.partition_docs,
                exactly,
            )
            .await?;
            let by = RecordedBy {
                migration: &m.id,
                checksum: &m.checksum,
                collection_uuid: partition::collection_uuid(&self.target, &spec.collection).await?,
            };
            // The entry first (and the rewrite's copies): a worker that finds
            // partitions finds them too.
            self.ledger.write(&entry, lease).await?;
            if shared.rewrite || recorded.is_some() {
                self.start_shared_rewrite(lease, m, spec, settings.keep_originals, recorded)
                    .await?;
            }
            partition::record(&self.target, &by, ranges).await?;
        } else {
            self.ledger.write(&entry, lease).await?;
        }
        Ok(())
    }

    /// Before a rewrite's copy is shared: where the change stream stands is
    /// recorded, and the shadow (and backup) created with the source's
    /// options and indexes. The stream is not followed during the copy:
    /// whoever finishes reads it from the recorded position.
    async fn start_shared_rewrite(
        &self,
        lease: &Lease,
        m: &Migration,
        spec: &WasmSpec,
        keep: bool,
        recorded: Option<RewriteState>,
    ) -> Result<()> {
        let run = crate::rewrite::Run {
            target: &self.target,
            migration: &m.id,
            fence: lease.token(),
            progress: &self.progress,
            // `up --postpone-swap` is not for distributed runs.
            cutover: crate::options::Cutover::default(),
        };
        crate::rewrite::Rewrite::start(run, &spec.collection, keep, recorded)
            .await?
            .leave()
            .await;
        Ok(())
    }

    /// Runs the pipeline over one claimed partition, from its checkpoint;
    /// each batch moves the partition's checkpoint, fenced by the claim.
    async fn run_claim(&self, w: &Worker<'_>, claim: &Claim) -> Result<()> {
        let p = &claim.partition;
        let filter = p.range().filter(&w.spec.filter);
        let cross = Cross::declared(&w.m.id, &w.spec.outputs, &w.spec.lookups, Direction::Up);
        let (tx, _) = w.tx_and_last();
        let session = self.session_for(tx).await?;
        let job = pipeline::Job {
            target: &self.target,
            migration: &w.m.id,
            collection: &w.spec.collection,
            filter: filter.clone(),
            direction: Direction::Up,
            module: w.module.clone(),
            options: PipelineOptions::new(w.spec.batch_size, w.spec.threads),
            total: None,
            progress: &self.progress,
            resume: p.checkpoint.clone(),
            write: WriteOptions {
                tx,
                fence: p.token,
                checkpoint: CheckpointSlot::Partition(p.id.clone()),
                pre_images: w.pre_images.clone(),
                quarantine: self.on_error == OnError::Quarantine,
                max_attempts: 30,
                destination: w.destination(),
                filter,
                cross: cross.clone(),
                // Each partition's run counts on its own.
                limits: self.run_limits(w.m, &w.spec.collection),
            },
            dry_run: None,
            limit: None,
            session,
            schema: compile_schema(w.spec),
            lookups: cross.lookups(),
            controls: self.controls_with(&w.spec.throttle),
        };
        pipeline::run(job).await?;
        Ok(())
    }
}

/// Refuses to join partitions recorded by another mongoshift or other
/// files, or a fixed share that does not fit them.
fn check_join(m: &Migration, parts: &[Partition], dist: &DistributedOptions) -> Result<()> {
    let Some(first) = parts.first() else {
        return Ok(());
    };
    let ours = env!("CARGO_PKG_VERSION");
    let mismatch = |what: &str, recorded: &str, ours: &str| MigrateError::DistributedMismatch {
        id: m.id.clone(),
        what: what.into(),
        recorded: recorded.into(),
        ours: ours.into(),
    };
    if first.tool_version != ours {
        return Err(mismatch("mongoshift version", &first.tool_version, ours));
    }
    if first.checksum != m.checksum {
        return Err(mismatch("migration checksum", &first.checksum, &m.checksum));
    }
    if let Some(p) = dist.pinned {
        if p.of as usize != parts.len() {
            return Err(MigrateError::PartitionChoice {
                id: m.id.clone(),
                index: p.index,
                of: p.of,
                reason: format!(
                    "its split is recorded as {} partitions; run every worker with --of {}",
                    parts.len(),
                    parts.len()
                ),
            });
        }
    }
    Ok(())
}
