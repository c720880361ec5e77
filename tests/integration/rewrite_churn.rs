//! The rewrite under an application writing throughout: inserts, updates
//! and deletes made while the copy runs and while the window is up all
//! survive the swap.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bson::{doc, Document};

use crate::strategies::{counting, options_of, users_with_options};
use crate::util::{block_on, rt, text, TestDb};

/// When the rewrite started its window: recorded before the fence went up,
/// so every write acknowledged earlier reached the copy through the stream.
fn fenced_at(t: &TestDb) -> std::time::SystemTime {
    t.ledger()[0]
        .get_document("rewrite")
        .unwrap()
        .get_datetime("fenced_at")
        .unwrap()
        .to_system_time()
}

/// Inserts, updates and deletes while told to run, retrying writes the swap
/// window refuses, and remembers what was acknowledged.
struct Churn {
    stop: Arc<AtomicBool>,
    state: Arc<Mutex<ChurnState>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct ChurnState {
    updates: HashMap<i32, i32>,
    /// `_id` and when the insert was acknowledged.
    inserted: Vec<(i32, std::time::SystemTime)>,
    deleted: Vec<i32>,
    refused: usize,
    ops: usize,
}

impl Churn {
    fn start(t: &TestDb, n: i32) -> Churn {
        let coll = t.db().collection::<Document>("users");
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(Mutex::new(ChurnState::default()));
        let (s, st) = (stop.clone(), state.clone());
        let task = rt().spawn(async move {
            let mut x: u64 = 0x2545_F491_4F6C_DD1D;
            let mut next_new = 1_000_000;
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
                                "n": 0,
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
                    let refused = match res {
                        Ok(k) => {
                            let mut g = st.lock().expect("lock");
                            g.ops += 1;
                            if k == 1 {
                                match op {
                                    0 => {
                                        g.inserted.push((next_new, std::time::SystemTime::now()));
                                        next_new += 1;
                                    }
                                    1 => g.deleted.push(id),
                                    _ => *g.updates.entry(id).or_insert(0) += 1,
                                }
                            }
                            false
                        }
                        // The swap window refuses writes: an application retries.
                        Err(e) if e.to_string().contains("failed validation") => true,
                        Err(e) => panic!("application write failed: {e}"),
                    };
                    if !refused {
                        break;
                    }
                    st.lock().expect("lock").refused += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        });
        Churn { stop, state, task }
    }

    fn ops(&self) -> usize {
        self.state.lock().expect("lock").ops
    }

    fn finish(self) -> ChurnState {
        self.stop.store(true, Ordering::Relaxed);
        block_on(self.task).expect("churn task");
        Arc::try_unwrap(self.state)
            .ok()
            .expect("one owner")
            .into_inner()
            .expect("lock")
    }
}

#[test]
fn a_rewrite_under_concurrent_inserts_updates_and_deletes_loses_nothing() {
    rewrite_under_churn("rewrite_churn", None);
}

/// The same with room for only 50 changed documents while the copy runs: the
/// rest wait in the change stream.
#[test]
fn a_rewrite_whose_backlog_fills_during_the_copy_loses_nothing() {
    rewrite_under_churn("rewrite_churn_backlog", Some(50));
}

fn rewrite_under_churn(name: &str, backlog: Option<usize>) {
    let t = TestDb::new(name);
    let n = 30_000;
    users_with_options(&t, n);
    let before = options_of(&t, "users");
    let ages: HashMap<i32, i32> = t
        .find("users", doc! {})
        .iter()
        .map(|d| (d.get_i32("_id").unwrap(), d.get_i32("age").unwrap()))
        .collect();
    counting(&t, "strategy = \"rewrite\"\n");
    let churn = Churn::start(&t, n);
    while churn.ops() < 300 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut up = t.std_cmd();
    if let Some(n) = backlog {
        up.env("MONGOSHIFT_REWRITE_BACKLOG", n.to_string());
    }
    let out = up.arg("up").output().expect("run up");
    std::thread::sleep(Duration::from_millis(300));
    let during = churn.ops();
    let st = churn.finish();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    // The stream was read while the copy ran, not all at once after it.
    let read_during_copy: usize = stderr
        .split("applying the changes made during the copy (")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of changes read during the copy in:\n{stderr}"));
    assert!(read_during_copy > 0, "{stderr}");
    if let Some(n) = backlog {
        // Full: the rest waited in the stream.
        assert_eq!(read_during_copy, n, "{stderr}");
    }
    assert!(
        during > 1000,
        "only {during} application writes during the run"
    );
    // Documents whose insert was acknowledged before the window started are
    // transformed like the rest; those inserted after it (they land in the
    // renamed copy once writes are accepted again) are as the application
    // wrote them.
    let fenced = fenced_at(&t);
    let late: std::collections::HashSet<i32> = st
        .inserted
        .iter()
        .filter(|(_, at)| *at >= fenced)
        .map(|(id, _)| *id)
        .collect();
    let checked_inserts = st.inserted.len() - late.len();
    let wrong = wrong_after_churn(&t, n, &ages, &st, &late);
    assert!(
        wrong.is_empty(),
        "{} wrong documents after the swap, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    assert!(
        checked_inserts > 10 && !st.deleted.is_empty(),
        "{checked_inserts} inserts checked"
    );
    assert_eq!(
        options_of(&t, "users"),
        before,
        "indexes and validator as before"
    );
    let entry = &t.ledger()[0];
    assert_eq!(entry.get_str("state"), Ok("applied"), "{entry}");
    assert_eq!(
        entry.get_document("rewrite").unwrap().get_str("phase"),
        Ok("done")
    );
    eprintln!(
        "{during} application writes during the run, {} refused in the swap window and retried",
        st.refused
    );
}

/// What is wrong with the collection after a rewrite under churn: each
/// document must be transformed once after its `k` application updates,
/// nothing deleted may be back and nothing inserted or original missing
/// (`late`: inserts around the swap, which may be as written).
fn wrong_after_churn(
    t: &TestDb,
    n: i32,
    ages: &HashMap<i32, i32>,
    st: &ChurnState,
    late: &std::collections::HashSet<i32>,
) -> Vec<String> {
    let deleted: std::collections::HashSet<i32> = st.deleted.iter().copied().collect();
    let mut wrong = Vec::new();
    let docs = t.find("users", doc! {});
    let present: std::collections::HashSet<i32> =
        docs.iter().map(|d| d.get_i32("_id").unwrap()).collect();
    for d in &docs {
        let id = d.get_i32("_id").unwrap();
        let k = st.updates.get(&id).copied().unwrap_or(0);
        let nn = d.get_i32("n").unwrap();
        let age = d.get_i32("age").unwrap();
        let age0 = ages.get(&id).copied().unwrap_or(30);
        let untransformed_late_insert = late.contains(&id) && nn == 10 * k;
        if deleted.contains(&id) {
            wrong.push(format!(
                "_id {id} was deleted by the application but is back"
            ));
        } else if !untransformed_late_insert && (nn != 1 + 10 * k || age != age0 + k) {
            wrong.push(format!(
                "_id {id}: {k} updates, n {nn}, age {age} (was {age0})"
            ));
        }
    }
    for (id, _) in &st.inserted {
        if !present.contains(id) && !deleted.contains(id) {
            wrong.push(format!("_id {id} inserted by the application is missing"));
        }
    }
    for id in 0..n {
        if !present.contains(&id) && !deleted.contains(&id) {
            wrong.push(format!("_id {id} is missing"));
        }
    }
    wrong
}
