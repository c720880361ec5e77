//! `up --dry-run`: what each migration would do, from a sample, writing
//! nothing.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::batch::{show_id_of, Outcome, Output};
use crate::error::Result;
use crate::ledger::LedgerEntry;
use crate::local::compile_schema;
use crate::manifest::Body;
use crate::options::{TxMode, UpdateForm};
use crate::pipeline::{self, PipelineOptions, Transformer};
use crate::progress::Direction;
use crate::report::Report;
use crate::source::Migration;
use crate::update;
use crate::writer::{Destination, WriteOptions};

use super::migrator::{run_error, Migrator};
use super::options::UpOptions;
use super::pending::pending;

/// What `up --dry-run` found.
#[derive(Debug, Clone, Serialize)]
pub struct DryRunReport {
    /// One entry per pending migration.
    pub migrations: Vec<DryRunMigration>,
}

/// The dry run of one migration.
#[derive(Debug, Clone, Serialize)]
pub struct DryRunMigration {
    /// The migration.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// Documents it would read in a real run.
    pub total: u64,
    /// Documents transformed in this dry run.
    pub sampled: u64,
    /// Of those: kept.
    pub kept: u64,
    /// Replaced.
    pub replaced: u64,
    /// Deleted.
    pub deleted: u64,
    /// Failed.
    pub failed: u64,
    /// A few before/after examples.
    pub diffs: Vec<DryRunDiff>,
    /// Writes to other collections the sample would make, by collection.
    pub outputs: std::collections::BTreeMap<String, u64>,
    /// The first few of them for each collection.
    pub output_examples: Vec<DryRunOutput>,
    /// Read-and-transform rate measured.
    pub docs_per_sec: Option<f64>,
    /// `total` at that rate.
    pub estimated_seconds: Option<f64>,
    /// Anything to know.
    pub note: Option<String>,
}

impl DryRunMigration {
    /// The entry of a migration the dry run does not sample (server-side
    /// steps, Python): only a total and a note.
    pub(super) fn unsampled(m: &Migration, total: u64, note: String) -> Self {
        DryRunMigration {
            id: m.id.clone(),
            kind: m.manifest.kind.to_string(),
            total,
            sampled: 0,
            kept: 0,
            replaced: 0,
            deleted: 0,
            failed: 0,
            diffs: Vec::new(),
            outputs: Default::default(),
            output_examples: Vec::new(),
            docs_per_sec: None,
            estimated_seconds: None,
            note: Some(note),
        }
    }
}

/// What [`Migrator::sample`] runs.
pub(super) struct Sampled<'a> {
    pub collection: &'a str,
    pub filter: &'a bson::Document,
    pub module: Transformer,
    pub options: PipelineOptions,
    pub schema: Option<Arc<jsonschema::Validator>>,
    /// Documents the migration would touch.
    pub total: u64,
    /// Its lookups, resolved as in a real run.
    pub lookups: Option<crate::lookup::Lookups>,
}

/// One example of an output a dry run saw.
#[derive(Debug, Clone, Serialize)]
pub struct DryRunOutput {
    /// Where it would be written.
    pub collection: String,
    /// `insert`, `upsert` or `delete`.
    pub op: String,
    /// The input document's `_id`.
    pub from: String,
    /// The document written (relaxed Extended JSON).
    pub document: serde_json::Value,
}

/// One example of a dry run.
#[derive(Debug, Clone, Serialize)]
pub struct DryRunDiff {
    /// The document's `_id`.
    pub id: String,
    /// `replace`, `delete` or `fail`.
    pub outcome: String,
    /// The document now (relaxed Extended JSON).
    pub before: serde_json::Value,
    /// What it would become.
    pub after: Option<serde_json::Value>,
    /// Why it fails.
    pub error: Option<String>,
}

impl Migrator {
    /// Runs the transforms of pending migrations without writing anything, on
    /// the first `sample` documents of each (or all), and reports what would
    /// change. Each migration sees the data as it is now (earlier pending
    /// migrations are not applied first).
    pub async fn dry_run(&self, opts: &UpOptions, sample: Option<u64>) -> Result<DryRunReport> {
        let entries = self.ledger.entries().await?;
        let todo = pending(&self.migrations, &self.dir, &entries, opts)?;
        self.check_policy(&todo, opts).await?;
        let mut report = DryRunReport {
            migrations: Vec::new(),
        };
        for m in todo {
            let one = self
                .dry_run_one(m, opts, sample)
                .await
                .map_err(|e| run_error(&m.id, "sampling", e, Report::default()))?;
            report.migrations.push(one);
        }
        Ok(report)
    }

