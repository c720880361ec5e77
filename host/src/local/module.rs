//! A Wasm migration's module and output schema, loaded the one way every
//! path loads them: `up`, `down`, dry runs, `test` and `run`.

use std::sync::Arc;

use crate::error::{MigrateError, Result};
use crate::manifest::WasmSpec;
use crate::source::Migration;
use crate::wasm::{CompileLimits, SandboxLimits, TransformModule};

/// Loads the module of `m` under the limits its manifest sets.
pub(crate) fn load_wasm(m: &Migration, spec: &WasmSpec) -> Result<TransformModule> {
    let path = m.base_dir.join(&spec.module);
    let module = CompileLimits::from_env().and_then(|compile| {
        let limits = SandboxLimits::default()
            .deadline(std::time::Duration::from_millis(spec.deadline_ms))
            .memory_bytes(spec.memory_limit_mb << 20)
            .compile(compile);
        TransformModule::load(&path, limits)
    });
    module.map_err(|source| MigrateError::Module {
        migration: m.id.clone(),
        source: Box::new(source),
    })
}

/// The validator of the manifest's `schema`, when it has one.
pub(crate) fn compile_schema(spec: &WasmSpec) -> Option<Arc<jsonschema::Validator>> {
    // Checked when the manifest was parsed.
    spec.schema
        .as_ref()
        .and_then(|s| jsonschema::validator_for(s).ok())
        .map(Arc::new)
}
