//! One document-by-document run: the job and the loop that ties the reader,
//! the workers, in-order reassembly and the sink together.

use std::sync::Arc;

use bson::{Document, RawDocumentBuf};
use tokio::sync::{mpsc, Semaphore};

use super::batch_size::BatchSize;
use super::dry_run::DryRunSink;
use super::in_order::{Finished, InOrder};
use super::options::PipelineOptions;
use super::reader::{resume_filter, Reader};
use super::sink::Sink;
use super::workers::{self, Done};
use crate::batch::{Batch, Transformed};
use crate::error::{MigrateError, Result};
use crate::ledger::Checkpoint;
use crate::progress::{Direction, Event, Progress};
use crate::target::Target;
use crate::throttle::{smooth_batch, Controls, Gate, GateRun};
use crate::transform::{Transformer, WorkerSlot};
use crate::writer::{BatchWriter, WriteOptions, WriterContext};

/// The document-by-document work of one migration.
pub(crate) struct Job<'a> {
    pub(crate) target: &'a Target,
    pub(crate) migration: &'a str,
    pub(crate) collection: &'a str,
    pub(crate) filter: Document,
    pub(crate) direction: Direction,
    pub(crate) module: Transformer,
    pub(crate) options: PipelineOptions,
    pub(crate) total: Option<u64>,
    pub(crate) progress: &'a Progress,
    /// Where an earlier run stopped: resume after `last_id`, counters carried on.
    pub(crate) resume: Option<Checkpoint>,
    /// How batches are committed.
    pub(crate) write: WriteOptions,
    /// Transform only; write nothing (dry run): outcomes go to this callback.
    pub(crate) dry_run: Option<&'a mut DryRunSink<'a>>,
    /// Stop after this many documents (dry-run samples).
    pub(crate) limit: Option<u64>,
    /// The session to write in (its id is in the ledger).
    pub(crate) session: Option<mongodb::ClientSession>,
    /// Every replacement must satisfy this schema.
    pub(crate) schema: Option<Arc<jsonschema::Validator>>,
    /// The migration's lookups, resolved for each batch (contract version 2).
    pub(crate) lookups: Option<crate::lookup::Lookups>,
    /// The throttle and the pause switches obeyed before each commit
    /// (none in a dry run: it writes nothing).
    pub(crate) controls: Controls,
}

impl Job<'_> {
    /// A worker slot for this job's transform.
    fn slot(&self) -> WorkerSlot {
        WorkerSlot::new(
            self.module.clone(),
            self.migration,
            self.direction,
            self.schema.clone(),
        )
    }
}

/// Runs the job to the end or to the first error. Batches before the failed one
/// are written; nothing of the failed batch is.
pub(crate) async fn run(mut job: Job<'_>) -> Result<Checkpoint> {
    let opts = job.options;
    // A paced run commits small batches, so that its rate is smooth.
    let size = BatchSize::new(smooth_batch(
        opts.batch_size,
        job.controls.throttle.max_rate,
    ));
    let permits = Arc::new(Semaphore::new(opts.max_in_flight));
    let (batch_tx, batch_rx) = crossbeam_channel::bounded::<Batch>(opts.max_in_flight);
    let (result_tx, result_rx) = mpsc::unbounded_channel::<Finished<Done>>();
    let write = job.dry_run.is_none().then_some(&job.write);
    let _pool = workers::start(opts.threads, &batch_rx, &result_tx, || job.slot(), write)?;
    drop(batch_rx);
    drop(result_tx);
    let reader = Reader {
        collection: job.target.db().collection::<RawDocumentBuf>(job.collection),
        filter: resume_filter(
            &job.filter,
            job.resume.as_ref().and_then(|c| c.last_id.clone()),
        ),
        limit: job.limit,
        size: size.clone(),
        permits: permits.clone(),
        batches: batch_tx,
        lookups: job.lookups.clone().map(|l| (job.target.clone(), l)),
    }
    .spawn();
    let mut sink = sink(&mut job).await?;
    let mut gate = match &sink {
        Sink::Write(_) => Gate::new(
            GateRun {
                target: job.target.clone(),
                migration: job.migration.to_string(),
                progress: job.progress.clone(),
                total: job.total,
            },
            job.controls,
        ),
        Sink::DryRun { .. } => None,
    };
    let outcome = drain(&job, result_rx, &mut sink, &size, gate.as_mut()).await;
    permits.close();
    let read = reader.await.map_err(|e| MigrateError::Task {
        task: "the reader task".into(),
        message: e.to_string(),
    })?;
    let cp = sink.finish(outcome).await?;
    read?;
    Ok(cp)
}

/// The writer, or a dry run's counter.
async fn sink<'a>(job: &mut Job<'a>) -> Result<Sink<'a>> {
    let resume = job.resume.clone().unwrap_or_default();
    if let Some(f) = job.dry_run.take() {
        return Ok(Sink::DryRun {
            counted: Box::new(resume),
            sink: f,
        });
    }
    let context = WriterContext {
        target: job.target,
        collection: job.collection.to_string(),
        migration: job.migration.to_string(),
        options: job.write.clone(),
    };
    let writer = BatchWriter::start(context, resume, job.session.take(), Box::new(job.slot()));
    Ok(Sink::Write(Box::new(writer.await?)))
}

/// Takes the workers' results until they are all in, handing each batch to
/// the sink in read order and reporting progress after each.
async fn drain(
    job: &Job<'_>,
    mut results: mpsc::UnboundedReceiver<Finished<Done>>,
    sink: &mut Sink<'_>,
    size: &BatchSize,
    mut gate: Option<&mut Gate>,
) -> Result<()> {
    let mut in_order = InOrder::default();
    while let Some(finished) = results.recv().await {
        in_order.insert(finished);
        while let Some(done) = in_order.pop_next() {
            let done = done?;
            report_logs(job, &done.t);
            let cp = sink.take(done, size, gate.as_deref_mut()).await?;
            job.progress.event(&Event::Documents {
                id: job.migration.to_string(),
                done: cp.read as u64,
                total: job.total,
                replaced: cp.replaced as u64,
                deleted: cp.deleted as u64,
                failed: cp.failed as u64,
                paused_ms: gate.as_ref().map_or(0, |g| g.paused().as_millis() as u64),
                batches: cp.batches as u64,
                retries: sink.retries(),
            });
        }
    }
    in_order.into_error()
}

/// Emits what the transform logged during a batch, line by line.
fn report_logs(job: &Job<'_>, t: &Transformed) {
    let batch = t.batch.seq() + 1;
    for line in &t.logs.lines {
        job.progress.event(&Event::GuestLog {
            id: job.migration.to_string(),
            batch,
            document: line
                .index
                .filter(|&i| i < t.batch.len())
                .map(|i| t.batch.id_text(i)),
            level: line.level,
            message: line.message.clone(),
        });
    }
    if t.logs.dropped > 0 {
        job.progress.event(&Event::GuestLogDropped {
            id: job.migration.to_string(),
            batch,
            dropped: t.logs.dropped,
        });
    }
}
