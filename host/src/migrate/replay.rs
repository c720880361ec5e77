//! `mongoshift quarantine replay ID`: the documents a migration set aside,
//! run again through its files as they are now (fixed), with a batch's
//! guarantees: each document read as it is in the collection now, written
//! compare-and-set in the batch's transaction with its pre-image and its
//! quarantine entry cleared (or replaced, when it fails again).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bson::{doc, Bson, DateTime, Document};
use futures_util::TryStreamExt;
use serde::Serialize;

use crate::error::{MigrateError, Result};
use crate::ledger::{AcceptedChange, CheckpointSlot, LedgerEntry, State};
use crate::lock::Lease;
use crate::manifest::{Body, Lookup, Namespace};
use crate::options::UpdateForm;
use crate::pipeline::{self, PipelineOptions, Transformer};
use crate::progress::Direction;
use crate::python::PythonStep;
use crate::quarantine::{self, QuarantineEntry};
use crate::source::Migration;
use crate::writer::{Cross, Destination, WriteOptions};

use super::distributed::is_applied;
use super::migrator::Migrator;
use crate::local::compile_schema;

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    /// The migration.
    pub migration: String,
    /// Entries it had before.
    pub entries: u64,
    /// Transformed now, their entries cleared.
    pub fixed: u64,
    /// Failed again: their entries hold the new error.
    pub failing: u64,
    /// Deleted since they were set aside, or no longer matching the
    /// migration's filter: their entries cleared, nothing written.
    pub gone: u64,
    /// Changed by the application since they were set aside: transformed
    /// from what they are now.
    pub changed: u64,
    /// The checksum the migration was applied with, when its files changed
    /// since (the ledger now records the files on disk, and the change).
    pub files_changed_from: Option<String>,
}

/// What runs the documents again.
struct Replayable {
    collection: String,
    filter: Document,
    module: Transformer,
    options: PipelineOptions,
    form: UpdateForm,
    outputs: Vec<Namespace>,
    lookups: Vec<Lookup>,
    schema: Option<Arc<jsonschema::Validator>>,
}

impl Migrator {
    /// Runs the quarantined documents of migration `id` through its files
    /// again, under the lock; clears the entries of those that now succeed
    /// and marks the migration `applied` when none are left.
    pub async fn replay_quarantine(&self, id: &str) -> Result<ReplayReport> {
        let Some(m) = self.migrations.iter().find(|m| m.id == id) else {
            return Err(MigrateError::UnknownMigration {
                id: id.into(),
                path: self.dir.clone(),
            });
        };
        let lease = Lease::acquire(&self.target, &self.lock, &self.progress).await?;
        let res = self.replay_locked(&lease, m).await;
        let released = lease.release().await;
        let report = res?;
        released?;
        Ok(report)
    }

    async fn replay_locked(&self, lease: &Lease, m: &Migration) -> Result<ReplayReport> {
        let refuse = |reason: String| MigrateError::ReplayRefused {
            id: m.id.clone(),
            reason,
        };
        let Some(mut entry) = self.ledger.get(&m.id).await?.filter(is_applied) else {
            return Err(refuse(
                "it is not applied: only an applied migration's quarantined documents are \
                 replayed; run `mongoshift up` first"
                    .into(),
            ));
        };
        let set_aside = quarantine::entries(&self.target, Some(&m.id), None).await?;
        let mut report = ReplayReport {
            migration: m.id.clone(),
            entries: set_aside.len() as u64,
            ..ReplayReport::default()
        };
        if !set_aside.is_empty() {
            // The entry carries this run's token: each batch proves the lock
            // is still held against it.
            self.ledger.write(&entry, lease).await?;
            let r = self.replayable(m).await.map_err(|e| match e {
                MigrateError::Python { message, .. } => refuse(message),
                e => e,
            })?;
            self.replay_entries(lease, m, &entry, &r, &set_aside, &mut report)
                .await?;
        }
        let left = quarantine::count(&self.target, &m.id).await?;
        report.failing = left;
        report.fixed = report.entries - report.gone - left;
        entry.quarantined = left as i64;
        entry.state = if left == 0 {
            State::Applied
        } else {
            State::AppliedWithErrors
        };
        if entry.checksum != m.checksum && report.entries > 0 {
            report.files_changed_from = Some(entry.checksum.clone());
            entry.accepted_changes.push(AcceptedChange {
                direction: Direction::Up,
                from: entry.checksum.clone(),
                to: m.checksum.clone(),
                last_id: None,
                done: entry.matched,
                at: DateTime::now(),
            });
            entry.checksum = m.checksum.clone();
        }
        self.ledger.write(&entry, lease).await?;
        Ok(report)
    }

