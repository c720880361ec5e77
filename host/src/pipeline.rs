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
use std::sync::Arc;
use std::time::Instant;

use bson::{doc, rawdoc, Bson, Document, RawArrayBuf, RawBson, RawDocument, RawDocumentBuf};
use futures_util::TryStreamExt;
use mongodb::ClientSession;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::error::{MigrateError, Result};
use crate::progress::{Direction, Event, Progress};
use crate::target::Target;
use crate::wasm::{check_replacement, Outcome, TransformInstance, TransformModule, WasmError};

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
        let threads = if threads == 0 { std::thread::available_parallelism().map_or(2, usize::from) } else { threads };
        PipelineOptions { batch_size: batch_size.max(1), threads, max_in_flight: threads * 2 + 2 }
    }
}

/// What a pipeline did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PipelineCounts {
    /// Documents read and decided.
    pub read: u64,
    /// Kept unchanged.
    pub kept: u64,
    /// Replaced.
    pub replaced: u64,
    /// Deleted.
    pub deleted: u64,
    /// Failed.
    pub failed: u64,
    /// Batches written.
    pub batches: u64,
}

/// One batch as read.
struct Batch {
    seq: u64,
    bytes: Vec<u8>,
    /// Start and end of each document in `bytes`.
    docs: Vec<(usize, usize)>,
    _permit: OwnedSemaphorePermit,
}

impl Batch {
    fn doc(&self, i: usize) -> &RawDocument {
        let (s, e) = self.docs[i];
        RawDocument::from_bytes(&self.bytes[s..e]).expect("documents from the server are valid BSON")
    }

    fn id(&self, i: usize) -> RawBson {
        self.doc(i).get("_id").ok().flatten().map_or(RawBson::Null, |v| v.to_raw_bson())
    }

    fn id_text(&self, i: usize) -> String {
        show_id(&self.id(i))
    }
}

struct Transformed {
    batch: Batch,
    outcomes: Vec<Outcome>,
}

/// The document-by-document work of one migration.
pub(crate) struct Job<'a> {
    pub(crate) target: &'a Target,
    pub(crate) migration: &'a str,
    pub(crate) collection: &'a str,
    pub(crate) filter: Document,
    pub(crate) direction: Direction,
    pub(crate) module: TransformModule,
    pub(crate) options: PipelineOptions,
    pub(crate) total: Option<u64>,
    pub(crate) progress: &'a Progress,
}

