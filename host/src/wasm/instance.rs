//! One instance of a transform with its own store, reused across batches by one
//! worker thread.

use std::sync::Arc;

use wasmtime::{Instance, Memory, Store, Trap, TypedFunc};

use super::bindings::{self, v2, Transform};
use super::linked::{Inner, ModuleInfo, Pre};
use super::lookups::interleave;
use super::outcome::{
    check_collection_name, check_fail_has_no_outputs, parse_outcomes, parse_outcomes_v2,
};
use super::sandbox::StoreState;
use crate::batch::{BatchLogs, Outcome, OutcomeError, Output, OutputOp};
use crate::error::WasmError;
use crate::progress::Direction;
use crate::text;

enum Bound {
    Component(Transform),
    ComponentV2(v2::TransformV2),
    Core(Box<CoreExports>),
}

struct CoreExports {
    memory: Memory,
    version: TypedFunc<(), i32>,
    alloc: TypedFunc<i32, i32>,
    describe: TypedFunc<(), i32>,
    transform: TypedFunc<(i32, i32, i32), i32>,
}

/// A live instance. After an error it must be dropped (see
/// [`TransformInstance::is_poisoned`]).
pub struct TransformInstance {
    module: Arc<Inner>,
    store: Store<StoreState>,
    bound: Bound,
    poisoned: bool,
}

impl std::fmt::Debug for TransformInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransformInstance")
            .field("module", &self.module.path)
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

impl TransformInstance {
    pub(crate) fn new(module: Arc<Inner>) -> Result<TransformInstance, WasmError> {
        let core = matches!(module.pre, Pre::Core(_));
        let mut store = Store::new(
            super::engine::engine(),
            StoreState::new(&module.limits, core),
        );
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(module.limits.deadline_ticks());
        let path = module.path.clone();
        let bound = match &module.pre {
            Pre::Component(pre) => Bound::Component(
                pre.instantiate(&mut store)
                    .map_err(|e| map_error(&module, e))?,
            ),
            Pre::ComponentV2(pre) => Bound::ComponentV2(
                pre.instantiate(&mut store)
                    .map_err(|e| map_error(&module, e))?,
            ),
            Pre::Core(pre) => {
                let instance: Instance = pre
                    .instantiate(&mut store)
                    .map_err(|e| map_error(&module, e))?;
                let wrong = |export: &str, e: wasmtime::Error| WasmError::Invalid {
                    path: path.clone(),
                    message: format!(
                        "export `{export}` has the wrong type ({e}); see guest-sdk/ABI.md"
                    ),
                };
                let memory = instance.get_memory(&mut store, "memory").ok_or_else(|| {
                    WasmError::MissingExport {
                        path: path.clone(),
                        export: "memory".into(),
                    }
                })?;
                Bound::Core(Box::new(CoreExports {
                    memory,
                    version: instance
                        .get_typed_func(&mut store, "mongoshift_contract_version")
                        .map_err(|e| wrong("mongoshift_contract_version", e))?,
                    alloc: instance
                        .get_typed_func(&mut store, "mongoshift_alloc")
                        .map_err(|e| wrong("mongoshift_alloc", e))?,
                    describe: instance
                        .get_typed_func(&mut store, "mongoshift_describe")
                        .map_err(|e| wrong("mongoshift_describe", e))?,
                    transform: instance
                        .get_typed_func(&mut store, "mongoshift_transform")
                        .map_err(|e| wrong("mongoshift_transform", e))?,
                }))
            }
        };
        Ok(TransformInstance {
            module,
            store,
            bound,
            poisoned: false,
        })
    }

    /// Whether an error left this instance unusable.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Whether batches follow contract version 2: a component's world says,
    /// a core module's `describe` (checked against its exports at load).
    fn is_v2(&self) -> bool {
        match &self.bound {
            Bound::Component(_) => false,
            Bound::ComponentV2(_) => true,
            Bound::Core(_) => self.module.info.contract_version >= 2,
        }
    }

