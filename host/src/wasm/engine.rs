//! The one process-wide engine and its fingerprint.

use std::hash::Hasher;
use std::sync::OnceLock;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use wasmtime::{Config, Engine, InstanceAllocationStrategy, OptLevel};

    /// The fingerprint of an engine of this process's configuration, changed
    /// by `change` (allocated on demand: the pool's address space is not
    /// needed to compile).
    fn fingerprint_with(change: impl FnOnce(&mut Config)) -> String {
        let mut c = super::config();
        c.allocation_strategy(InstanceAllocationStrategy::OnDemand);
        change(&mut c);
        super::engine_fingerprint(&Engine::new(&c).unwrap())
    }

    /// A setting changed, and what it is.
    type Change = (&'static str, fn(&mut Config));

    #[test]
    fn the_fingerprint_changes_when_the_engine_configuration_does() {
        let base = fingerprint_with(|_| {});
        assert_eq!(
            base,
            fingerprint_with(|_| {}),
            "stable for one configuration"
        );
        assert!(base.starts_with("wasmtime-48-"), "{base}");
        let changes: [Change; 4] = [
            ("no optimisation", |c| {
                c.cranelift_opt_level(OptLevel::None);
            }),
            ("no epoch interruption", |c| {
                c.epoch_interruption(false);
            }),
            ("fuel metering", |c| {
                c.consume_fuel(true);
            }),
            ("smaller memory reservations", |c| {
                c.memory_reservation(1 << 20);
            }),
        ];
        for (what, change) in changes {
            assert_ne!(fingerprint_with(change), base, "{what}");
        }
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