/// Runs the job to the end or to the first error. Batches before the failed one
/// are written; nothing of the failed batch is.
pub(crate) async fn run(job: Job<'_>) -> Result<PipelineCounts> {
    let opts = job.options;
    let permits = Arc::new(Semaphore::new(opts.max_in_flight));
    let (batch_tx, batch_rx) = crossbeam_channel::bounded::<Batch>(opts.max_in_flight);
    let (result_tx, mut result_rx) = mpsc::unbounded_channel::<std::result::Result<Transformed, MigrateError>>();

    // Workers: plain threads from a Rayon pool, each owning one instance.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .thread_name(|i| format!("mongoshift-worker-{i}"))
        .build()
        .map_err(|e| MigrateError::Database { context: "cannot start worker threads".into(), message: e.to_string(), labels: vec![] })?;
    for _ in 0..opts.threads {
        let rx = batch_rx.clone();
        let tx = result_tx.clone();
        let module = job.module.clone();
        let migration = job.migration.to_string();
        let direction = job.direction;
        pool.spawn(move || worker(rx, tx, module, &migration, direction));
    }
    drop(batch_rx);
    drop(result_tx);

    // Reader.
    let reader = {
        let coll = job.target.db().collection::<RawDocumentBuf>(job.collection);
        let filter = job.filter.clone();
        let permits = permits.clone();
        let batch_size = opts.batch_size;
        tokio::spawn(async move {
            let mut cursor = coll
                .find(filter)
                .sort(doc! { "_id": 1 })
                .batch_size(batch_size.min(100_000) as u32)
                .await
                .map_err(|e| MigrateError::db("cannot read the documents", e))?;
            let mut seq = 0u64;
            let mut current: Option<(Vec<u8>, Vec<(usize, usize)>)> = None;
            loop {
                let next = cursor.try_next().await.map_err(|e| MigrateError::db("cannot read the documents", e))?;
                let done = next.is_none();
                if let Some(d) = next {
                    let (bytes, docs) = current.get_or_insert_with(|| (Vec::with_capacity(batch_size * 300), Vec::with_capacity(batch_size)));
                    let start = bytes.len();
                    bytes.extend_from_slice(d.as_bytes());
                    docs.push((start, bytes.len()));
                }
                let full = current.as_ref().is_some_and(|(_, d)| d.len() >= batch_size);
                if (full || done) && current.is_some() {
                    let (bytes, docs) = current.take().expect("checked");
                    let Ok(permit) = permits.clone().acquire_owned().await else { return Ok(seq) };
                    if batch_tx.send(Batch { seq, bytes, docs, _permit: permit }).is_err() {
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
    let mut counts = PipelineCounts::default();
    let mut pending: BTreeMap<u64, Transformed> = BTreeMap::new();
    let mut next = 0u64;
    let started = Instant::now();
    let coll_name = job.collection.to_string();
    let outcome: Result<()> = async {
        while let Some(msg) = result_rx.recv().await {
            let t = msg?;
            pending.insert(t.batch.seq, t);
            while let Some(t) = pending.remove(&next) {
                write_batch(job.target, &coll_name, &t, None, &mut counts).await?;
                next += 1;
                job.progress.event(&Event::Documents {
                    id: job.migration.to_string(),
                    done: counts.read,
                    total: job.total,
                    replaced: counts.replaced,
                    deleted: counts.deleted,
                    failed: counts.failed,
                });
            }
        }
        Ok(())
    }
    .await;
    permits.close();
    drop(result_rx);
    let read = reader.await.map_err(|e| MigrateError::Database { context: "the reader task failed".into(), message: e.to_string(), labels: vec![] })?;
    outcome?;
    let batches = read?;
    debug_assert_eq!(batches, next);
    let _ = started;
    Ok(counts)
}

fn worker(
    rx: crossbeam_channel::Receiver<Batch>,
    tx: mpsc::UnboundedSender<std::result::Result<Transformed, MigrateError>>,
    module: TransformModule,
    migration: &str,
    direction: Direction,
) {
    let mut instance: Option<TransformInstance> = None;
    while let Ok(batch) = rx.recv() {
        let res = transform_batch(&module, &mut instance, migration, direction, batch);
        let failed = res.is_err();
        if tx.send(res).is_err() || failed {
            return;
        }
    }
}

fn transform_batch(
    module: &TransformModule,
    instance: &mut Option<TransformInstance>,
    migration: &str,
    direction: Direction,
    batch: Batch,
) -> std::result::Result<Transformed, MigrateError> {
    let fail = |batch: &Batch, doc: Option<usize>, source: WasmError| MigrateError::Transform {
        migration: migration.to_string(),
        batch: batch.seq + 1,
        first_id: batch.id_text(0),
        last_id: batch.id_text(batch.docs.len() - 1),
        document: doc.map(|i| batch.id_text(i)),
        source,
    };
    if instance.as_ref().is_none_or(TransformInstance::is_poisoned) {
        *instance = Some(module.instantiate().map_err(|e| fail(&batch, None, e))?);
    }
    let inst = instance.as_mut().expect("just set");
    match inst.transform(direction, &batch.bytes, batch.docs.len()) {
        Ok(outcomes) => {
            for (i, o) in outcomes.iter().enumerate() {
                if let Outcome::Replace(bytes) = o {
                    if let Err(message) = check_replacement(batch.doc(i), bytes) {
                        return Err(fail(&batch, Some(i), WasmError::InvalidOutput { message }));
                    }
                }
            }
            Ok(Transformed { batch, outcomes })
        }
        Err(e) => {
            *instance = None;
            // Find the document that trips it: each alone, on fresh instances.
            let culprit = if batch.docs.len() > 1 && matches!(e, WasmError::Trap { .. } | WasmError::Deadline { .. } | WasmError::Memory { .. }) {
                (0..batch.docs.len()).find(|&i| {
                    let Ok(mut single) = module.instantiate() else { return false };
                    single.transform(direction, batch.doc(i).as_bytes(), 1).is_err()
                })
            } else if batch.docs.len() == 1 {
                Some(0)
            } else {
                None
            };
            Err(fail(&batch, culprit, e))
        }
    }
}

/// Writes one transformed batch: replacements and deletions by `_id`, unordered.
async fn write_batch(
    target: &Target,
    collection: &str,
    t: &Transformed,
    mut session: Option<&mut ClientSession>,
    counts: &mut PipelineCounts,
) -> Result<()> {
    let b = &t.batch;
    // A failed document fails the batch before anything is written.
    if let Some((i, msg)) = t.outcomes.iter().enumerate().find_map(|(i, o)| match o {
        Outcome::Fail(m) => Some((i, m)),
        _ => None,
    }) {
        return Err(MigrateError::DocumentFailed { batch: b.seq + 1, document: b.id_text(i), message: msg.clone() });
    }
    const CHUNK_BYTES: usize = 8 << 20;
    let mut updates: Vec<(RawArrayBuf, Vec<usize>)> = vec![(RawArrayBuf::new(), vec![])];
    let mut deletes = RawArrayBuf::new();
    let mut delete_idx = Vec::new();
    let mut chunk_bytes = 0;
    for (i, o) in t.outcomes.iter().enumerate() {
        match o {
            Outcome::Keep => counts.kept += 1,
            Outcome::Replace(bytes) => {
                if chunk_bytes + bytes.len() > CHUNK_BYTES && !updates.last().is_some_and(|(_, idx)| idx.is_empty()) {
                    updates.push((RawArrayBuf::new(), vec![]));
                    chunk_bytes = 0;
                }
                chunk_bytes += bytes.len();
                let u = RawDocumentBuf::from_bytes(bytes.clone()).expect("checked before");
                let (arr, idx) = updates.last_mut().expect("one chunk");
                arr.push(rawdoc! { "q": { "_id": b.id(i) }, "u": u, "upsert": false });
                idx.push(i);
            }
            Outcome::Delete => {
                deletes.push(rawdoc! { "q": { "_id": b.id(i) }, "limit": 1 });
                delete_idx.push(i);
            }
            Outcome::Fail(_) => unreachable!("checked above"),
        }
    }
    for (arr, idx) in updates {
        if idx.is_empty() {
            continue;
        }
        let cmd = rawdoc! { "update": collection, "updates": arr, "ordered": false };
        let reply = run_write(target, cmd, session.as_deref_mut()).await?;
        check_write_errors(&reply, &idx, b)?;
        counts.replaced += idx.len() as u64;
    }
    if !delete_idx.is_empty() {
        let cmd = rawdoc! { "delete": collection, "deletes": deletes, "ordered": false };
        let reply = run_write(target, cmd, session.as_deref_mut()).await?;
        check_write_errors(&reply, &delete_idx, b)?;
        counts.deleted += delete_idx.len() as u64;
    }
    counts.read += b.docs.len() as u64;
    counts.batches += 1;
    Ok(())
}

async fn run_write(target: &Target, cmd: RawDocumentBuf, session: Option<&mut ClientSession>) -> Result<Document> {
    let op = target.db().run_raw_command(cmd);
    match session {
        Some(s) => op.session(s).await,
        None => op.await,
    }
    .map_err(|e| MigrateError::db("cannot write the batch", e))
}

fn check_write_errors(reply: &Document, idx: &[usize], b: &Batch) -> Result<()> {
    if let Ok(errors) = reply.get_array("writeErrors") {
        if let Some(Bson::Document(first)) = errors.first() {
            let at = first.get_i32("index").map_or(0, |i| i as usize);
            let doc = idx.get(at).map_or_else(|| "?".to_string(), |&i| b.id_text(i));
            return Err(MigrateError::WriteRejected {
                batch: b.seq + 1,
                document: doc,
                message: first.get_str("errmsg").unwrap_or("write error").to_string(),
                code: first.get_i32("code").unwrap_or_default(),
            });
        }
    }
    Ok(())
}

fn show_id(id: &RawBson) -> String {
    match Bson::try_from(id.clone()) {
        Ok(b) => b.to_string(),
        Err(_) => "(unprintable _id)".into(),
    }
}