    /// What the guest logged during the last call (its `log` import,
    /// stdout, stderr, a panic or abort message), bounded; the next call
    /// starts a new log.
    pub fn take_logs(&mut self) -> BatchLogs {
        self.store
            .data()
            .log
            .lock()
            .map(|mut log| log.take())
            .unwrap_or_default()
    }

    /// Runs one call into the guest with a fresh deadline and a fresh log;
    /// an error leaves the instance poisoned.
    fn guarded<T>(
        &mut self,
        call: impl FnOnce(&mut Store<StoreState>, &Bound, &Inner) -> Result<T, WasmError>,
    ) -> Result<T, WasmError> {
        self.take_logs();
        self.store
            .set_epoch_deadline(self.module.limits.deadline_ticks());
        let res = call(&mut self.store, &self.bound, &self.module);
        if res.is_err() {
            self.poisoned = true;
        }
        res
    }

    /// Calls `describe`.
    pub fn describe(&mut self) -> Result<ModuleInfo, WasmError> {
        // The two worlds' `info` records are alike but distinct types.
        macro_rules! module_info {
            ($i:expr) => {{
                let i = $i;
                ModuleInfo {
                    name: i.name,
                    contract_version: i.contract_version,
                    backward: i.backward,
                    reads: i.reads,
                    writes: i.writes,
                }
            }};
        }
        self.guarded(|store, bound, module| match bound {
            Bound::Component(t) => t
                .call_describe(store)
                .map(|i| module_info!(i))
                .map_err(|e| map_error(module, e)),
            Bound::ComponentV2(t) => t
                .call_describe(store)
                .map(|i| module_info!(i))
                .map_err(|e| map_error(module, e)),
            Bound::Core(c) => core_describe(store, c, module),
        })
    }

    /// Transforms one batch of concatenated BSON documents (`count` of them)
    /// and returns one outcome per document. Outcomes are checked for shape
    /// (count, records, tags); the caller checks replacements against their
    /// inputs.
    ///
    /// A contract-version-2 module is given no lookups (an empty lookups
    /// document after each document); if it emits outputs, the batch fails,
    /// since this caller would not write them: run it with
    /// [`TransformInstance::transform_with_outputs`].
    pub fn transform(
        &mut self,
        direction: Direction,
        batch: &[u8],
        count: usize,
    ) -> Result<Vec<Outcome>, WasmError> {
        if self.is_v2() {
            let (outcomes, outputs) =
                self.transform_with_outputs(direction, &interleave(batch, None), count)?;
            if let Some(i) = outputs.iter().position(|o| !o.is_empty()) {
                self.poisoned = true;
                return Err(WasmError::InvalidOutcome(OutcomeError::at(
                    i,
                    "it emitted outputs, but this migration runs the module without them (a contract-version-2 module is run with transform_with_outputs)".into(),
                )));
            }
            return Ok(outcomes);
        }
        self.guarded(|store, bound, module| match bound {
            Bound::Component(t) => t
                .call_transform(&mut *store, dir_v1(direction), batch)
                .map_err(|e| map_error(module, e))
                .and_then(|outs| component_outcomes(outs, count)),
            Bound::ComponentV2(_) => unreachable!("is_v2"),
            Bound::Core(c) => core_call(store, c, module, direction, batch).and_then(|ptr| {
                // Parsed where the guest left it: each replacement is copied once.
                parse_outcomes(read_result(store, &c.memory, ptr)?, count)
                    .map_err(WasmError::InvalidOutcome)
            }),
        })
    }

