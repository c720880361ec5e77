//! Integration tests against a real MongoDB-protocol server: the local
//! `secantusd-rs` (one per test binary) or the deployment in `MONGODB_URI`.

#![allow(unreachable_pub)]

mod util;

mod adopt;
mod audit;
mod bad_input;
mod bench_script;
mod cache;
mod clean_exit;
mod commands;
mod compile_limits;
mod cross;
mod cross_auth;
mod cross_down;
mod cross_examples;
mod cross_kinds;
mod cross_too_large;
mod distributed;
mod distributed_rewrite;
mod distributed_takeback;
mod docs;
mod fixtures_cmd;
mod fleet;
mod fleet_python;
mod fleet_refusals;
mod guest_examples;
mod guest_logs;
mod guests;
mod in_place_writes;
mod kubernetes;
mod languages;
mod languages_cross;
mod languages_dates;
mod locking;
mod metrics;
mod outputs;
mod pause;
mod policy;
mod postponed_swap;
mod pre_image_batches;
mod python;
mod quarantine_cmd;
mod resume;
mod rewrite_churn;
mod run_cmd;
mod safety;
mod sample_cmd;
mod scaffold_fixtures;
mod signing;
mod strategies;
mod swap;
mod tenants;
mod throttle;
mod tx_less;
mod verify_data;
mod wasm;
mod wat;
