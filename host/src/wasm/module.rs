//! Loading a transform module: detect its flavour, check what it would cost to
//! compile, compile it once (or load its authenticated cached artifact), check
//! its imports and exports, pre-link it, and ask it to describe itself.

use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker as ComponentLinker};
use wasmtime::{Engine, ExternType, Linker, Module};

use super::bindings::{v2, TransformPre};
use super::cache::{Cache, CacheOutcome};
use super::describe::{supports, CONTRACT_VERSION};
use super::engine::engine;
use super::instance::TransformInstance;
use super::linked::{Inner, ModuleFlavor, ModuleInfo, Pre};
use super::sandbox::{check_component_import, check_core_import, SandboxLimits, StoreState};
use crate::error::WasmError;

/// A loaded, checked and pre-linked transform. Cheap to clone; create one
/// [`TransformInstance`] per worker thread with [`TransformModule::instantiate`].
#[derive(Clone)]
pub struct TransformModule {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TransformModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransformModule")
            .field("path", &self.inner.path)
            .field("flavor", &self.inner.flavor)
            .field("info", &self.inner.info)
            .finish()
    }
}

impl TransformModule {
    /// Loads the module at `path` with these limits. A file larger than the
    /// compile limits allow is refused before it is read.
    pub fn load(path: &Path, limits: SandboxLimits) -> Result<TransformModule, WasmError> {
        let read = |source| WasmError::Read {
            path: path.to_path_buf(),
            source,
        };
        let len = std::fs::metadata(path).map_err(read)?.len();
        limits.compile.check_size(path, len)?;
        let bytes = std::fs::read(path).map_err(read)?;
        Self::from_bytes(path, &bytes, limits)
    }

    /// Loads a module from bytes; `path` names it in messages. WAT text is
    /// accepted too (for tests and the smallest examples). A module beyond
    /// `limits.compile` is refused before it is compiled.
    pub fn from_bytes(
        path: &Path,
        bytes: &[u8],
        limits: SandboxLimits,
    ) -> Result<TransformModule, WasmError> {
        let is_wat = path.extension().is_some_and(|e| e == "wat");
        let binary: std::borrow::Cow<'_, [u8]> = if is_wat {
            std::borrow::Cow::Owned(
                wat::parse_bytes(bytes)
                    .map_err(|e| WasmError::Invalid {
                        path: path.to_path_buf(),
                        message: e.to_string(),
                    })?
                    .into_owned(),
            )
        } else {
            std::borrow::Cow::Borrowed(bytes)
        };
        if binary.len() < 8 || &binary[..4] != b"\0asm" {
            return Err(WasmError::NotWasm {
                path: path.to_path_buf(),
            });
        }
        // Bytes 4..8: version 1 + layer 0 for a core module, layer 1 for a component.
        let flavor = if binary[6..8] == [1, 0] {
            ModuleFlavor::Component
        } else {
            ModuleFlavor::Core
        };
        limits.compile.check(path, &binary)?;
        let sha256 = hex::encode(Sha256::digest(&binary));
        let cache = Cache::open()?;
        let (pre, cached) = match flavor {
            ModuleFlavor::Component => link_component(path, &cache, &binary, &sha256)?,
            ModuleFlavor::Core => link_core(path, &cache, &binary, &sha256)?,
        };
        let placeholder = ModuleInfo {
            name: String::new(),
            contract_version: 0,
            backward: false,
            reads: vec![],
            writes: vec![],
        };
        let mut module = TransformModule {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                flavor,
                limits,
                info: placeholder,
                pre,
                sha256,
                cache: cached,
            }),
        };
        // Describe once, on a throwaway instance, and check the contract version.
        let mut probe = module.instantiate()?;
        let info = probe.describe()?;
        if !supports(info.contract_version) {
            return Err(WasmError::ContractVersion {
                path: path.to_path_buf(),
                found: info.contract_version,
                supported: CONTRACT_VERSION,
            });
        }
        // A component's batch layout is the world's: describe must not
        // promise another.
        if let Some(world) = module.inner.pre.world_version() {
            if world != info.contract_version {
                return Err(WasmError::WorldVersion {
                    path: path.to_path_buf(),
                    described: info.contract_version,
                    world,
                });
            }
        }
        drop(probe);
        Arc::get_mut(&mut module.inner)
            .expect("no other handle yet")
            .info = info;
        Ok(module)
    }

    /// A fresh instance with its own store.
    pub fn instantiate(&self) -> Result<TransformInstance, WasmError> {
        TransformInstance::new(self.inner.clone())
    }

    /// What the module says about itself.
    pub fn info(&self) -> &ModuleInfo {
        &self.inner.info
    }

    /// Component or core module.
    pub fn flavor(&self) -> ModuleFlavor {
        self.inner.flavor
    }

    /// The file it came from.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// SHA-256 of the binary.
    pub fn sha256(&self) -> &str {
        &self.inner.sha256
    }

    /// What the compiled-module cache did when this module was loaded.
    pub fn cache(&self) -> &CacheOutcome {
        &self.inner.cache
    }

    /// What to tell the user about the cache, when there is something: a
    /// cached artifact that was not run, or a cache that was not used.
    pub fn cache_warning(&self) -> Option<String> {
        self.inner.cache.warning(&self.inner.path)
    }
}