    /// Transforms one batch and returns each document's outcome and outputs
    /// (`outputs[i]` is what document `i` writes to other collections, in
    /// the order emitted).
    ///
    /// For a contract-version-1 module `batch` is the documents concatenated
    /// and every output list is empty. For version 2 `batch` is the layout of
    /// [`interleave`]: each document followed by its lookups document.
    /// Outcomes and outputs are checked for shape (count, records, tags, ops,
    /// UTF-8 collection names, no outputs from a failed document); the
    /// caller checks replacements against their inputs, each output with
    /// [`check_output`](super::check_output) and its collection against the
    /// manifest.
    pub fn transform_with_outputs(
        &mut self,
        direction: Direction,
        batch: &[u8],
        count: usize,
    ) -> Result<(Vec<Outcome>, Vec<Vec<Output>>), WasmError> {
        if !self.is_v2() {
            let outcomes = self.transform(direction, batch, count)?;
            return Ok((outcomes, vec![Vec::new(); count]));
        }
        self.guarded(|store, bound, module| match bound {
            Bound::ComponentV2(t) => {
                let dir = match direction {
                    Direction::Up => v2::mongoshift::transform::types::Direction::Forward,
                    Direction::Down => v2::mongoshift::transform::types::Direction::Backward,
                };
                t.call_transform(&mut *store, dir, batch)
                    .map_err(|e| map_error(module, e))
                    .and_then(|outs| component_results(outs, count))
            }
            Bound::Component(_) => unreachable!("not is_v2"),
            Bound::Core(c) => core_call(store, c, module, direction, batch).and_then(|ptr| {
                parse_outcomes_v2(read_result(store, &c.memory, ptr)?, count)
                    .map_err(WasmError::InvalidOutcome)
            }),
        })
    }
}

fn dir_v1(direction: Direction) -> bindings::Direction {
    match direction {
        Direction::Up => bindings::Direction::Forward,
        Direction::Down => bindings::Direction::Backward,
    }
}

/// A version-2 component's results, held to the same rules as a core
/// module's payload.
fn component_results(
    outs: Vec<v2::mongoshift::transform::types::DocumentResult>,
    count: usize,
) -> Result<(Vec<Outcome>, Vec<Vec<Output>>), WasmError> {
    use v2::mongoshift::transform::types::{Outcome as WitOutcome, OutputOp as WitOp};
    if outs.len() != count {
        return Err(WasmError::InvalidOutput {
            message: format!(
                "{} results for a batch of {count} documents (there must be one per document)",
                outs.len()
            ),
        });
    }
    let mut outcomes = Vec::with_capacity(count);
    let mut outputs = Vec::with_capacity(count);
    for (i, r) in outs.into_iter().enumerate() {
        let outcome = match r.outcome {
            WitOutcome::Keep => Outcome::Keep,
            WitOutcome::Replace(b) => Outcome::Replace(b),
            WitOutcome::Delete => Outcome::Delete,
            WitOutcome::Fail(m) => Outcome::Fail(text::message(&m)),
        };
        let emitted = r
            .outputs
            .into_iter()
            .enumerate()
            .map(|(j, o)| {
                check_collection_name(i, j, &o.collection)?;
                Ok(Output {
                    op: match o.op {
                        WitOp::Insert => OutputOp::Insert,
                        WitOp::Upsert => OutputOp::Upsert,
                        WitOp::Delete => OutputOp::Delete,
                    },
                    collection: o.collection,
                    document: o.document,
                })
            })
            .collect::<Result<Vec<_>, OutcomeError>>()
            .map_err(WasmError::InvalidOutcome)?;
        check_fail_has_no_outputs(i, &outcome, &emitted).map_err(WasmError::InvalidOutcome)?;
        outcomes.push(outcome);
        outputs.push(emitted);
    }
    Ok((outcomes, outputs))
}

