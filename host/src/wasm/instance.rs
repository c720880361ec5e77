//! One instance of a transform with its own store, reused across batches by one
//! worker thread.

use std::sync::Arc;

use wasmtime::{Instance, Memory, Store, Trap, TypedFunc};

use super::bindings::{self, Transform};
use super::error::WasmError;
use super::module::{Inner, ModuleInfo, Pre};
use super::sandbox::StoreState;
use crate::progress::Direction;

/// What the transform decided for one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Leave it.
    Keep,
    /// Replace it with these BSON bytes.
    Replace(Vec<u8>),
    /// Delete it.
    Delete,
    /// It cannot be transformed.
    Fail(String),
}

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
            Bound::Component(t) => t.call_describe(&mut self.store).map(|i| ModuleInfo {
                name: i.name,
                contract_version: i.contract_version,
                backward: i.backward,
                reads: i.reads,
                writes: i.writes,
            }),
            Bound::Core(c) => core_describe(&mut self.store, c),
        };
        res.map_err(|e| {
            self.poisoned = true;
            map_error(&self.module, e)
        })
    }

    /// Transforms one batch of concatenated BSON documents (`count` of them)
    /// and returns one outcome per document. Outcomes are checked for shape
    /// (count, tags); the caller checks replacements against their inputs.
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
                t.call_transform(&mut self.store, dir, batch).map(|outs| {
                    outs.into_iter()
                        .map(|o| match o {
                            bindings::Outcome::Keep => Outcome::Keep,
                            bindings::Outcome::Replace(b) => Outcome::Replace(b),
                            bindings::Outcome::Delete => Outcome::Delete,
                            bindings::Outcome::Fail(m) => Outcome::Fail(m),
                        })
                        .collect::<Vec<_>>()
                })
            }
            Bound::Core(c) => core_transform(&mut self.store, c, direction, batch),
        };
        let outcomes = res.map_err(|e| {
            self.poisoned = true;
            map_error(&self.module, e)
        })?;
        if outcomes.len() != count {
            self.poisoned = true;
            return Err(WasmError::InvalidOutput {
                message: format!(
                    "{} outcomes for a batch of {count} documents (there must be one per document)",
                    outcomes.len()
                ),
            });
        }
        Ok(outcomes)
    }
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
    if let Some(inv) = e.downcast_ref::<InvalidOutput>() {
        return WasmError::InvalidOutput {
            message: inv.0.clone(),
        };
    }
    WasmError::Trap {
        message: text.replace('\n', " | "),
    }
}

/// A core module's result buffer broke the ABI.
#[derive(Debug)]
struct InvalidOutput(String);

impl std::fmt::Display for InvalidOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidOutput {}

fn bad(msg: impl Into<String>) -> wasmtime::Error {
    wasmtime::Error::new(InvalidOutput(msg.into()))
}

/// Reads a result buffer (`u32 length`, then the payload) at `ptr`.
fn read_result<'a>(
    store: &'a Store<StoreState>,
    memory: &Memory,
    ptr: i32,
) -> wasmtime::Result<&'a [u8]> {
    let data = memory.data(store);
    let start = ptr as u32 as usize;
    let header = data.get(start..start + 4).ok_or_else(|| {
        bad(format!(
            "result pointer {start:#x} is outside the module's memory ({} bytes)",
            data.len()
        ))
    })?;
    let len = u32::from_le_bytes(header.try_into().expect("4 bytes")) as usize;
    let payload = data.get(start + 4..start + 4 + len).ok_or_else(|| {
        bad(format!(
            "result buffer at {start:#x} claims {len} bytes, past the end of memory"
        ))
    })?;
    Ok(payload)
}

fn core_describe(store: &mut Store<StoreState>, c: &CoreExports) -> wasmtime::Result<ModuleInfo> {
    let version = c.version.call(&mut *store, ())?;
    let ptr = c.describe.call(&mut *store, ())?;
    let payload = read_result(store, &c.memory, ptr)?;
    let doc = bson::Document::from_reader(payload)
        .map_err(|e| bad(format!("describe did not return a BSON document: {e}")))?;
    let strings = |key: &str| -> Vec<String> {
        doc.get_array(key)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let contract_version = match doc.get("contract_version") {
        Some(bson::Bson::Int32(v)) => *v as u32,
        Some(bson::Bson::Int64(v)) => *v as u32,
        _ => version as u32,
    };
    Ok(ModuleInfo {
        name: doc.get_str("name").unwrap_or_default().to_string(),
        contract_version: if version as u32 != contract_version {
            version as u32
        } else {
            contract_version
        },
        backward: doc.get_bool("backward").unwrap_or(false),
        reads: strings("reads"),
        writes: strings("writes"),
    })
}

fn core_transform(
    store: &mut Store<StoreState>,
    c: &CoreExports,
    direction: Direction,
    batch: &[u8],
) -> wasmtime::Result<Vec<Outcome>> {
    let len = i32::try_from(batch.len()).map_err(|_| bad("batch larger than 2 GiB"))?;
    let ptr = c.alloc.call(&mut *store, len)?;
    if ptr == 0 {
        return Err(bad(format!(
            "mongoshift_alloc could not allocate {len} bytes"
        )));
    }
    c.memory
        .write(&mut *store, ptr as u32 as usize, batch)
        .map_err(|_| {
            bad(format!(
                "mongoshift_alloc returned {ptr:#x}, which has no room for {len} bytes"
            ))
        })?;
    let dir = match direction {
        Direction::Up => 0,
        Direction::Down => 1,
    };
    let res = c.transform.call(&mut *store, (dir, ptr, len))?;
    // Parsed where the guest left it: each replacement is copied once.
    parse_outcomes(read_result(store, &c.memory, res)?)
}

/// Parses the outcomes payload of ABI.md.
fn parse_outcomes(p: &[u8]) -> wasmtime::Result<Vec<Outcome>> {
    let u32_at = |at: usize| -> wasmtime::Result<u32> {
        p.get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
            .ok_or_else(|| bad(format!("outcomes end early at byte {at}")))
    };
    let count = u32_at(0)? as usize;
    let mut out = Vec::with_capacity(count.min(1 << 20));
    let mut at = 4;
    for i in 0..count {
        let tag = *p
            .get(at)
            .ok_or_else(|| bad(format!("outcomes end early at outcome {i}")))?;
        let n = u32_at(at + 1)? as usize;
        let body = p
            .get(at + 5..at + 5 + n)
            .ok_or_else(|| bad(format!("outcome {i} claims {n} bytes past the end")))?;
        out.push(match tag {
            0 => Outcome::Keep,
            1 => Outcome::Replace(body.to_vec()),
            2 => Outcome::Delete,
            3 => Outcome::Fail(String::from_utf8_lossy(body).into_owned()),
            t => {
                return Err(bad(format!(
                    "outcome {i} has unknown tag {t} (0 keep, 1 replace, 2 delete, 3 fail)"
                )))
            }
        });
        at += 5 + n;
    }
    Ok(out)
}