    /// The documents still there run through the pipeline; the entries of
    /// those gone are cleared.
    async fn replay_entries(
        &self,
        lease: &Lease,
        m: &Migration,
        entry: &LedgerEntry,
        r: &Replayable,
        set_aside: &[QuarantineEntry],
        report: &mut ReplayReport,
    ) -> Result<()> {
        let ids: Vec<Bson> = set_aside.iter().map(QuarantineEntry::id).collect();
        let filter = doc! { "$and": [ r.filter.clone(), { "_id": { "$in": ids.clone() } } ] };
        let now: Vec<Document> = self
            .target
            .db()
            .collection::<Document>(&r.collection)
            .find(filter.clone())
            .await
            .map_err(|e| MigrateError::db(format!("cannot read {}", r.collection), e))?
            .try_collect()
            .await
            .map_err(|e| MigrateError::db(format!("cannot read {}", r.collection), e))?;
        let present: HashSet<Vec<u8>> = now.iter().map(|d| id_key(d.get("_id"))).collect();
        let gone: Vec<Bson> = ids
            .iter()
            .filter(|id| !present.contains(&id_key(Some(id))))
            .cloned()
            .collect();
        report.gone = quarantine::forget(&self.target, &m.id, &gone).await?;
        let by_id: HashMap<Vec<u8>, &Document> =
            now.iter().map(|d| (id_key(d.get("_id")), d)).collect();
        report.changed = set_aside
            .iter()
            .filter(|q| {
                by_id
                    .get(&id_key(q.original.get("_id")))
                    .is_some_and(|d| **d != q.original)
            })
            .count() as u64;
        if now.is_empty() {
            return Ok(());
        }
        let tx = self.tx_mode(None);
        let session = self.session_for(tx).await?;
        let cross = Cross::declared(&m.id, &r.outputs, &r.lookups, Direction::Up);
        pipeline::run(pipeline::Job {
            target: &self.target,
            migration: &m.id,
            collection: &r.collection,
            filter,
            direction: Direction::Up,
            module: r.module.clone(),
            options: r.options,
            total: Some(now.len() as u64),
            progress: &self.progress,
            resume: None,
            write: WriteOptions {
                tx,
                fence: lease.token(),
                checkpoint: CheckpointSlot::Replay,
                pre_images: entry.pre_images.clone(),
                quarantine: true,
                max_attempts: 30,
                destination: Destination::InPlace {
                    form: r.form,
                    reread: true,
                },
                filter: r.filter.clone(),
                cross: cross.clone(),
                limits: Default::default(),
            },
            dry_run: None,
            limit: None,
            session,
            schema: r.schema.clone(),
            lookups: cross.lookups(),
            controls: crate::throttle::Controls::default(),
        })
        .await?;
        Ok(())
    }

    /// What runs `m` forward now: its module, or its Python file's
    /// document-by-document step.
    async fn replayable(&self, m: &Migration) -> Result<Replayable> {
        match &m.manifest.body {
            Body::Wasm(spec) => Ok(Replayable {
                collection: spec.collection.clone(),
                filter: spec.filter.clone(),
                module: Transformer::Wasm(self.load_module(m, spec)?),
                options: PipelineOptions::new(spec.batch_size, spec.threads),
                form: spec.in_place_writes.unwrap_or_default(),
                outputs: spec.outputs.clone(),
                lookups: spec.lookups.clone(),
                schema: compile_schema(spec),
            }),
            Body::Python(_) => {
                let plan = self.load_python(m, Direction::Up).await?;
                let step = plan.steps.iter().find_map(|s| match s {
                    PythonStep::Iterative {
                        collection,
                        filter,
                        batch_size,
                        threads,
                        transform,
                        outputs,
                        lookups,
                        ..
                    } => Some(Replayable {
                        collection: collection.clone(),
                        filter: filter.clone(),
                        module: Transformer::Custom(transform.clone()),
                        options: PipelineOptions::new(*batch_size, *threads),
                        form: UpdateForm::default(),
                        outputs: outputs.clone(),
                        lookups: lookups.clone(),
                        schema: None,
                    }),
                    PythonStep::Bulk { .. } => None,
                });
                step.ok_or_else(|| MigrateError::Python {
                    migration: m.id.clone(),
                    message: "its file has no document-by-document step to run them through".into(),
                })
            }
            Body::Update(_) => Err(MigrateError::Python {
                migration: m.id.clone(),
                message: "a server-side update has no transform to run them through".into(),
            }),
        }
    }
}

/// An `_id` as bytes that compare equal when the values do (whatever the
/// value's type).
fn id_key(id: Option<&Bson>) -> Vec<u8> {
    let mut d = Document::new();
    d.insert("_id", id.cloned().unwrap_or(Bson::Null));
    bson::to_vec(&d).unwrap_or_default()
}