fn component_outcomes(
    outs: Vec<bindings::Outcome>,
    count: usize,
) -> Result<Vec<Outcome>, WasmError> {
    if outs.len() != count {
        return Err(WasmError::InvalidOutput {
            message: format!(
                "{} outcomes for a batch of {count} documents (there must be one per document)",
                outs.len()
            ),
        });
    }
    Ok(outs
        .into_iter()
        .map(|o| match o {
            bindings::Outcome::Keep => Outcome::Keep,
            bindings::Outcome::Replace(b) => Outcome::Replace(b),
            bindings::Outcome::Delete => Outcome::Delete,
            bindings::Outcome::Fail(m) => Outcome::Fail(text::message(&m)),
        })
        .collect())
}

fn map_error(module: &Inner, e: wasmtime::Error) -> WasmError {
    if let Some(Trap::Interrupt) = e.downcast_ref::<Trap>() {
        return WasmError::Deadline {
            deadline_ms: module.limits.deadline.as_millis() as u64,
        };
    }
    let text = format!("{e:#}");
    if text.contains("forcing trap when growing memory")
        || e.downcast_ref::<Trap>() == Some(&Trap::AllocationTooLarge)
    {
        return WasmError::Memory {
            limit_mb: module.limits.memory_bytes >> 20,
        };
    }
    // The guest shapes this text (its function names are in the backtrace,
    // and a deep recursion makes a long one): one bounded line.
    WasmError::Trap {
        message: text::message(&text),
    }
}

/// Reads a result buffer (`u32 length`, then the payload) at `ptr`.
fn read_result<'a>(
    store: &'a Store<StoreState>,
    memory: &Memory,
    ptr: i32,
) -> Result<&'a [u8], WasmError> {
    let bad = |message: String| WasmError::InvalidOutput { message };
    let data = memory.data(store);
    let start = ptr as u32 as usize;
    let header = data.get(start..start + 4).ok_or_else(|| {
        bad(format!(
            "result pointer {start:#x} is outside the module's memory ({} bytes)",
            data.len()
        ))
    })?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    data.get(start + 4..start + 4 + len).ok_or_else(|| {
        bad(format!(
            "result buffer at {start:#x} claims {len} bytes, past the end of memory"
        ))
    })
}

fn core_describe(
    store: &mut Store<StoreState>,
    c: &CoreExports,
    module: &Inner,
) -> Result<ModuleInfo, WasmError> {
    let version = c
        .version
        .call(&mut *store, ())
        .map_err(|e| map_error(module, e))?;
    let ptr = c
        .describe
        .call(&mut *store, ())
        .map_err(|e| map_error(module, e))?;
    let payload = read_result(store, &c.memory, ptr)?;
    super::describe::parse_info(&module.path, version, payload)
}

