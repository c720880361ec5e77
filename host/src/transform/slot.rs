//! The one worker slot: a transform's worker (a Wasm instance, or a worker of
//! another transform) with the checks every outcome passes. The pool's
//! workers and the writer's re-transforms (documents that changed while
//! their batch was in flight, changes a rewrite follows) use the same slot,
//! so a document is judged the same way whichever path it takes.

use std::sync::Arc;

use bson::{RawDocument, RawDocumentBuf};

use super::checks::check_outcomes;
use super::contract::TransformWorker;
use super::retransform::Retransform;
use super::transformer::Transformer;
use crate::batch::{
    interleave, show_id_of, Batch, BatchLogs, Outcome, OutcomeError, Output, Transformed,
};
use crate::error::{MigrateError, Result, TransformError, WasmError, WithLogs};
use crate::progress::Direction;
use crate::text;
use crate::wasm::TransformInstance;

/// Each document's outcome and outputs.
type Decided = (Vec<Outcome>, Vec<Vec<Output>>);

enum Worker {
    Wasm(TransformInstance),
    Custom(Box<dyn TransformWorker>),
}

enum CustomOrWasm {
    Wasm(WasmError),
    Custom(TransformError),
}

/// A transform's worker, made on first use and again after an error, and
/// what its outcomes are checked against.
pub(crate) struct WorkerSlot {
    module: Transformer,
    worker: Option<Worker>,
    migration: String,
    direction: Direction,
    schema: Option<Arc<jsonschema::Validator>>,
    /// What the transform logged during the last call.
    logs: BatchLogs,
}

/// How many of a failed batch's last log lines its error shows.
const FAILURE_LOG_LINES: usize = 5;

impl WorkerSlot {
    /// An empty slot: the worker is made by the first call.
    pub(crate) fn new(
        module: Transformer,
        migration: &str,
        direction: Direction,
        schema: Option<Arc<jsonschema::Validator>>,
    ) -> WorkerSlot {
        WorkerSlot {
            module,
            worker: None,
            migration: migration.to_string(),
            direction,
            schema,
            logs: BatchLogs::default(),
        }
    }

    /// `source`, followed by the last lines of the last call's log when
    /// there are any.
    fn with_logs(&mut self, source: TransformError) -> TransformError {
        match std::mem::take(&mut self.logs).tail(FAILURE_LOG_LINES) {
            Some(logs) => Box::new(WithLogs {
                source,
                logs: text::message(logs),
            }),
            None => source,
        }
    }

    /// Whether the transform takes lookups and returns outputs (contract
    /// version 2).
    fn cross(&self) -> bool {
        match &self.module {
            Transformer::Wasm(m) => m.info().contract_version >= 2,
            Transformer::Custom(t) => t.cross(),
        }
    }

    /// Transforms a batch the pipeline read.
    pub(crate) fn transform_batch(&mut self, batch: Batch) -> Result<Transformed> {
        let count = batch.len();
        let input = if self.cross() {
            std::borrow::Cow::Owned(batch.interleaved())
        } else {
            std::borrow::Cow::Borrowed(batch.bytes())
        };
        let lookups = batch.lookups();
        let res = self.run_checked(&input, |i| batch.doc(i), lookups, count);
        match res {
            Ok((outcomes, outputs)) => Ok(Transformed {
                batch,
                outcomes,
                outputs,
                logs: std::mem::take(&mut self.logs),
            }),
            Err((doc, source)) => Err(MigrateError::Transform {
                migration: self.migration.clone(),
                batch: batch.seq() + 1,
                first_id: batch.id_text(0),
                last_id: batch.id_text(count - 1),
                document: doc.map(|i| batch.id_text(i)),
                source: self.with_logs(source),
            }),
        }
    }

