//! `split_name` in every guest language, without a database: the native Rust
//! closure and the Rust, C, AssemblyScript, JavaScript and Python guests over
//! the same batches, side by side in one run, one thread, deadlines on; with
//! each guest's build time (from source, tool caches warm) and module size.
//!
//! ```text
//! scripts/bench-languages        # installs the guest tools, then runs this
//! cargo bench -p mongoshift-cli --bench languages -- [--docs N] [--batch N] [--seconds S]
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;
use common::arg;

use mongoshift::progress::Direction;
use mongoshift::wasm::{Outcome, SandboxLimits, TransformModule};

/// Runs `f` over the batches, round after round, for at least `seconds`
/// (and at least one full pass over the first batch); returns the best
/// docs/s of any round. A round stops early once it has run `seconds` so
/// slow guests still finish.
fn measure(
    batches: &[(Vec<u8>, usize)],
    seconds: f64,
    mut f: impl FnMut(&[u8], usize) -> usize,
) -> f64 {
    let started = Instant::now();
    let mut best = 0f64;
    loop {
        let round = Instant::now();
        let mut docs = 0;
        for (b, n) in batches {
            assert_eq!(f(b, *n), *n, "every document is replaced");
            docs += n;
            if round.elapsed().as_secs_f64() > seconds {
                break;
            }
        }
        best = best.max(docs as f64 / round.elapsed().as_secs_f64());
        if started.elapsed().as_secs_f64() > seconds {
            return best;
        }
    }
}

struct Row {
    name: String,
    docs_per_sec: f64,
    build: Option<Duration>,
    size: Option<u64>,
    load: Option<Duration>,
}

/// Builds a guest into `out` with a fresh copy of its sources and returns how
/// long it took.
fn build(lang: &str, root: &Path, out: &Path) -> Duration {
    let t0 = Instant::now();
    if lang == "rust" {
        // A fresh target directory: the guest crate and its dependencies from
        // scratch, as a first `mongoshift build` compiles them.
        let target = out.join("rust-target");
        let _ = std::fs::remove_dir_all(&target);
        let status = std::process::Command::new(env!("CARGO"))
            .args([
                "build",
                "--release",
                "--quiet",
                "--target",
                "wasm32-wasip2",
                "--manifest-path",
            ])
            .arg(root.join("migrations/20260110090000_split_name/guest/Cargo.toml"))
            .env("CARGO_TARGET_DIR", &target)
            .status()
            .unwrap();
        assert!(status.success(), "building the Rust guest failed");
        let elapsed = t0.elapsed();
        std::fs::copy(
            target.join("wasm32-wasip2/release/split_name.wasm"),
            out.join("rust.wasm"),
        )
        .unwrap();
        let _ = std::fs::remove_dir_all(&target);
        return elapsed;
    }
    let module = out.join(format!("{lang}.wasm"));
    let t0 = Instant::now();
    mongoshift_cli::build::build_guest(
        lang,
        &root.join("examples/guests").join(lang).join("split_name"),
        &module,
    )
    .unwrap_or_else(|e| panic!("{e} (run scripts/install-guest-tools)"));
    t0.elapsed()
}

fn main() {
    let n_docs = arg("--docs", 100_000u64);
    let batch = arg("--batch", 1000usize);
    let seconds = arg("--seconds", 3.0);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out: PathBuf = root.join("target/bench-guests/languages");
    std::fs::create_dir_all(&out).unwrap();

    let (batches, bytes) = common::sample_batches(n_docs, batch);

    let mut rows = vec![Row {
        name: "native Rust closure (no sandbox)".into(),
        docs_per_sec: measure(&batches, seconds, |b, _| common::native_replacements(b)),
        build: None,
        size: None,
        load: None,
    }];
    // No compiled-artifact cache: the load column is wasmtime compiling it.
    std::env::set_var("MONGOSHIFT_WASM_CACHE", "off");
    let limits = SandboxLimits::default().deadline(Duration::from_secs(30));
    for (lang, label) in [
        ("rust", "Rust guest (component, wasm32-wasip2)"),
        ("c", "C guest (core module, zig cc)"),
        ("assemblyscript", "AssemblyScript guest (core module, asc)"),
        ("js", "JavaScript guest (component, componentize-js)"),
        ("python", "Python guest (component, componentize-py)"),
    ] {
        eprintln!("building and measuring the {lang} guest");
        let built_in = build(lang, &root, &out);
        let path = out.join(format!("{lang}.wasm"));
        let t0 = Instant::now();
        let module = TransformModule::load(&path, limits).unwrap();
        let load = t0.elapsed();
        let mut inst = module.instantiate().unwrap();
        let rate = measure(&batches, seconds, |b, n| {
            inst.transform(Direction::Up, b, n)
                .unwrap()
                .iter()
                .filter(|o| matches!(o, Outcome::Replace(_)))
                .count()
        });
        rows.push(Row {
            name: label.into(),
            docs_per_sec: rate,
            build: Some(built_in),
            size: Some(std::fs::metadata(&path).unwrap().len()),
            load: Some(load),
        });
    }

    println!(
        "split_name, {n_docs} documents ({:.0} bytes each) in batches of {batch}, one thread, best round of {seconds} s; {}",
        bytes as f64 / n_docs as f64,
        common::machine()
    );
    println!();
    println!("| transform | docs/s per core | vs native | build from source | module size | wasmtime compile |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    let native = rows[0].docs_per_sec;
    for r in &rows {
        let opt =
            |d: Option<Duration>| d.map_or("—".into(), |d| format!("{:.1} s", d.as_secs_f64()));
        let ratio = r.docs_per_sec / native;
        println!(
            "| {} | {:.0} | {} | {} | {} | {} |",
            r.name,
            r.docs_per_sec,
            if ratio < 0.1 {
                format!("{ratio:.3}×")
            } else {
                format!("{ratio:.2}×")
            },
            opt(r.build),
            r.size.map_or("—".into(), |s| if s >= 1 << 20 {
                format!("{:.1} MiB", s as f64 / f64::from(1 << 20))
            } else {
                format!("{} KiB", s / 1024)
            }),
            opt(r.load)
        );
    }
}