/// Hands the batch to a core module and calls `mongoshift_transform`;
/// returns the pointer to its result buffer.
fn core_call(
    store: &mut Store<StoreState>,
    c: &CoreExports,
    module: &Inner,
    direction: Direction,
    batch: &[u8],
) -> Result<i32, WasmError> {
    let alloc_failed = |reason: String| WasmError::Alloc {
        bytes: batch.len(),
        reason,
    };
    let len = i32::try_from(batch.len())
        .map_err(|_| alloc_failed("a batch must be under 2 GiB; lower batch_size".into()))?;
    let ptr = c
        .alloc
        .call(&mut *store, len)
        .map_err(|e| alloc_failed(map_error(module, e).to_string()))?;
    if ptr == 0 {
        return Err(alloc_failed("it returned 0 (no memory for them)".into()));
    }
    c.memory
        .write(&mut *store, ptr as u32 as usize, batch)
        .map_err(|_| alloc_failed(format!("it returned {ptr:#x}, which has no room for them")))?;
    let dir = match direction {
        Direction::Up => 0,
        Direction::Down => 1,
    };
    c.transform
        .call(&mut *store, (dir, ptr, len))
        .map_err(|e| map_error(module, e))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use bson::{doc, oid::ObjectId, Document, RawDocumentBuf};

    use super::super::{check_output, TransformModule};
    use super::*;
    use crate::wasm::SandboxLimits;

    fn bytes(d: &Document) -> Vec<u8> {
        RawDocumentBuf::from_document(d).expect("raw").into_bytes()
    }

    fn emit_v2() -> TransformModule {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../guest-sdk/wat/emit_v2.wat"
        ));
        TransformModule::load(path, SandboxLimits::default()).expect("emit_v2.wat loads")
    }

    #[test]
    fn the_wat_example_upserts_one_copy_per_document() {
        let module = emit_v2();
        assert_eq!(module.info().contract_version, 2);
        let oid = ObjectId::new();
        let docs = [
            doc! { "_id": 1, "a": "x" },
            doc! { "_id": oid },
            doc! { "_id": "s-1" },
        ];
        let lookups = [
            bytes(&doc! { "org": [{ "_id": 9 }], "tags": [] }),
            bytes(&doc! {}),
            bytes(&doc! { "org": [] }),
        ];
        let batch: Vec<u8> = docs.iter().flat_map(bytes).collect();
        let mut inst = module.instantiate().expect("instance");
        let input = crate::wasm::interleave(&batch, Some(&lookups));
        let (outcomes, outputs) = inst
            .transform_with_outputs(Direction::Up, &input, 3)
            .expect("runs");
        assert_eq!(outcomes, [Outcome::Keep, Outcome::Keep, Outcome::Keep]);
        let expected = [
            doc! { "_id": 1, "n": 2 },
            doc! { "_id": oid, "n": 0 },
            doc! { "_id": "s-1", "n": 1 },
        ];
        for (out, want) in outputs.iter().zip(&expected) {
            assert_eq!(
                out,
                &[Output {
                    op: OutputOp::Upsert,
                    collection: "copies".into(),
                    document: bytes(want),
                }]
            );
            assert_eq!(check_output(&out[0]), Ok(()));
        }
        // The instance is reused batch after batch.
        let (_, again) = inst
            .transform_with_outputs(Direction::Up, &crate::wasm::interleave(&batch, None), 3)
            .expect("runs again");
        assert_eq!(again[0][0].document, bytes(&doc! { "_id": 1, "n": 0 }));
    }

    #[test]
    fn outputs_through_the_version_1_call_fail_the_batch() {
        let batch = bytes(&doc! { "_id": 7 });
        let mut inst = emit_v2().instantiate().expect("instance");
        let e = inst
            .transform(Direction::Up, &batch, 1)
            .expect_err("outputs would be lost");
        assert_eq!(e.document_index(), Some(0));
        assert!(e.to_string().contains("transform_with_outputs"), "{e}");
        assert!(inst.is_poisoned());
    }

    #[test]
    fn a_version_1_module_has_no_outputs() {
        // Keeps the one document of a batch of one.
        let wat = r#"(module
          (memory (export "memory") 1)
          (data (i32.const 1024) "\27\00\00\00\27\00\00\00\02name\00\02\00\00\00k\00\10contract_version\00\01\00\00\00\00")
          (data (i32.const 2048) "\09\00\00\00\01\00\00\00\00\00\00\00\00")
          (func (export "mongoshift_contract_version") (result i32) (i32.const 1))
          (func (export "mongoshift_describe") (result i32) (i32.const 1024))
          (func (export "mongoshift_alloc") (param i32) (result i32) (i32.const 4096))
          (func (export "mongoshift_transform") (param i32 i32 i32) (result i32) (i32.const 2048)))"#;
        let module = TransformModule::from_bytes(
            Path::new("v1.wat"),
            wat.as_bytes(),
            SandboxLimits::default(),
        )
        .expect("loads");
        assert_eq!(module.info().contract_version, 1);
        let mut inst = module.instantiate().expect("instance");
        let batch = bytes(&doc! { "_id": 1 });
        let (outcomes, outputs) = inst
            .transform_with_outputs(Direction::Up, &batch, 1)
            .expect("runs");
        assert_eq!((outcomes, outputs), (vec![Outcome::Keep], vec![vec![]]));
    }
}