    /// Runs the transform over `count` documents (`bytes`; each is also
    /// `doc(i)`) and checks what it returns (see [`check_outcomes`]). An error
    /// comes with the place of the document it is about, where one is; after an
    /// error the worker is dropped and the next call makes a new one.
    fn run_checked<'d>(
        &mut self,
        bytes: &[u8],
        doc: impl Fn(usize) -> &'d RawDocument,
        lookups: &[RawDocumentBuf],
        count: usize,
    ) -> std::result::Result<Decided, (Option<usize>, TransformError)> {
        let cross = self.cross();
        let (module, direction) = (&self.module, self.direction);
        let worker = &mut self.worker;
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
            Worker::Wasm(inst) if cross => inst
                .transform_with_outputs(direction, bytes, count)
                .map_err(CustomOrWasm::Wasm),
            Worker::Wasm(inst) => inst
                .transform(direction, bytes, count)
                .map(|o| (o, Vec::new()))
                .map_err(CustomOrWasm::Wasm),
            Worker::Custom(w) if cross => w
                .transform_cross(direction, bytes, count)
                .map_err(CustomOrWasm::Custom),
            Worker::Custom(w) => w
                .transform(direction, bytes, count)
                .map(|o| (o, Vec::new()))
                .map_err(CustomOrWasm::Custom),
        };
        self.logs = match worker.as_mut().expect("just set") {
            Worker::Wasm(inst) => inst.take_logs(),
            Worker::Custom(w) => w.take_logs(),
        };
        let (mut outcomes, outputs) = match res {
            Ok((o, out)) if o.len() == count => (o, out),
            Ok((o, _)) => {
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
                let alone = |i: usize| -> Vec<u8> {
                    if cross {
                        interleave(std::iter::once(doc(i)), lookups.get(i..=i).unwrap_or(&[]))
                    } else {
                        doc(i).as_bytes().to_vec()
                    }
                };
                let index = e
                    .document_index()
                    .or_else(|| culprit(module, direction, &e, count, &alone));
                return Err((index, Box::new(e)));
            }
        };
        check_outcomes(&doc, &mut outcomes, self.schema.as_deref())
            .map_err(|(i, e)| (Some(i), Box::new(e) as _))?;
        Ok((outcomes, outputs))
    }
}

impl Retransform for WorkerSlot {
    fn retransform(&mut self, batch: u64, docs: &[RawDocumentBuf]) -> Result<Vec<Outcome>> {
        Ok(self.retransform_cross(batch, docs, &[])?.0)
    }

    fn retransform_cross(
        &mut self,
        batch: u64,
        docs: &[RawDocumentBuf],
        lookups: &[RawDocumentBuf],
    ) -> Result<(Vec<Outcome>, Vec<Vec<Output>>)> {
        let bytes = if self.cross() {
            interleave(docs.iter().map(|d| d.as_ref()), lookups)
        } else {
            docs.iter()
                .flat_map(|d| d.as_bytes().iter().copied())
                .collect()
        };
        // The writer calls this from its async task, and a component's WASI
        // calls (a guest writing a log line) block on a runtime of their
        // own, which tokio refuses inside one: the guest runs on a thread of
        // its own.
        let res = std::thread::scope(|s| {
            s.spawn(|| self.run_checked(&bytes, |i| &docs[i], lookups, docs.len()))
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        res.map_err(|(doc, source)| MigrateError::Transform {
            migration: self.migration.clone(),
            batch: batch + 1,
            first_id: show_id_of(&docs[0]),
            last_id: show_id_of(&docs[docs.len() - 1]),
            document: doc.map(|i| show_id_of(&docs[i])),
            source: self.with_logs(source),
        })
    }
}

/// The document a Wasm error is down to, found by running each alone on a
/// fresh instance, when one is.
fn culprit(
    module: &Transformer,
    direction: Direction,
    e: &WasmError,
    count: usize,
    alone: &impl Fn(usize) -> Vec<u8>,
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
                    single
                        .transform_with_outputs(direction, &alone(i), 1)
                        .is_err()
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