    pub(super) async fn dry_run_one(
        &self,
        m: &Migration,
        opts: &UpOptions,
        sample: Option<u64>,
    ) -> Result<DryRunMigration> {
        Ok(match &m.manifest.body {
            Body::Update(b) => {
                let counts = update::count_steps(&self.target, &b.forward).await?;
                DryRunMigration::unsampled(
                    m,
                    counts.iter().flatten().copied().max().unwrap_or(0),
                    format!(
                        "server-side steps; documents matching now: {}",
                        b.forward
                            .iter()
                            .zip(&counts)
                            .map(|(s, n)| format!(
                                "{} ({})",
                                s.describe(),
                                n.map_or("-".into(), |n| n.to_string())
                            ))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                )
            }
            Body::Python(_) => self.dry_run_python(m, sample).await?,
            Body::Wasm(spec) => {
                let mut entry = LedgerEntry::new(&m.id, "", "wasm", &m.checksum);
                let prepared = self
                    .prepare_wasm(m, spec, Direction::Up, opts, &mut entry)
                    .await?;
                let total = self.count(spec).await?;
                self.sample(
                    m,
                    Sampled {
                        collection: &spec.collection,
                        filter: &spec.filter,
                        module: prepared.module,
                        options: PipelineOptions::new(spec.batch_size, spec.threads),
                        schema: compile_schema(spec),
                        total,
                        lookups: crate::lookup::Lookups::for_run(
                            &m.id,
                            &spec.lookups,
                            Direction::Up,
                        ),
                    },
                    sample,
                )
                .await?
            }
        })
    }

    /// Runs a migration's transform over the first `sample` documents (or
    /// all) without writing, and reports what would change.
    pub(super) async fn sample(
        &self,
        m: &Migration,
        what: Sampled<'_>,
        sample: Option<u64>,
    ) -> Result<DryRunMigration> {
        let Sampled {
            collection,
            filter,
            module,
            options,
            schema,
            total,
            lookups,
        } = what;
        // The first three examples of each outcome (a failure after many
        // replacements is what the dry run is for).
        let mut diffs: Vec<DryRunDiff> = Vec::new();
        let mut outs: Vec<DryRunOutput> = Vec::new();
        let mut collect = |before: &bson::RawDocument, o: &Outcome, outputs: &[Output]| {
            for out in outputs {
                if outs
                    .iter()
                    .filter(|e| e.collection == out.collection)
                    .count()
                    < 3
                {
                    outs.push(output_example(before, out));
                }
            }
            let Some(kind) = shown_as(o) else {
                return;
            };
            if diffs.iter().filter(|d| d.outcome == kind).count() < 3 {
                diffs.push(example(before, o, kind));
            }
        };
        let started = Instant::now();
        let cp = pipeline::run(pipeline::Job {
            target: &self.target,
            migration: &m.id,
            collection,
            filter: filter.clone(),
            direction: Direction::Up,
            module,
            options,
            total: Some(sample.map_or(total, |s| s.min(total))),
            progress: &self.progress,
            resume: None,
            write: WriteOptions {
                tx: TxMode::None,
                fence: 0,
                checkpoint: crate::ledger::CheckpointSlot::Entry,
                pre_images: None,
                quarantine: true,
                max_attempts: 1,
                destination: Destination::InPlace {
                    form: UpdateForm::Set,
                    reread: false,
                },
                filter: filter.clone(),
                cross: Default::default(),
                limits: Default::default(),
            },
            dry_run: Some(&mut collect),
            limit: sample,
            session: None,
            lookups,
            schema,
            controls: crate::throttle::Controls::default(),
        })
        .await?;
        let secs = started.elapsed().as_secs_f64().max(1e-6);
        let rate = cp.read as f64 / secs;
        Ok(DryRunMigration {
            id: m.id.clone(),
            kind: m.manifest.kind.to_string(),
            total,
            sampled: cp.read as u64,
            kept: cp.kept as u64,
            replaced: cp.replaced as u64,
            deleted: cp.deleted as u64,
            failed: cp.failed as u64,
            diffs,
            outputs: cp.outputs.iter().map(|(c, n)| (c.clone(), *n as u64)).collect(),
            output_examples: outs,
            docs_per_sec: Some(rate),
            estimated_seconds: (rate > 0.0).then(|| total as f64 / rate),
            note: Some(
                "the estimate counts reading and transforming; writing usually dominates a real run"
                    .into(),
            ),
        })
    }
}

/// One output as a dry run shows it.
fn output_example(from: &bson::RawDocument, o: &Output) -> DryRunOutput {
    let document = bson::RawDocument::from_bytes(&o.document)
        .ok()
        .and_then(|d| bson::Document::try_from(d).ok())
        .map_or(serde_json::Value::Null, |d| {
            bson::Bson::Document(d).into_relaxed_extjson()
        });
    DryRunOutput {
        collection: o.collection.clone(),
        op: o.op.as_str().to_string(),
        from: show_id_of(from),
        document,
    }
}

/// How a dry run names an outcome it shows (a keep is not shown).
fn shown_as(o: &Outcome) -> Option<&'static str> {
    match o {
        Outcome::Keep => None,
        Outcome::Replace(_) => Some("replace"),
        Outcome::Delete => Some("delete"),
        Outcome::Fail(_) => Some("fail"),
    }
}

/// One example of what the transform decided: the document before (and
/// after, for a replacement), as relaxed Extended JSON.
fn example(before: &bson::RawDocument, o: &Outcome, kind: &str) -> DryRunDiff {
    let json = |r: &bson::RawDocument| {
        bson::Document::try_from(r)
            .map(|d| bson::Bson::Document(d).into_relaxed_extjson())
            .unwrap_or_default()
    };
    DryRunDiff {
        id: show_id_of(before),
        outcome: kind.into(),
        before: json(before),
        after: match o {
            Outcome::Replace(b) => bson::RawDocument::from_bytes(b).ok().map(json),
            _ => None,
        },
        error: match o {
            Outcome::Fail(e) => Some(e.clone()),
            _ => None,
        },
    }
}
