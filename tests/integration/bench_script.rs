//! `scripts/bench` refuses settings it cannot honour before it builds or
//! starts anything, naming the setting.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

fn bench() -> Command {
    let root: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut cmd = Command::new(root.join("scripts/bench"));
    cmd.env_remove("BENCH_REPEAT")
        .env_remove("BENCH_FRESH_SERVER")
        .env_remove("BENCH_ROWS")
        .env_remove("MONGODB_URI")
        .arg("10");
    cmd
}

#[test]
fn a_repeat_count_that_is_not_a_whole_number_is_refused() {
    bench()
        .env("BENCH_REPEAT", "0")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "BENCH_REPEAT must be a whole number from 1, not '0'",
        ));
}

#[test]
fn a_fresh_server_setting_other_than_0_or_1_is_refused() {
    bench()
        .env("BENCH_FRESH_SERVER", "yes")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "BENCH_FRESH_SERVER must be 0 or 1, not 'yes'",
        ));
}

#[test]
fn a_fresh_server_per_row_is_refused_for_a_server_it_did_not_start() {
    bench()
        .env("BENCH_FRESH_SERVER", "1")
        .env("MONGODB_URI", "mongodb://127.0.0.1:1")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "it cannot restart the one MONGODB_URI points at",
        ))
        // Refused before anything was built or started.
        .stdout(predicate::str::is_empty());
}

#[test]
fn an_unknown_row_is_refused_naming_it_and_the_rows() {
    bench()
        .env("BENCH_ROWS", "wasm-in-place wasm-inplace@standalone")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "unknown row 'wasm-inplace@standalone' in BENCH_ROWS; the rows are: loop beanie",
        ))
        .stdout(predicate::str::is_empty());
}

#[test]
fn a_standalone_row_is_refused_for_a_server_it_did_not_start() {
    bench()
        .env("BENCH_ROWS", "wasm-in-place wasm-in-place@standalone")
        .env("MONGODB_URI", "mongodb://127.0.0.1:1")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "row 'wasm-in-place@standalone' runs on a local standalone server; it cannot run against the deployment MONGODB_URI points at",
        ))
        .stdout(predicate::str::is_empty());
}