fn invalid(path: &Path) -> impl Fn(wasmtime::Error) -> WasmError + '_ {
    |e| WasmError::Invalid {
        path: path.to_path_buf(),
        message: format!("{e:#}"),
    }
}

/// Compiles (or loads) a component, checks it and pre-links it with WASI.
fn link_component(
    path: &Path,
    cache: &Cache,
    binary: &[u8],
    sha: &str,
) -> Result<(Pre, CacheOutcome), WasmError> {
    let engine = engine();
    let (component, cached) =
        compile::<Component>(cache, engine, binary, sha).map_err(invalid(path))?;
    check_component(path, engine, &component)?;
    let mut linker = ComponentLinker::<StoreState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(invalid(path))?;
    let pre = linker.instantiate_pre(&component).map_err(invalid(path))?;
    // Version 1's world, else version 2's: the world a component exports
    // decides the layout of its batches.
    if let Ok(v1) = TransformPre::new(pre.clone()) {
        return Ok((Pre::Component(v1), cached));
    }
    let pre = v2::TransformV2Pre::new(pre).map_err(|_| {
        // The world's two functions; the one the component lacks (or has
        // with another type) is named.
        let exports: Vec<String> = component
            .component_type()
            .exports(engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let export = ["describe", "transform"]
            .into_iter()
            .find(|f| !exports.iter().any(|e| e == f))
            .unwrap_or("transform");
        WasmError::MissingExport {
            path: path.to_path_buf(),
            export: export.into(),
        }
    })?;
    Ok((Pre::ComponentV2(pre), cached))
}

/// Compiles (or loads) a core module, checks it and pre-links it with WASI
/// preview 1 and AssemblyScript's `env.abort`.
fn link_core(
    path: &Path,
    cache: &Cache,
    binary: &[u8],
    sha: &str,
) -> Result<(Pre, CacheOutcome), WasmError> {
    let engine = engine();
    let (module, cached) = compile::<Module>(cache, engine, binary, sha).map_err(invalid(path))?;
    check_core(path, &module)?;
    let mut linker = Linker::<StoreState>::new(engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s: &mut StoreState| {
        s.p1.as_mut()
            .expect("core-module stores carry a preview1 context")
    })
    .map_err(invalid(path))?;
    linker
        .func_wrap(
            "env",
            "abort",
            |_: i32, _: i32, line: i32, col: i32| -> wasmtime::Result<()> {
                Err(wasmtime::Error::msg(format!(
                    "the guest called abort (line {line}, column {col})"
                )))
            },
        )
        .map_err(invalid(path))?;
    let pre = linker.instantiate_pre(&module).map_err(invalid(path))?;
    Ok((Pre::Core(pre), cached))
}

/// What the cache compiles and keeps: a component or a core module.
trait Artifact: Sized {
    fn compile(engine: &Engine, binary: &[u8]) -> wasmtime::Result<Self>;
    /// # Safety
    /// Only on bytes this program serialized for this engine (see
    /// `Cache::compile`, which authenticates them first).
    unsafe fn load(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self>;
    fn save(&self) -> wasmtime::Result<Vec<u8>>;
}

impl Artifact for Component {
    fn compile(engine: &Engine, binary: &[u8]) -> wasmtime::Result<Self> {
        Component::new(engine, binary)
    }
    unsafe fn load(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self> {
        // SAFETY: the caller's contract.
        unsafe { Component::deserialize(engine, bytes) }
    }
    fn save(&self) -> wasmtime::Result<Vec<u8>> {
        self.serialize()
    }
}

impl Artifact for Module {
    fn compile(engine: &Engine, binary: &[u8]) -> wasmtime::Result<Self> {
        Module::new(engine, binary)
    }
    unsafe fn load(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self> {
        // SAFETY: the caller's contract.
        unsafe { Module::deserialize(engine, bytes) }
    }
    fn save(&self) -> wasmtime::Result<Vec<u8>> {
        self.serialize()
    }
}

/// Compiles `binary`, or loads what the cache kept of it.
fn compile<T: Artifact>(
    cache: &Cache,
    engine: &Engine,
    binary: &[u8],
    sha: &str,
) -> wasmtime::Result<(T, CacheOutcome)> {
    // SAFETY: see `Cache::compile`: only authenticated artifacts.
    cache.compile(
        engine,
        binary,
        sha,
        T::compile,
        |e, b| unsafe { T::load(e, b) },
        T::save,
    )
}

fn check_component(path: &Path, engine: &Engine, component: &Component) -> Result<(), WasmError> {
    let ty = component.component_type();
    for (name, _) in ty.imports(engine) {
        if let Some(why) = check_component_import(name) {
            return Err(WasmError::DisallowedImport {
                path: path.to_path_buf(),
                import: name.to_string(),
                why,
            });
        }
    }
    for export in ["describe", "transform"] {
        if ty.get_export(engine, export).is_none() {
            return Err(WasmError::MissingExport {
                path: path.to_path_buf(),
                export: export.into(),
            });
        }
    }
    Ok(())
}

fn check_core(path: &Path, module: &Module) -> Result<(), WasmError> {
    for import in module.imports() {
        if let Some(why) = check_core_import(import.module(), import.name()) {
            return Err(WasmError::DisallowedImport {
                path: path.to_path_buf(),
                import: format!("{}.{}", import.module(), import.name()),
                why,
            });
        }
    }
    let exports: Vec<(String, ExternType)> = module
        .exports()
        .map(|e| (e.name().to_string(), e.ty()))
        .collect();
    for (name, want_func) in [
        ("memory", false),
        ("mongoshift_contract_version", true),
        ("mongoshift_alloc", true),
        ("mongoshift_describe", true),
        ("mongoshift_transform", true),
    ] {
        let ok = exports
            .iter()
            .any(|(n, t)| n == name && matches!(t, ExternType::Func(_)) == want_func);
        if !ok {
            return Err(WasmError::MissingExport {
                path: path.to_path_buf(),
                export: name.into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn missing(wat: &str) -> String {
        let wasm = wat::parse_str(wat).expect("valid component text");
        match TransformModule::from_bytes(Path::new("g.wasm"), &wasm, SandboxLimits::default()) {
            Err(WasmError::MissingExport { export, .. }) => export,
            Err(e) => panic!("another error: {e}"),
            Ok(_) => panic!("loaded"),
        }
    }

    #[test]
    fn a_component_without_a_contract_function_names_the_one_it_lacks() {
        assert_eq!(missing("(component)"), "describe");
        let describe_only = r#"(component
            (core module $m (func (export "d")))
            (core instance $i (instantiate $m))
            (func (export "describe") (canon lift (core func $i "d"))))"#;
        assert_eq!(missing(describe_only), "transform");
    }
}
