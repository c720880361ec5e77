//! What the swap tests share: a seeded collection with a validator and a
//! secondary index, the non-idempotent rewrite, an application writing
//! throughout (retrying the writes a fence refuses), and the checks of what
//! every acknowledged write became.

#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::os::unix::process::ExitStatusExt;
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bson::{doc, Document, RawDocumentBuf};

use crate::util::{block_on, rt, text, TestDb};
use crate::wat::counter;

pub const MIG: &str = "20260501000000_count";

/// The collection the rewrite keeps the originals in.
pub fn backup() -> String {
    format!("mongoshift_backup_{MIG}")
}

/// Where `down --set-aside-writes-since-swap` keeps the application's versions.
pub fn conflicts() -> String {
    format!("mongoshift_conflicts_{MIG}")
}

/// `users` with a validator and a unique secondary index, `n` documents.
pub fn seed(t: &TestDb, n: i32) {
    block_on(async {
        t.db()
            .create_collection("users")
            .validator(doc! { "email": { "$exists": true } })
            .await
            .expect("create users");
        t.db()
            .collection::<Document>("users")
            .create_index(
                mongodb::IndexModel::builder()
                    .keys(doc! { "email": 1 })
                    .options(
                        mongodb::options::IndexOptions::builder()
                            .unique(true)
                            .name("email_unique".to_string())
                            .build(),
                    )
                    .build(),
            )
            .await
            .expect("index");
    });
    t.seed_users(n);
}

/// The rewrite of `users`, n += 1 (not idempotent: twice shows), with or
/// without a backward transform (n -= 1).
pub fn rewrite(t: &TestDb, backward: bool, extra: &str) {
    counting(t, backward, "rewrite", extra);
}

/// The same migration with another `strategy`.
pub fn counting(t: &TestDb, backward: bool, strategy: &str, extra: &str) {
    t.write(&format!("{MIG}/guest.wat"), &counter(backward, None));
    t.write(
        &format!("{MIG}/migration.toml"),
        &format!(
            "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nbatch_size = 250\nstrategy = \"{strategy}\"\n{extra}"
        ),
    );
}

/// Runs `mongoshift <args>` with the fail point `step` armed and checks the
/// process died there (SIGKILL).
pub fn killed_at(t: &TestDb, step: &str, args: &[&str]) -> Output {
    let out = t
        .std_cmd()
        .env(mongoshift::failpoint::ENV, step)
        .args(args)
        .output()
        .expect("run");
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.signal(),
        Some(9),
        "`{}` did not stop at {step}: {:?}\n{stdout}{stderr}",
        args.join(" "),
        out.status
    );
    out
}

/// Validator settings (defaults spelled out) and index names of a
/// collection, to compare.
pub fn shape(t: &TestDb, coll: &str) -> (Document, Vec<String>) {
    let mut names = t.index_names(coll);
    names.sort();
    let v = block_on(async {
        let reply = t
            .db()
            .run_command(doc! { "listCollections": 1, "filter": { "name": coll } })
            .await
            .expect("listCollections");
        let info = reply
            .get_document("cursor")
            .unwrap()
            .get_array("firstBatch")
            .unwrap()[0]
            .as_document()
            .unwrap()
            .clone();
        let options = info.get_document("options").cloned().unwrap_or_default();
        // Defaults spelled out: servers list them once a collMod set a
        // validator, and a missing level or action means these.
        let mut v = doc! { "validationLevel": "strict", "validationAction": "error" };
        for k in ["validator", "validationLevel", "validationAction"] {
            if let Some(x) = options.get(k) {
                v.insert(k, x.clone());
            }
        }
        v
    });
    (v, names)
}

/// The collections of the test's database, sorted.
pub fn collections(t: &TestDb) -> Vec<String> {
    let mut names = block_on(t.db().list_collection_names()).unwrap();
    names.sort();
    names
}

/// What the application had acknowledged.
#[derive(Debug, Default, Clone)]
pub struct Acked {
    /// `$inc {age: 1, n: 10}` per `_id`.
    pub updates: HashMap<i32, i32>,
    /// `_id`, when acknowledged.
    pub inserted: Vec<(i32, SystemTime)>,
    pub deleted: HashSet<i32>,
    /// Writes refused (by a fence) and retried.
    pub refused: usize,
    pub ops: usize,
}

/// An application inserting, updating and deleting `users` (ids below `n`)
/// until stopped, retrying a write its collection refuses.
pub struct App {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Acked>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for App {
    /// A test that failed leaves no application writing behind it.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl App {
    /// `first_new`: the `_id` of its first insert; `new_n`: the `n` it
    /// inserts with.
    pub fn start(t: &TestDb, n: i32, seed: u64, first_new: i32, new_n: i32) -> App {
        App::paced(t, n, seed, (first_new, new_n), Duration::ZERO)
    }

