//! The transform engine without a database: `split_name` over the same batches
//! as a native Rust closure and as the Wasm guest (component and core module),
//! side by side in one run, one thread, deadlines on.
//!
//! ```text
//! scripts/bench-engine            # builds the guests, then runs this
//! cargo bench -p mongoshift-cli --bench engine -- [--docs N] [--batch N] [--only core]
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;
use common::arg;

use mongoshift::progress::Direction;
use mongoshift::wasm::{Outcome, ReplacementChecker, SandboxLimits, TransformModule};
use mongoshift_guest::Encoded;

struct Row {
    name: String,
    docs_per_sec: f64,
    note: String,
}

/// Runs `f` over all batches `rounds` times and returns the best docs/s.
fn measure(
    batches: &[(Vec<u8>, usize)],
    rounds: usize,
    mut f: impl FnMut(&[u8], usize) -> usize,
) -> f64 {
    let docs: usize = batches.iter().map(|(_, n)| n).sum();
    let mut best = Duration::MAX;
    for _ in 0..rounds {
        let start = Instant::now();
        let mut replaced = 0;
        for (b, n) in batches {
            replaced += f(b, *n);
        }
        assert_eq!(replaced, docs, "every document is replaced");
        best = best.min(start.elapsed());
    }
    docs as f64 / best.as_secs_f64()
}

/// Runs the host's output checks on every replacement (`None`: not replaced),
/// against its input in `batch`, and counts the replacements. One checker per
/// batch, as in the pipeline.
fn check_all<'a>(batch: &[u8], replacements: impl Iterator<Item = Option<&'a [u8]>>) -> usize {
    let mut checker = ReplacementChecker::default();
    let mut at = 0;
    let mut replaced = 0;
    for r in replacements {
        let len = i32::from_le_bytes(batch[at..at + 4].try_into().unwrap()) as usize;
        if let Some(r) = r {
            checker
                .check(
                    bson::RawDocument::from_bytes(&batch[at..at + len]).unwrap(),
                    r,
                )
                .unwrap();
            replaced += 1;
        }
        at += len;
    }
    replaced
}

/// The rows of the Wasm component and core module (`paths`, in that order),
/// each alone and through the host's output checks; `only` keeps one.
fn wasm_rows(
    paths: &[&PathBuf],
    only: Option<&str>,
    batches: &[(Vec<u8>, usize)],
    rounds: usize,
    native_checked: f64,
) -> Vec<Row> {
    let mut rows = Vec::new();
    let limits = SandboxLimits::default().deadline(Duration::from_secs(30));
    let labels = [
        "Wasm component (wasm32-wasip2)",
        "Wasm core module (wasm32-wasip1)",
    ];
    for (label, path) in labels.into_iter().zip(paths) {
        if only.is_some_and(|o| !label.contains(o)) {
            continue;
        }
        if !path.is_file() {
            eprintln!(
                "skipping {label}: {} not built (run scripts/bench-engine)",
                path.display()
            );
            continue;
        }
        let t0 = Instant::now();
        std::env::set_var("MONGOSHIFT_WASM_CACHE", "off");
        let module = TransformModule::load(path, limits).unwrap();
        let compile = t0.elapsed();
        let size = std::fs::metadata(path).unwrap().len();
        let mut inst = module.instantiate().unwrap();
        let rate = measure(batches, rounds, |b, n| {
            inst.transform(Direction::Up, b, n)
                .unwrap()
                .iter()
                .filter(|o| matches!(o, Outcome::Replace(_)))
                .count()
        });
        rows.push(Row {
            name: label.into(),
            docs_per_sec: rate,
            note: format!(
                "{} KiB, compiled in {:.2} s, deadline 30 s/batch",
                size / 1024,
                compile.as_secs_f64()
            ),
        });
        let mut inst = module.instantiate().unwrap();
        let rate = measure(batches, rounds, |b, n| {
            let outs = inst.transform(Direction::Up, b, n).unwrap();
            check_all(
                b,
                outs.iter().map(|o| match o {
                    Outcome::Replace(r) => Some(r.as_slice()),
                    _ => None,
                }),
            )
        });
        rows.push(Row {
            name: format!("{label} + host output checks"),
            docs_per_sec: rate,
            note: format!(
                "valid BSON, no key twice, same _id, ≤ 16 MiB; {:.2}× the native closure with the same checks",
                rate / native_checked
            ),
        });
    }
    rows
}

fn main() {
    let n_docs = arg("--docs", 200_000usize);
    let batch = arg("--batch", 1000usize);
    let rounds = arg("--rounds", 5usize);
    // `--only core` (or `component`): one Wasm row, e.g. under `perf record`.
    let args: Vec<String> = std::env::args().collect();
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let component = root.join("migrations/20260110090000_split_name/split_name.wasm");
    let core = root.join("target/bench-guests/split_name_core.wasm");

    let (batches, bytes) = common::sample_batches(n_docs as u64, batch);

    let mut rows = Vec::new();
    let native = measure(&batches, rounds, |b, _| common::native_replacements(b));
    rows.push(Row {
        name: "native Rust closure".into(),
        docs_per_sec: native,
        note: "same function, same batch loop, no sandbox".into(),
    });
    // The host checks every replacement whoever produced it; this row is the
    // native closure through those same checks.
    let native_checked = measure(&batches, rounds, |b, _| {
        let outs = mongoshift_guest::native::run(split_name::split_name, b);
        check_all(
            b,
            outs.iter().map(|o| match o {
                Encoded::Replace(r) => Some(r.as_slice()),
                _ => None,
            }),
        )
    });
    rows.push(Row {
        name: "native Rust closure + host output checks".into(),
        docs_per_sec: native_checked,
        note:
            "valid BSON, no key twice, same _id, ≤ 16 MiB: what the pipeline does with any output"
                .into(),
    });

    rows.extend(wasm_rows(
        &[&component, &core],
        only.as_deref(),
        &batches,
        rounds,
        native_checked,
    ));

    println!(
        "split_name, {n_docs} documents ({:.0} bytes each) in batches of {batch}, one thread, best of {rounds}; {}",
        bytes as f64 / n_docs as f64,
        common::machine()
    );
    println!();
    println!("| engine | docs/s per core | vs native | notes |");
    println!("| --- | ---: | ---: | --- |");
    for r in &rows {
        println!(
            "| {} | {:.0} | {:.2}× | {} |",
            r.name,
            r.docs_per_sec,
            r.docs_per_sec / native,
            r.note
        );
    }
    let _: PathBuf = core;
}
