//! One instance of a transform with its own store, reused across batches by one
//! worker thread.

use std::sync::Arc;

use wasmtime::{Instance, Memory, Store, Trap, TypedFunc};

use super::bindings::{self, Transform};
use super::linked::{Inner, ModuleInfo, Pre};
use super::outcome::parse_outcomes;
use super::sandbox::StoreState;
use crate::batch::Outcome;
use crate::error::WasmError;
use crate::progress::Direction;
use crate::text;

enum Bound {
    Component(Transform),
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

    /// Calls `describe`.
    pub fn describe(&mut self) -> Result<ModuleInfo, WasmError> {
        self.store
            .set_epoch_deadline(self.module.limits.deadline_ticks());
        let res = match &self.bound {
            Bound::Component(t) => t
                .call_describe(&mut self.store)
                .map(|i| ModuleInfo {
                    name: i.name,
                    contract_version: i.contract_version,
                    backward: i.backward,
                    reads: i.reads,
                    writes: i.writes,
                })
                .map_err(|e| map_error(&self.module, e)),
            Bound::Core(c) => core_describe(&mut self.store, c, &self.module),
        };
        if res.is_err() {
            self.poisoned = true;
        }
        res
    }

    /// Transforms one batch of concatenated BSON documents (`count` of them)
    /// and returns one outcome per document. Outcomes are checked for shape
    /// (count, records, tags); the caller checks replacements against their
    /// inputs.
    pub fn transform(
        &mut self,
        direction: Direction,
        batch: &[u8],
        count: usize,
    ) -> Result<Vec<Outcome>, WasmError> {
        self.store
            .set_epoch_deadline(self.module.limits.deadline_ticks());
        let res = match &self.bound {
            Bound::Component(t) => {
                let dir = match direction {
                    Direction::Up => bindings::Direction::Forward,
                    Direction::Down => bindings::Direction::Backward,
                };
                t.call_transform(&mut self.store, dir, batch)
                    .map_err(|e| map_error(&self.module, e))
                    .and_then(|outs| component_outcomes(outs, count))
            }
            Bound::Core(c) => {
                core_transform(&mut self.store, c, &self.module, direction, batch, count)
            }
        };
        if res.is_err() {
            self.poisoned = true;
        }
        res
    }
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

fn core_transform(
    store: &mut Store<StoreState>,
    c: &CoreExports,
    module: &Inner,
    direction: Direction,
    batch: &[u8],
    count: usize,
) -> Result<Vec<Outcome>, WasmError> {
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
    let res = c
        .transform
        .call(&mut *store, (dir, ptr, len))
        .map_err(|e| map_error(module, e))?;
    // Parsed where the guest left it: each replacement is copied once.
    parse_outcomes(read_result(store, &c.memory, res)?, count).map_err(WasmError::InvalidOutcome)
}