    /// [`App::start`], resting `pause` after each acknowledged write: an
    /// in-place run reads the documents inserted ahead of it, so an
    /// application inserting flat out keeps it running.
    pub fn paced(
        t: &TestDb,
        n: i32,
        seed: u64,
        (first_new, new_n): (i32, i32),
        pause: Duration,
    ) -> App {
        let coll = t.db().collection::<Document>("users");
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Acked::default()));
        let (s, st) = (stop.clone(), acked.clone());
        let task = rt().spawn(async move {
            let mut x: u64 = seed | 1;
            let mut next_new = first_new;
            while !s.load(Ordering::Relaxed) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let id = (x % n as u64) as i32;
                let op = x % 10;
                loop {
                    let res = match op {
                        0 => coll
                            .insert_one(doc! {
                                "_id": next_new,
                                "name": format!("New{next_new} Person"),
                                "email": format!("user{next_new}@example.com"),
                                "age": 30,
                                "n": new_n,
                            })
                            .await
                            .map(|_| 1),
                        1 => coll
                            .delete_one(doc! { "_id": id })
                            .await
                            .map(|r| r.deleted_count),
                        _ => coll
                            .update_one(doc! { "_id": id }, doc! { "$inc": { "age": 1, "n": 10 } })
                            .await
                            .map(|r| r.matched_count),
                    };
                    match res {
                        Ok(k) => {
                            {
                                let mut g = st.lock().unwrap();
                                g.ops += 1;
                                if k == 1 {
                                    match op {
                                        0 => {
                                            g.inserted.push((next_new, SystemTime::now()));
                                            next_new += 1;
                                        }
                                        1 => {
                                            g.deleted.insert(id);
                                        }
                                        _ => *g.updates.entry(id).or_insert(0) += 1,
                                    }
                                }
                            }
                            if !pause.is_zero() {
                                tokio::time::sleep(pause).await;
                            }
                            break;
                        }
                        // A fenced collection: an application retries.
                        Err(e) if e.to_string().contains("failed validation") => {
                            st.lock().unwrap().refused += 1;
                            if s.load(Ordering::Relaxed) {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        Err(e) => panic!("application write failed: {e}"),
                    }
                }
            }
        });
        App {
            stop,
            acked,
            task: Some(task),
        }
    }

    pub fn ops(&self) -> usize {
        self.acked.lock().unwrap().ops
    }

