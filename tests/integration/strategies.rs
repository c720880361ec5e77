//! Write strategies: in place with concurrent application writes, and copy
//! and swap (rewrite).

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bson::{doc, Document};

use crate::util::{block_on, rt, text, TestDb};
use crate::wat::counter;

const MIG: &str = "20260401000000_count";

/// n += 1 on every document (the counter guest), written as `form`.
fn counting(t: &TestDb, extra: &str) {
    t.write(&format!("{MIG}/guest.wat"), &counter(true, None));
    t.write(
        &format!("{MIG}/migration.toml"),
        &format!("kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nbatch_size = 250\n{extra}"),
    );
}

/// Updates random documents until told to stop: `$inc` age by 1 and n by 10,
/// counting the acknowledged updates per `_id`.
struct AppWriter {
    stop: Arc<AtomicBool>,
    done: Arc<Mutex<HashMap<i32, i32>>>,
    task: tokio::task::JoinHandle<()>,
}

impl AppWriter {
    fn start(t: &TestDb, n: i32) -> AppWriter {
        let coll = t.db().collection::<Document>("users");
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(Mutex::new(HashMap::new()));
        let (s, d) = (stop.clone(), done.clone());
        let task = rt().spawn(async move {
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
            while !s.load(Ordering::Relaxed) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let id = (x % n as u64) as i32;
                let r = coll
                    .update_one(doc! { "_id": id }, doc! { "$inc": { "age": 1, "n": 10 } })
                    .await
                    .expect("application write");
                if r.matched_count == 1 {
                    *d.lock().expect("lock").entry(id).or_insert(0) += 1;
                }
            }
        });
        AppWriter { stop, done, task }
    }

    fn writes(&self) -> usize {
        self.done.lock().expect("lock").values().map(|&k| k as usize).sum()
    }

    fn finish(self) -> HashMap<i32, i32> {
        self.stop.store(true, Ordering::Relaxed);
        block_on(self.task).expect("writer task");
        Arc::try_unwrap(self.done)
            .expect("one owner")
            .into_inner()
            .expect("lock")
    }
}

fn in_place_keeps_every_application_write(form: &str, transactions: &str) {
    let t = TestDb::new(&format!("inplace_{form}_{transactions}"));
    let n = 20_000;
    t.seed_users(n);
    let ages: HashMap<i32, i32> = t
        .find("users", doc! {})
        .iter()
        .map(|d| (d.get_i32("_id").unwrap(), d.get_i32("age").unwrap()))
        .collect();
    counting(
        &t,
        &format!("strategy = \"in-place\"\nin_place_writes = \"{form}\"\ntransactions = \"{transactions}\"\n"),
    );
    let app = AppWriter::start(&t, n);
    while app.writes() < 300 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = t
        .std_cmd()
        .arg("up")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run up");
    let during = app.writes();
    let counts = app.finish();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(during > 1000, "only {during} application writes during the run");
    let mut lost = Vec::new();
    for d in t.find("users", doc! {}) {
        let id = d.get_i32("_id").unwrap();
        let k = counts.get(&id).copied().unwrap_or(0);
        let (age, nn) = (d.get_i32("age").unwrap(), d.get_i32("n").unwrap());
        if age != ages[&id] + k || nn != 1 + 10 * k {
            lost.push(format!("_id {id}: {k} app writes, age {age} (was {}), n {nn}", ages[&id]));
        }
    }
    assert!(
        lost.is_empty(),
        "{} documents lost an application write or were transformed twice or never, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    let entry = &t.ledger()[0];
    assert_eq!(entry.get_str("state"), Ok("applied"));
    let cp = entry.get_document("checkpoint").unwrap();
    assert!(
        cp.get_i64("changed").unwrap() > 0,
        "no document changed while in flight, the test proves nothing: {cp}"
    );
}

#[test]
fn in_place_replacements_keep_every_concurrent_application_write() {
    in_place_keeps_every_application_write("replace", "batch");
}

#[test]
fn in_place_set_updates_keep_every_concurrent_application_write() {
    in_place_keeps_every_application_write("set", "batch");
}

#[test]
fn in_place_without_transactions_keeps_every_concurrent_application_write() {
    in_place_keeps_every_application_write("set", "none");
}
