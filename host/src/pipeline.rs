//! The batch pipeline of document-by-document migrations.
//!
//! ```text
//! reader (cursor by _id, raw BSON) ──► bounded queue ──► worker threads (one
//! Wasm instance each, one call per batch) ──► writer (in batch order, bulk
//! writes by _id)
//! ```
//!
//! Memory is bounded: a batch holds a permit from the moment it is read until
//! it is written, and there are `max_in_flight` permits.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::{doc, Bson, Document, RawBson, RawDocument, RawDocumentBuf};
use futures_util::TryStreamExt;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::error::{MigrateError, Result};
use crate::ledger::Checkpoint;
use crate::outputs::check_outcomes;
use crate::progress::{Direction, Event, Progress};
use crate::target::Target;
use crate::text;
use crate::wasm::{Outcome, OutcomeError, TransformInstance, TransformModule, WasmError};
use crate::writer::{BatchWriter, Retransform, WriteOptions};

/// An error of a [`BatchTransform`]: its message is shown after the migration,
/// the batch and its `_id` range, cut to
/// [`MAX_MESSAGE_BYTES`](crate::text::MAX_MESSAGE_BYTES) with control
/// characters escaped. An [`OutcomeError`] with an index names its document.
pub type TransformError = Box<dyn std::error::Error + Send + Sync>;

/// A batch transform other than a Wasm module (a Python function, say). The
/// pipeline asks it for one [`TransformWorker`] per worker thread.
pub trait BatchTransform: Send + Sync {
    /// A new worker, used by one thread for every batch it takes.
    fn worker(&self) -> std::result::Result<Box<dyn TransformWorker>, TransformError>;
}

/// One worker of a [`BatchTransform`].
pub trait TransformWorker: Send {
    /// Transforms `count` concatenated BSON documents and returns one outcome
    /// per document. After an error the worker is dropped and a new one made.
    fn transform(
        &mut self,
        direction: Direction,
        batch: &[u8],
        count: usize,
    ) -> std::result::Result<Vec<Outcome>, TransformError>;
}

/// What runs on the documents: a Wasm module or another [`BatchTransform`].
#[derive(Clone)]
pub(crate) enum Transformer {
    Wasm(TransformModule),
    Custom(Arc<dyn BatchTransform>),
}

enum Worker {
    Wasm(TransformInstance),
    Custom(Box<dyn TransformWorker>),
}

enum CustomOrWasm {
    Wasm(WasmError),
    Custom(TransformError),
}

/// How a pipeline runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineOptions {
    /// Documents per batch (one Wasm call each).
    pub batch_size: usize,
    /// Worker threads, each with its own instance.
    pub threads: usize,
    /// Batches read but not yet written, at most.
    pub max_in_flight: usize,
}

impl PipelineOptions {
    /// `batch_size` documents per batch; `threads` workers (0: one per core).
    pub fn new(batch_size: usize, threads: usize) -> Self {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(2, usize::from)
        } else {
            threads
        };
        PipelineOptions {
            batch_size: batch_size.max(1),
            threads,
            max_in_flight: threads * 2 + 2,
        }
    }
}

/// One batch as read.
pub(crate) struct Batch {
    seq: u64,
    bytes: Vec<u8>,
    /// Start and end of each document in `bytes`.
    docs: Vec<(usize, usize)>,
    _permit: OwnedSemaphorePermit,
}

impl Batch {
    pub(crate) fn len(&self) -> usize {
        self.docs.len()
    }

    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    pub(crate) fn doc(&self, i: usize) -> &RawDocument {
        let (s, e) = self.docs[i];
        RawDocument::from_bytes(&self.bytes[s..e])
            .expect("documents from the server are valid BSON")
    }

    pub(crate) fn id(&self, i: usize) -> RawBson {
        self.doc(i)
            .get("_id")
            .ok()
            .flatten()
            .map_or(RawBson::Null, |v| v.to_raw_bson())
    }

    pub(crate) fn id_text(&self, i: usize) -> String {
        show_id(&self.id(i))
    }
}

pub(crate) struct Transformed {
    pub(crate) batch: Batch,
    pub(crate) outcomes: Vec<Outcome>,
}

/// Receives each document and its outcome in a dry run.
pub(crate) type DryRunSink<'a> = dyn FnMut(&RawDocument, &Outcome) + Send + 'a;

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
}