    /// Waits until the application has `k` more acknowledged writes.
    pub fn wait_for(&self, k: usize) {
        let goal = self.ops() + k;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while self.ops() < goal {
            assert!(
                std::time::Instant::now() < deadline,
                "the application is stuck"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Asks the application to stop after the write it is making, which may
    /// wait on a transaction a killed run left open until the next run ends
    /// that run's session.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    pub fn finish(mut self) -> Acked {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.task.take() {
            block_on(t).expect("application task");
        }
        self.acked.lock().unwrap().clone()
    }
}

/// `users` by `_id`.
pub fn users(t: &TestDb) -> HashMap<i32, Document> {
    t.find("users", doc! {})
        .into_iter()
        .map(|d| (d.get_i32("_id").unwrap(), d))
        .collect()
}

/// The raw originals by `_id`.
pub fn raw_by_id(docs: &[RawDocumentBuf]) -> HashMap<i32, RawDocumentBuf> {
    docs.iter()
        .map(|d| (d.get_i32("_id").unwrap(), d.clone()))
        .collect()
}

fn fail_if_wrong(wrong: Vec<String>, what: &str) {
    assert!(
        wrong.is_empty(),
        "{} wrong documents {what}, e.g. {:#?}",
        wrong.len(),
        &wrong[..wrong.len().min(6)]
    );
}

/// After `up`: every seeded document transformed exactly once with every
/// acknowledged update on it, deleted ones gone, inserted ones there (with
/// `strict_inserts`, transformed when acknowledged before `fenced_at`, the
/// first time the swap fenced the collection).
pub fn check_applied(
    t: &TestDb,
    n: i32,
    original: &[RawDocumentBuf],
    app: &Acked,
    strict_inserts: bool,
) {
    check_applied_redoing(t, n, original, app, strict_inserts, &HashSet::new());
}

/// [`check_applied`], the documents of `redone` transformed twice (a batch
/// redone by a run without transactions, which is at least once).
pub fn check_applied_redoing(
    t: &TestDb,
    n: i32,
    original: &[RawDocumentBuf],
    app: &Acked,
    strict_inserts: bool,
    redone: &HashSet<i32>,
) {
    let orig = raw_by_id(original);
    let now = users(t);
    let fenced_at = t.ledger()[0]
        .get_document("rewrite")
        .ok()
        .and_then(|r| r.get_datetime("fenced_at").ok())
        .map(|d| d.to_system_time());
    let mut wrong = Vec::new();
    for id in 0..n {
        let k = app.updates.get(&id).copied().unwrap_or(0);
        match (now.get(&id), app.deleted.contains(&id)) {
            (Some(_), true) => wrong.push(format!("_id {id} deleted by the application is back")),
            (None, true) => {}
            (None, false) => wrong.push(format!("_id {id} is missing")),
            (Some(d), false) => {
                let age0 = orig[&id].get_i32("age").unwrap();
                let (nn, age) = (d.get_i32("n").unwrap(), d.get_i32("age").unwrap());
                let times = if redone.contains(&id) { 2 } else { 1 };
                if nn != times + 10 * k || age != age0 + k {
                    wrong.push(format!(
                        "_id {id}: {k} updates, n {nn}, age {age} (was {age0})"
                    ));
                }
            }
        }
    }
    for (id, at) in &app.inserted {
        let early = fenced_at.is_some_and(|f| *at < f);
        match now.get(id).map(|d| d.get_i32("n").unwrap()) {
            None => wrong.push(format!("_id {id} inserted by the application is missing")),
            Some(_) if !strict_inserts => {}
            Some(1) => {}
            Some(0) if !early => {}
            Some(x) => wrong.push(format!("_id {id} inserted (early: {early}) has n {x}")),
        }
    }
    fail_if_wrong(wrong, "after up");
    let e = &t.ledger()[0];
    assert_eq!(e.get_str("state"), Ok("applied"), "{e}");
}

/// After `down` of a rewrite that never swapped, or that went back by the
/// backward transform: the originals with every acknowledged write on them,
/// byte for byte where the application wrote nothing. `inserted_n`: the `n`
/// an inserted document is left with.
pub fn check_originals_with_writes(
    t: &TestDb,
    n: i32,
    original: &[RawDocumentBuf],
    app: &Acked,
    inserted_n: &[i32],
) {
    check_originals_leaving(t, n, original, app, inserted_n, &HashSet::new());
}

/// [`check_originals_with_writes`], the documents of `left` transformed once
/// (a batch a run without transactions wrote but did not record: `down`
/// undoes what was recorded).
pub fn check_originals_leaving(
    t: &TestDb,
    n: i32,
    original: &[RawDocumentBuf],
    app: &Acked,
    inserted_n: &[i32],
    left: &HashSet<i32>,
) {
    let orig = raw_by_id(original);
    let raw = raw_by_id(&t.raw_users());
    let mut wrong = Vec::new();
    for id in 0..n {
        let k = app.updates.get(&id).copied().unwrap_or(0);
        match (raw.get(&id), app.deleted.contains(&id)) {
            (Some(_), true) => wrong.push(format!("_id {id} deleted by the application is back")),
            (None, true) => {}
            (None, false) => wrong.push(format!("_id {id} is missing")),
            (Some(d), false) if left.contains(&id) => {
                let age0 = orig[&id].get_i32("age").unwrap();
                let (nn, age) = (d.get_i32("n").unwrap(), d.get_i32("age").unwrap());
                if nn != 1 + 10 * k || age != age0 + k {
                    wrong.push(format!("_id {id} left: {k} updates, n {nn}, age {age}"));
                }
            }
            (Some(d), false) if k == 0 => {
                if d != &orig[&id] {
                    wrong.push(format!("_id {id} is not byte for byte the original"));
                }
            }
            (Some(d), false) => {
                let age0 = orig[&id].get_i32("age").unwrap();
                let (nn, age) = (d.get_i32("n").unwrap(), d.get_i32("age").unwrap());
                if nn != 10 * k || age != age0 + k {
                    wrong.push(format!(
                        "_id {id}: {k} updates, n {nn}, age {age} (was {age0})"
                    ));
                }
            }
        }
    }
    for (id, _) in &app.inserted {
        match raw.get(id).map(|d| d.get_i32("n").unwrap()) {
            None => wrong.push(format!("_id {id} inserted by the application is missing")),
            Some(x) if inserted_n.contains(&x) => {}
            Some(x) => wrong.push(format!("_id {id} inserted has n {x}")),
        }
    }
    fail_if_wrong(wrong, "after down");
}

/// Nothing of the rewrite is left: no shadow, no backup, the collection
/// takes writes, the ledger says rolled back.
pub fn check_nothing_left(t: &TestDb) {
    let left: Vec<String> = collections(t)
        .into_iter()
        .filter(|c| c.starts_with("mongoshift_shadow_") || c.starts_with("mongoshift_backup_"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    let e = &t.ledger()[0];
    assert_eq!(e.get_str("state"), Ok("rolled_back"), "{e}");
    block_on(t.db().collection::<Document>("users").insert_one(doc! {
        "_id": -1, "email": "writes@example.com", "n": 0,
    }))
    .expect("the collection takes writes (no fence left)");
    block_on(
        t.db()
            .collection::<Document>("users")
            .delete_one(doc! { "_id": -1 }),
    )
    .unwrap();
}
