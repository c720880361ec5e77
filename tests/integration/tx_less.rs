//! Runs without transactions (`--transactions none`) while applications
//! write: each batch's conditional writes go out in one unordered `update`,
//! and still every application write is kept and every document transformed
//! exactly once, from its latest version.

#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bson::{doc, Document};

use crate::util::{block_on, rt, text, TestDb};
use crate::wat::counter;

const MIG: &str = "20260401000000_count";
const N: i32 = 20_000;

/// What the application writers had acknowledged.
#[derive(Default)]
struct Acked {
    /// `$inc` of age by 1 and n by 10, by `_id`.
    updates: HashMap<i32, i32>,
    /// `$inc` of `hits` by 2 alone, a field no document has before the run:
    /// the first one adds it as the last field, the one the counter adds 1
    /// to (by 2, so that no application write makes a document what the
    /// transform would have written).
    hits: HashMap<i32, i32>,
    deleted: HashSet<i32>,
    inserted: HashSet<i32>,
}

/// Four application writers: each updates random documents (two in sixteen
/// of its writes only add two to `hits`), and one in sixteen of its writes
/// deletes an even `_id` or inserts an odd one of the upper half (emptied
/// before the run), recording what was acknowledged.
struct Writers {
    stop: Arc<AtomicBool>,
    writes: Arc<AtomicUsize>,
    acked: Arc<Mutex<Acked>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Writers {
    fn start(t: &TestDb) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let writes = Arc::new(AtomicUsize::new(0));
        let acked = Arc::new(Mutex::new(Acked::default()));
        let tasks = (0..4u64)
            .map(|w| {
                let coll = t.db().collection::<Document>("users");
                let (s, k, a) = (stop.clone(), writes.clone(), acked.clone());
                rt().spawn(async move {
                    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ (w + 1).wrapping_mul(0x1234_5678_9ABC);
                    while !s.load(Ordering::Relaxed) {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let id = (x % N as u64) as i32;
                        match (x >> 32) % 16 {
                            0 if id % 2 == 0 => {
                                let r = coll.delete_one(doc! { "_id": id }).await.expect("delete");
                                if r.deleted_count == 1 {
                                    a.lock().unwrap().deleted.insert(id);
                                }
                            }
                            1 if id % 2 == 1 && id >= N / 2 => {
                                let d = doc! { "_id": id, "name": "New", "email": format!("new{id}@example.com"), "age": 0, "n": 0 };
                                // Taken already by another writer: refused.
                                if coll.insert_one(d).await.is_ok() {
                                    a.lock().unwrap().inserted.insert(id);
                                }
                            }
                            2 | 3 => {
                                let r = coll
                                    .update_one(doc! { "_id": id }, doc! { "$inc": { "hits": 2 } })
                                    .await
                                    .expect("update");
                                if r.matched_count == 1 {
                                    *a.lock().unwrap().hits.entry(id).or_insert(0) += 1;
                                }
                            }
                            _ => {
                                let r = coll
                                    .update_one(doc! { "_id": id }, doc! { "$inc": { "age": 1, "n": 10 } })
                                    .await
                                    .expect("update");
                                if r.matched_count == 1 {
                                    *a.lock().unwrap().updates.entry(id).or_insert(0) += 1;
                                }
                            }
                        }
                        k.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        Writers {
            stop,
            writes,
            acked,
            tasks,
        }
    }

    fn writes(&self) -> usize {
        self.writes.load(Ordering::Relaxed)
    }

    fn finish(self) -> Acked {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            block_on(task).expect("writer task");
        }
        Arc::try_unwrap(self.acked)
            .ok()
            .expect("one owner")
            .into_inner()
            .unwrap()
    }
}

/// `--transactions none` of the counter (n += 1, not idempotent) over
/// 20,000 documents in batches of 100, four application writers running;
/// `form` is the manifest's `in_place_writes` (a replacement would drop a
/// field added meanwhile if that were not seen as a change).
fn every_application_write_kept(name: &str, form: &str) {
    let t = TestDb::new(name);
    t.seed_users(N);
    // Room for inserts inside the range the run reads.
    block_on(t.db().collection::<Document>("users").delete_many(
        doc! { "_id": { "$gte": N / 2 }, "$expr": { "$eq": [ { "$mod": ["$_id", 2] }, 1 ] } },
    ))
    .expect("make room");
    let ages: HashMap<i32, i32> = t
        .find("users", doc! {})
        .iter()
        .map(|d| (d.get_i32("_id").unwrap(), d.get_i32("age").unwrap()))
        .collect();
    t.write(&format!("{MIG}/guest.wat"), &counter(true, None));
    t.write(
        &format!("{MIG}/migration.toml"),
        &format!("kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nbatch_size = 100\nstrategy = \"in-place\"\nin_place_writes = \"{form}\"\n"),
    );
    let app = Writers::start(&t);
    while app.writes() < 300 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = t
        .std_cmd()
        .args(["up", "--transactions", "none"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run up");
    let during = app.writes();
    let acked = app.finish();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(during > 1000, "only {during} application writes");
    assert!(!acked.deleted.is_empty() && !acked.inserted.is_empty());

    let mut wrong = Vec::new();
    let mut seen = HashSet::new();
    for d in t.find("users", doc! {}) {
        let id = d.get_i32("_id").unwrap();
        seen.insert(id);
        let k = acked.updates.get(&id).copied().unwrap_or(0);
        let h = acked.hits.get(&id).copied().unwrap_or(0);
        let (age, n) = (d.get_i32("age").unwrap(), d.get_i32("n").unwrap());
        // The counter adds one to the last field: `n`, or `hits` once an
        // application added it. What the document holds beyond the
        // application's acknowledged writes is how often it was transformed;
        // less than them is an application write lost.
        let (over_n, over_h) = (n - 10 * k, d.get_i32("hits").unwrap_or(0) - 2 * h);
        let times = over_n + over_h;
        let (read, age_was) = match ages.get(&id) {
            Some(a) if !acked.inserted.contains(&id) => (true, *a),
            // Inserted meanwhile: transformed once if the run read it.
            _ => (false, 0),
        };
        if acked.deleted.contains(&id) {
            wrong.push(format!("_id {id}: deleted by the application, still there"));
        } else if age != age_was + k
            || over_n < 0
            || over_h < 0
            || !(times == 1 || !read && times == 0)
        {
            wrong.push(format!(
                "_id {id}: {k} updates and {h} hits acknowledged, age was {age_was}, holds {d}"
            ));
        }
    }
    for id in ages.keys().chain(&acked.inserted) {
        if !seen.contains(id) && !acked.deleted.contains(id) {
            wrong.push(format!("_id {id}: missing"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} documents lost an application write or were transformed twice or never, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
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
fn concurrent_application_writes_are_kept_with_replacements() {
    every_application_write_kept("txless_replace", "replace");
}

#[test]
fn concurrent_application_writes_are_kept_with_set_writes() {
    every_application_write_kept("txless_set", "set");
}

/// Deletions without transactions apply only to a document as it was read.
/// While the first batch waits to be written, an application changes four
/// of its documents: the one the transform would delete but now would not is
/// kept and transformed from what it is now; the one it still would delete
/// is deleted; the one the application deleted stays gone; a replaced one
/// keeps the application's write. Every other document is deleted or
/// transformed once.
#[test]
fn deletions_apply_only_to_documents_as_read() {
    let t = TestDb::new("txless_deletes");
    t.seed_users(1_000);
    let users = t.db().collection::<Document>("users");
    // Odd `_id`s are kept (n: 1 becomes 2), even ones deleted (n: 0).
    block_on(users.update_many(
        doc! { "$expr": { "$eq": [{ "$mod": ["$_id", 2] }, 1] } },
        doc! { "$set": { "n": 1 } },
    ))
    .expect("odd ones");
    t.write(&format!("{MIG}/guest.wat"), &crate::wat::prune_zeros());
    t.write(
        &format!("{MIG}/migration.toml"),
        "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nbatch_size = 100\nstrategy = \"in-place\"\n",
    );
    let child = t
        .std_cmd()
        .args(["up", "--transactions", "none"])
        .env("MONGOSHIFT_FAILPOINT", "batch.before_transaction:1")
        .env("MONGOSHIFT_FAILPOINT_PAUSE_MS", "6000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // The run has started (its ledger entry is there) and read its first
    // batch well before the end of the pause.
    while t.ledger().is_empty() {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(2000));
    block_on(async {
        let set = |id: i32, change: Document| users.update_one(doc! { "_id": id }, change);
        set(0, doc! { "$set": { "n": 5 } }).await.expect("0");
        set(2, doc! { "$set": { "email": "changed@example.com" } })
            .await
            .expect("2");
        set(1, doc! { "$inc": { "age": 100 } }).await.expect("1");
        users.delete_one(doc! { "_id": 4 }).await.expect("4");
    });
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let left: HashMap<i32, Document> = t
        .find("users", doc! {})
        .into_iter()
        .map(|d| (d.get_i32("_id").unwrap(), d))
        .collect();
    let zero = left
        .get(&0)
        .expect("_id 0, changed so as to be kept, was deleted as read");
    assert_eq!(
        zero.get_i32("n"),
        Ok(6),
        "transformed from what it is now: {zero}"
    );
    let one = left.get(&1).expect("_id 1 kept");
    assert_eq!(
        one.get_i32("age"),
        Ok(21 + 100),
        "the application's write kept: {one}"
    );
    assert_eq!(one.get_i32("n"), Ok(2), "{one}");
    let mut wrong = Vec::new();
    for id in 1..1_000 {
        match left.get(&id) {
            Some(_) if id % 2 == 0 => wrong.push(format!("_id {id}: not deleted")),
            Some(d) if d.get_i32("n") != Ok(2) => wrong.push(format!("_id {id}: {d}")),
            None if id % 2 == 1 => wrong.push(format!("_id {id}: missing")),
            _ => {}
        }
    }
    assert!(wrong.is_empty(), "{wrong:?}");
    assert_eq!(left.len(), 501);
    let cp = t.ledger()[0].get_document("checkpoint").unwrap().clone();
    assert!(
        cp.get_i64("changed").unwrap() >= 3,
        "0, 1 and 2 changed in flight: {cp}"
    );
    assert_eq!(cp.get_i64("replaced"), Ok(501), "{cp}");
    assert_eq!(cp.get_i64("deleted"), Ok(499), "{cp}");
}