/// Runs the job to the end or to the first error. Batches before the failed one
/// are written; nothing of the failed batch is.
pub(crate) async fn run(mut job: Job<'_>) -> Result<Checkpoint> {
    let opts = job.options;
    let target_batch = Arc::new(AtomicUsize::new(opts.batch_size));
    let permits = Arc::new(Semaphore::new(opts.max_in_flight));
    let (batch_tx, batch_rx) = crossbeam_channel::bounded::<Batch>(opts.max_in_flight);
    let (result_tx, mut result_rx) =
        mpsc::unbounded_channel::<(u64, std::result::Result<Transformed, MigrateError>)>();

    // Workers: plain threads from a Rayon pool, each owning one instance.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .thread_name(|i| format!("mongoshift-worker-{i}"))
        .build()
        .map_err(|e| MigrateError::Database {
            context: "cannot start worker threads".into(),
            message: e.to_string(),
            labels: vec![],
        })?;
    for _ in 0..opts.threads {
        let rx = batch_rx.clone();
        let tx = result_tx.clone();
        let module = job.module.clone();
        let migration = job.migration.to_string();
        let direction = job.direction;
        let schema = job.schema.clone();
        pool.spawn(move || worker(rx, tx, module, &migration, direction, schema.as_deref()));
    }
    drop(batch_rx);
    drop(result_tx);

    // Reader.
    let reader = {
        let coll = job.target.db().collection::<RawDocumentBuf>(job.collection);
        let filter = match job.resume.as_ref().and_then(|c| c.last_id.clone()) {
            Some(last) => crate::id_order::after(&job.filter, &last),
            None => job.filter.clone(),
        };
        let permits = permits.clone();
        let target_batch = target_batch.clone();
        let limit = job.limit;
        tokio::spawn(async move {
            let mut find = coll
                .find(filter)
                .sort(doc! { "_id": 1 })
                .batch_size(opts.batch_size.min(10_000) as u32);
            if let Some(l) = limit {
                find = find.limit(l as i64);
            }
            let mut cursor = find
                .await
                .map_err(|e| MigrateError::db("cannot read the documents", e))?;
            let mut seq = 0u64;
            // The batch being filled: its bytes and each document's span.
            #[allow(clippy::type_complexity)]
            let mut current: Option<(Vec<u8>, Vec<(usize, usize)>)> = None;
            loop {
                let next = cursor
                    .try_next()
                    .await
                    .map_err(|e| MigrateError::db("cannot read the documents", e))?;
                let done = next.is_none();
                if let Some(d) = next {
                    let size = target_batch.load(Ordering::Relaxed);
                    let (bytes, docs) = current.get_or_insert_with(|| {
                        (Vec::with_capacity(size * 300), Vec::with_capacity(size))
                    });
                    let start = bytes.len();
                    bytes.extend_from_slice(d.as_bytes());
                    docs.push((start, bytes.len()));
                }
                let full = current
                    .as_ref()
                    .is_some_and(|(_, d)| d.len() >= target_batch.load(Ordering::Relaxed));
                if (full || done) && current.is_some() {
                    let (bytes, docs) = current.take().expect("checked");
                    let Ok(permit) = permits.clone().acquire_owned().await else {
                        return Ok(seq);
                    };
                    if batch_tx
                        .send(Batch {
                            seq,
                            bytes,
                            docs,
                            _permit: permit,
                        })
                        .is_err()
                    {
                        return Ok(seq);
                    }
                    seq += 1;
                }
                if done {
                    return Ok::<u64, MigrateError>(seq);
                }
            }
        })
    };

    // Writer: in batch order.
    // Results wait here until every earlier batch is written: the first failing
    // batch in `_id` order is the one reported, and all before it are written.
    let mut pending: BTreeMap<u64, std::result::Result<Transformed, MigrateError>> =
        BTreeMap::new();
    let mut next = 0u64;
    let mut writer = if job.dry_run.is_none() {
        Some(
            BatchWriter::start(
                job.target,
                job.collection,
                job.migration,
                job.write.clone(),
                job.resume.clone().unwrap_or_default(),
                job.session.take(),
                Some(Box::new(Again {
                    module: job.module.clone(),
                    instance: None,
                    migration: job.migration.to_string(),
                    direction: job.direction,
                    schema: job.schema.clone(),
                })),
            )
            .await?,
        )
    } else {
        None
    };
    let mut dry = job.resume.clone().unwrap_or_default();
    let configured = opts.batch_size;
    let outcome: Result<()> = async {
        loop {
            let closed = match result_rx.recv().await {
                Some((seq, r)) => {
                    pending.insert(seq, r);
                    false
                }
                None => true,
            };
            if closed {
                // Workers are gone; what is left is in order, with a gap only
                // after an error that stopped the run.
                if let Some((_, Err(e))) = pending.pop_first() {
                    return Err(e);
                }
                break;
            }
            while let Some(t) = pending.remove(&next) {
                let t = t?;
                let cp = match (&mut writer, &mut job.dry_run) {
                    (Some(w), _) => {
                        let started = Instant::now();
                        let shrunk = w.write(&t).await?;
                        // Adapt the batch size: halve after a batch had to be split,
                        // grow back while commits are fast.
                        let now = target_batch.load(Ordering::Relaxed);
                        if let Some(size) = shrunk {
                            target_batch.store(size.max(1), Ordering::Relaxed);
                        } else if started.elapsed() < Duration::from_secs(1) && now < configured {
                            target_batch.store((now * 2).min(configured), Ordering::Relaxed);
                        }
                        w.checkpoint().clone()
                    }
                    (None, Some(f)) => {
                        for (i, o) in t.outcomes.iter().enumerate() {
                            f(t.batch.doc(i), o);
                            match o {
                                Outcome::Keep => dry.kept += 1,
                                Outcome::Replace(_) => dry.replaced += 1,
                                Outcome::Delete => dry.deleted += 1,
                                Outcome::Fail(_) => dry.failed += 1,
                            }
                        }
                        dry.read += t.batch.len() as i64;
                        dry.batches += 1;
                        dry.last_id = Some(
                            Bson::try_from(t.batch.id(t.batch.len() - 1)).unwrap_or(Bson::Null),
                        );
                        dry.clone()
                    }
                    (None, None) => unreachable!("a writer or a dry run"),
                };
                next += 1;
                job.progress.event(&Event::Documents {
                    id: job.migration.to_string(),
                    done: cp.read as u64,
                    total: job.total,
                    replaced: cp.replaced as u64,
                    deleted: cp.deleted as u64,
                    failed: cp.failed as u64,
                });
            }
        }
        Ok(())
    }
    .await;
    permits.close();
    drop(result_rx);
    let read = reader.await.map_err(|e| MigrateError::Database {
        context: "the reader task failed".into(),
        message: e.to_string(),
        labels: vec![],
    })?;
    let finished = match (outcome, writer) {
        (Ok(()), Some(w)) => w.finish().await,
        (Ok(()), None) => Ok(dry),
        (Err(e), Some(w)) => {
            w.abandon().await;
            Err(e)
        }
        (Err(e), None) => Err(e),
    };
    let cp = finished?;
    read?;
    Ok(cp)
}

