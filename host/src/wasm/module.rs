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
/// preview 1 and the contract's `env` functions (`log`, and
/// AssemblyScript's `abort`).
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
    super::host_functions::add_to_linker(&mut linker).map_err(invalid(path))?;
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

    /// A component of world `transform-v2`, written out by hand: it keeps
    /// each document (or, with `fail`, fails it with the message "copies")
    /// and upserts it, as it is, into `copies`. Its info says contract
    /// version `version`.
    fn copies_component(version: u8, fail: bool) -> Vec<u8> {
        let wat = r#"(component
  (core module $m
    (memory (export "memory") 1)
    (global $heap (mut i32) (i32.const 4096))
    (data (i32.const 16) "copies-v2")
    (data (i32.const 32) "copies")
    ;; info: name (16, 9), contract-version, backward false, no reads, no writes
    (data (i32.const 64) "\10\00\00\00\09\00\00\00VERSION\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00")
    (func $alloc (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
      (global.set $heap (i32.add (local.get $p) (local.get 3)))
      (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
        (then (drop (memory.grow (i32.add (i32.const 1)
          (i32.div_u (i32.sub (global.get $heap) (i32.mul (memory.size) (i32.const 65536))) (i32.const 65536)))))))
      (local.get $p))
    (func (export "describe") (result i32) (i32.const 64))
    ;; transform(dir, batch, len) -> pointer to (results, count)
    (func (export "transform") (param $dir i32) (param $p i32) (param $len i32) (result i32)
      (local $end i32) (local $q i32) (local $n i32) (local $i i32)
      (local $results i32) (local $outputs i32) (local $r i32) (local $o i32) (local $ret i32)
      (local.set $end (i32.add (local.get $p) (local.get $len)))
      ;; count the documents (every other BSON document is a lookups document)
      (local.set $q (local.get $p))
      (block $done (loop $next
        (br_if $done (i32.ge_u (local.get $q) (local.get $end)))
        (local.set $q (i32.add (local.get $q) (i32.load (local.get $q))))
        (local.set $q (i32.add (local.get $q) (i32.load (local.get $q))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $next)))
      (local.set $results (call $alloc (i32.const 0) (i32.const 0) (i32.const 4) (i32.mul (local.get $n) (i32.const 20))))
      (local.set $outputs (call $alloc (i32.const 0) (i32.const 0) (i32.const 4) (i32.mul (local.get $n) (i32.const 20))))
      (local.set $q (local.get $p))
      (block $done (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $r (i32.add (local.get $results) (i32.mul (local.get $i) (i32.const 20))))
        (local.set $o (i32.add (local.get $outputs) (i32.mul (local.get $i) (i32.const 20))))
        ;; result: keep (or fail), outputs (o, 1)
        OUTCOME
        (i32.store (i32.add (local.get $r) (i32.const 12)) (local.get $o))
        (i32.store (i32.add (local.get $r) (i32.const 16)) (i32.const 1))
        ;; output: upsert, "copies", the document
        (i32.store8 (local.get $o) (i32.const 1))
        (i32.store (i32.add (local.get $o) (i32.const 4)) (i32.const 32))
        (i32.store (i32.add (local.get $o) (i32.const 8)) (i32.const 6))
        (i32.store (i32.add (local.get $o) (i32.const 12)) (local.get $q))
        (i32.store (i32.add (local.get $o) (i32.const 16)) (i32.load (local.get $q)))
        (local.set $q (i32.add (local.get $q) (i32.load (local.get $q))))
        (local.set $q (i32.add (local.get $q) (i32.load (local.get $q))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
      (local.set $ret (call $alloc (i32.const 0) (i32.const 0) (i32.const 4) (i32.const 8)))
      (i32.store (local.get $ret) (local.get $results))
      (i32.store (i32.add (local.get $ret) (i32.const 4)) (local.get $n))
      (local.get $ret)))
  (core instance $i (instantiate $m))
  (type $direction' (enum "forward" "backward"))
  (export $direction "direction" (type $direction'))
  (type $outcome' (variant (case "keep") (case "replace" (list u8)) (case "delete") (case "fail" string)))
  (export $outcome "outcome" (type $outcome'))
  (type $op' (enum "insert" "upsert" "delete"))
  (export $op "output-op" (type $op'))
  (type $output' (record (field "op" $op) (field "collection" string) (field "document" (list u8))))
  (export $output "output" (type $output'))
  (type $result' (record (field "outcome" $outcome) (field "outputs" (list $output))))
  (export $result "document-result" (type $result'))
  (type $info' (record (field "name" string) (field "contract-version" u32) (field "backward" bool)
    (field "reads" (list string)) (field "writes" (list string))))
  (export $info "info" (type $info'))
  (func (export "describe") (result $info)
    (canon lift (core func $i "describe") (memory (core memory $i "memory"))))
  (func (export "transform") (param "dir" $direction) (param "batch" (list u8)) (result (list $result))
    (canon lift (core func $i "transform") (memory (core memory $i "memory")) (realloc (core func $i "cabi_realloc")))))"#;
        let outcome = if fail {
            "(i32.store8 (local.get $r) (i32.const 3))
            (i32.store (i32.add (local.get $r) (i32.const 4)) (i32.const 32))
            (i32.store (i32.add (local.get $r) (i32.const 8)) (i32.const 6))"
        } else {
            "(i32.store8 (local.get $r) (i32.const 0))"
        };
        let wat = wat
            .replace("VERSION", &format!("\\{version:02x}\\00\\00\\00"))
            .replace("OUTCOME", outcome);
        wat::parse_str(wat).expect("valid component text")
    }

    #[test]
    fn a_component_of_the_version_2_world_loads_and_runs() {
        let module = TransformModule::from_bytes(
            Path::new("copies.wasm"),
            &copies_component(2, false),
            SandboxLimits::default(),
        )
        .expect("loads");
        assert_eq!(module.flavor(), ModuleFlavor::Component);
        assert_eq!(module.info().contract_version, 2);
        let docs: Vec<Vec<u8>> = [bson::doc! { "_id": 1 }, bson::doc! { "_id": "b", "x": [1] }]
            .iter()
            .map(|d| {
                bson::RawDocumentBuf::from_document(d)
                    .expect("raw")
                    .into_bytes()
            })
            .collect();
        let mut inst = module.instantiate().expect("instance");
        let (outcomes, outputs) = inst
            .transform_with_outputs(
                crate::progress::Direction::Up,
                &super::super::interleave(&docs.concat(), None),
                2,
            )
            .expect("runs");
        assert_eq!(
            outcomes,
            [crate::batch::Outcome::Keep, crate::batch::Outcome::Keep]
        );
        for (doc, out) in docs.iter().zip(&outputs) {
            assert_eq!(
                out,
                &[crate::batch::Output {
                    op: crate::batch::OutputOp::Upsert,
                    collection: "copies".into(),
                    document: doc.clone(),
                }]
            );
        }
    }

    #[test]
    fn a_component_must_describe_the_version_of_its_world() {
        let e = TransformModule::from_bytes(
            Path::new("copies.wasm"),
            &copies_component(1, false),
            SandboxLimits::default(),
        )
        .expect_err("describes version 1");
        assert_eq!(
            e.to_string(),
            "module copies.wasm describes itself as contract version 1, but it exports the world of contract version 2 (mongoshift:transform@2.0.0); build it so the two agree (mongoshift-guest does)"
        );
    }

    #[test]
    fn a_component_failing_a_document_with_outputs_is_refused_naming_it() {
        let module = TransformModule::from_bytes(
            Path::new("copies.wasm"),
            &copies_component(2, true),
            SandboxLimits::default(),
        )
        .expect("loads");
        let doc = bson::RawDocumentBuf::from_document(&bson::doc! { "_id": 1 }).expect("raw");
        let e = module
            .instantiate()
            .expect("instance")
            .transform_with_outputs(
                crate::progress::Direction::Up,
                &super::super::interleave(doc.as_bytes(), None),
                1,
            )
            .expect_err("a failed document writes nothing");
        assert_eq!(e.document_index(), Some(0));
        assert!(
            e.to_string()
                .contains("its outcome is fail but it emitted 1 outputs"),
            "{e}"
        );
    }
}
