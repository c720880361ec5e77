//! The one process-wide engine and the on-disk cache of compiled artifacts.

use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

use super::error::WasmError;

/// How often the epoch advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The largest memory any instance may have, whatever the manifest says.
pub const MAX_MEMORY_BYTES: u64 = 4 << 30;

/// The process-wide engine, created on first use, with its epoch ticker.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let engine = Engine::new(&config()).unwrap_or_else(|_| {
            // The pooling allocator can fail to reserve its address space on
            // machines with a small virtual-memory limit: fall back to on-demand.
            let mut c = config();
            c.allocation_strategy(InstanceAllocationStrategy::OnDemand);
            Engine::new(&c).expect("the fallback wasmtime configuration is valid")
        });
        let ticker = engine.weak();
        std::thread::Builder::new()
            .name("mongoshift-epoch".into())
            .spawn(move || loop {
                std::thread::sleep(EPOCH_TICK);
                match ticker.upgrade() {
                    Some(e) => e.increment_epoch(),
                    None => return,
                }
            })
            .expect("start the epoch thread");
        engine
    })
}

fn config() -> Config {
    let mut c = Config::new();
    c.wasm_component_model(true)
        .epoch_interruption(true)
        .cranelift_opt_level(OptLevel::Speed)
        .parallel_compilation(true);
    // For profiling guests with `perf` (writes /tmp/perf-<pid>.map).
    if std::env::var_os("MONGOSHIFT_WASM_PERFMAP").is_some() {
        c.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    let mut pool = PoolingAllocationConfig::default();
    // Enough slots for a worker per core and a few spares, several runs at once.
    pool.total_component_instances(256)
        .total_core_instances(1024)
        .total_memories(512)
        .total_tables(512)
        .max_memories_per_component(16)
        .max_tables_per_component(16)
        .max_core_instances_per_component(64)
        .max_memory_size(MAX_MEMORY_BYTES as usize);
    c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    c
}

/// The part of the cache key that describes the engine: wasmtime's version and
/// its own hash of every setting that affects compiled code.
pub fn engine_fingerprint(engine: &Engine) -> String {
    struct ShaHasher(Sha256);
    impl Hasher for ShaHasher {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut h = ShaHasher(Sha256::new());
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut h);
    h.0.update(env!("CARGO_PKG_VERSION").as_bytes());
    format!(
        "wasmtime-{}-{}",
        wasmtime_version(),
        &hex::encode(h.0.finalize())[..16]
    )
}

fn wasmtime_version() -> &'static str {
    // Kept in step with Cargo.toml by a unit test below.
    "48"
}

/// Where compiled artifacts are kept: `$MONGOSHIFT_CACHE/wasm` or
/// `~/.cache/mongoshift/wasm`. `MONGOSHIFT_WASM_CACHE=off` disables it.
pub fn cache_dir() -> Option<PathBuf> {
    if std::env::var("MONGOSHIFT_WASM_CACHE").is_ok_and(|v| v == "off") {
        return None;
    }
    let root = std::env::var_os("MONGOSHIFT_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|p| PathBuf::from(p).join("mongoshift")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/mongoshift")))?;
    Some(root.join("wasm"))
}

/// The cache file of a module: keyed by the module's SHA-256, the wasmtime
/// version and the engine configuration.
pub(crate) fn cache_path(dir: &Path, module_sha: &str, engine: &Engine) -> PathBuf {
    dir.join(format!("{module_sha}-{}.cwasm", engine_fingerprint(engine)))
}

/// Writes an artifact atomically with a SHA-256 trailer file, so a torn or
/// altered file is never loaded.
pub(crate) fn store_artifact(path: &Path, bytes: &[u8]) -> Result<(), WasmError> {
    let err = |e: std::io::Error| WasmError::Cache {
        message: format!("cannot write {}: {e}", path.display()),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(err)?;
    std::fs::write(sum_path(path), hex::encode(Sha256::digest(bytes))).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)?;
    if let Some(dir) = path.parent() {
        evict(dir, cache_limit());
    }
    Ok(())
}

/// The cache's size cap in bytes: `MONGOSHIFT_WASM_CACHE_MB` (default 1024).
fn cache_limit() -> u64 {
    std::env::var("MONGOSHIFT_WASM_CACHE_MB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1024)
        << 20
}

/// Deletes the least recently used artifacts until the cache fits `limit`
/// (loading an artifact marks it used).
pub(crate) fn evict(dir: &Path, limit: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((m.modified().ok()?, m.len(), e.path()))
        })
        .collect();
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    files.sort();
    for (_, len, path) in files {
        if total <= limit {
            break;
        }
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(sum_path(&path));
        total = total.saturating_sub(len);
    }
}

/// Reads an artifact if present and intact.
pub(crate) fn load_artifact(path: &Path) -> Option<Vec<u8>> {
    // Mark it used for the eviction order.
    if let Ok(f) = std::fs::File::options().append(true).open(path) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
    let bytes = std::fs::read(path).ok()?;
    let sum = std::fs::read_to_string(sum_path(path)).ok()?;
    (hex::encode(Sha256::digest(&bytes)) == sum.trim()).then_some(bytes)
}

fn sum_path(path: &Path) -> PathBuf {
    path.with_extension("cwasm.sha256")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn the_cache_keeps_the_most_recently_used_artifacts_under_its_cap() {
        let dir = tempfile::tempdir().unwrap();
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            let p = dir.path().join(format!("{name}.cwasm"));
            super::store_artifact(&p, &vec![i as u8; 1000]).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // Using `a` makes `b` the oldest.
        assert!(super::load_artifact(&dir.path().join("a.cwasm")).is_some());
        super::evict(dir.path(), 2000);
        let left: Vec<bool> = ["a", "b", "c"]
            .iter()
            .map(|n| dir.path().join(format!("{n}.cwasm")).exists())
            .collect();
        assert_eq!(left, [true, false, true]);
        assert!(!dir.path().join("b.cwasm.sha256").exists());
    }

    #[test]
    fn version_in_key_matches_the_dependency() {
        let manifest = include_str!("../../../Cargo.toml");
        assert!(manifest.contains(&format!(
            "wasmtime = {{ version = \"{}\"",
            super::wasmtime_version()
        )));
    }
}