fn worker(
    rx: crossbeam_channel::Receiver<Batch>,
    tx: mpsc::UnboundedSender<(u64, std::result::Result<Transformed, MigrateError>)>,
    module: Transformer,
    migration: &str,
    direction: Direction,
    schema: Option<&jsonschema::Validator>,
) {
    let mut instance: Option<Worker> = None;
    while let Ok(batch) = rx.recv() {
        let seq = batch.seq;
        let res = transform_batch(&module, &mut instance, migration, direction, batch, schema);
        let failed = res.is_err();
        if tx.send((seq, res)).is_err() || failed {
            return;
        }
    }
}

fn transform_batch(
    module: &Transformer,
    instance: &mut Option<Worker>,
    migration: &str,
    direction: Direction,
    batch: Batch,
    schema: Option<&jsonschema::Validator>,
) -> std::result::Result<Transformed, MigrateError> {
    let count = batch.docs.len();
    let res = run_checked(
        module,
        instance,
        direction,
        &batch.bytes,
        |i| batch.doc(i),
        count,
        schema,
    );
    match res {
        Ok(outcomes) => Ok(Transformed { batch, outcomes }),
        Err((doc, source)) => Err(MigrateError::Transform {
            migration: migration.to_string(),
            batch: batch.seq + 1,
            first_id: batch.id_text(0),
            last_id: batch.id_text(count - 1),
            document: doc.map(|i| batch.id_text(i)),
            source,
        }),
    }
}

/// Runs the transform over `count` documents (`bytes`; each is also
/// `doc(i)`) and checks what it returns (see [`check_outcomes`]). An error
/// comes with the place of the document it is about, where one is; after an
/// error the worker is dropped and the next call makes a new one.
fn run_checked<'d>(
    module: &Transformer,
    worker: &mut Option<Worker>,
    direction: Direction,
    bytes: &[u8],
    doc: impl Fn(usize) -> &'d RawDocument,
    count: usize,
    schema: Option<&jsonschema::Validator>,
) -> std::result::Result<Vec<Outcome>, (Option<usize>, TransformError)> {
    let stale = match worker.as_ref() {
        None => true,
        Some(Worker::Wasm(i)) => i.is_poisoned(),
        Some(Worker::Custom(_)) => false,
    };
    if stale {
        *worker = Some(match module {
            Transformer::Wasm(m) => {
                Worker::Wasm(m.instantiate().map_err(|e| (None, Box::new(e) as _))?)
            }
            Transformer::Custom(t) => Worker::Custom(
                t.worker()
                    .map_err(|e| (None, TransformError::from(text::message(e.to_string()))))?,
            ),
        });
    }
    let res = match worker.as_mut().expect("just set") {
        Worker::Wasm(inst) => inst
            .transform(direction, bytes, count)
            .map_err(CustomOrWasm::Wasm),
        Worker::Custom(w) => w
            .transform(direction, bytes, count)
            .map_err(CustomOrWasm::Custom),
    };
    let mut outcomes = match res {
        Ok(o) if o.len() == count => o,
        Ok(o) => {
            *worker = None;
            let message = format!(
                "{} outcomes for a batch of {count} documents (there must be one per document)",
                o.len()
            );
            return Err((None, Box::new(WasmError::InvalidOutput { message })));
        }
        Err(CustomOrWasm::Custom(e)) => {
            *worker = None;
            let index = match e.downcast_ref::<OutcomeError>() {
                Some(o) => o.index,
                None => (count == 1).then_some(0),
            };
            // Python exception text: any size, any characters.
            return Err((index, TransformError::from(text::message(e.to_string()))));
        }
        Err(CustomOrWasm::Wasm(e)) => {
            *worker = None;
            let index = e
                .document_index()
                .or_else(|| culprit(module, direction, &e, count, &doc));
            return Err((index, Box::new(e)));
        }
    };
    check_outcomes(&doc, &mut outcomes, schema).map_err(|(i, e)| (Some(i), Box::new(e) as _))?;
    Ok(outcomes)
}

/// The document a Wasm error is down to, found by running each alone on a
/// fresh instance, when one is.
fn culprit<'d>(
    module: &Transformer,
    direction: Direction,
    e: &WasmError,
    count: usize,
    doc: &impl Fn(usize) -> &'d RawDocument,
) -> Option<usize> {
    let Transformer::Wasm(module) = module else {
        return None;
    };
    match e {
        // The allocator sees only the batch's size.
        WasmError::Alloc { .. } => None,
        _ if count == 1 => Some(0),
        WasmError::Trap { .. } | WasmError::Deadline { .. } | WasmError::Memory { .. } => {
            let fails = |i: usize| {
                module.instantiate().is_ok_and(|mut single| {
                    single.transform(direction, doc(i).as_bytes(), 1).is_err()
                })
            };
            let first = (0..count).find(|&i| fails(i))?;
            // A document is to blame only if another goes through alone: when
            // the first two both fail, the fault is the module's, not theirs.
            (first > 0 || !fails(1)).then_some(first)
        }
        _ => None,
    }
}

/// Transforms again, on the writer's side, documents that changed while their
/// batch was in flight: its own worker, the same checks.
pub(crate) struct Again {
    module: Transformer,
    instance: Option<Worker>,
    migration: String,
    direction: Direction,
    schema: Option<Arc<jsonschema::Validator>>,
}

impl Retransform for Again {
    fn retransform(&mut self, batch: u64, docs: &[RawDocumentBuf]) -> Result<Vec<Outcome>> {
        let mut bytes = Vec::new();
        for d in docs {
            bytes.extend_from_slice(d.as_bytes());
        }
        run_checked(
            &self.module,
            &mut self.instance,
            self.direction,
            &bytes,
            |i| &docs[i],
            docs.len(),
            self.schema.as_deref(),
        )
        .map_err(|(doc, source)| MigrateError::Transform {
            migration: self.migration.clone(),
            batch: batch + 1,
            first_id: id_of(&docs[0]),
            last_id: id_of(&docs[docs.len() - 1]),
            document: doc.map(|i| id_of(&docs[i])),
            source,
        })
    }
}

/// A transformer for documents outside the pipeline's batches (changes
/// followed by a rewrite, documents changed in flight).
pub(crate) fn again(
    module: Transformer,
    migration: &str,
    direction: Direction,
    schema: Option<Arc<jsonschema::Validator>>,
) -> Again {
    Again {
        module,
        instance: None,
        migration: migration.to_string(),
        direction,
        schema,
    }
}

fn id_of(doc: &RawDocument) -> String {
    show_id(
        &doc.get("_id")
            .ok()
            .flatten()
            .map_or(RawBson::Null, |v| v.to_raw_bson()),
    )
}

/// An `_id` for messages, bounded and escaped.
pub(crate) fn show_id(id: &RawBson) -> String {
    crate::outputs::show_id(id)
}
