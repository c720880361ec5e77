//! Write strategies: in place with concurrent application writes, and copy
//! and swap (rewrite).

#![allow(clippy::unwrap_used, clippy::print_stderr)]

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
pub(crate) fn counting(t: &TestDb, extra: &str) {
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
        self.done
            .lock()
            .expect("lock")
            .values()
            .map(|&k| k as usize)
            .sum()
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
    assert!(
        during > 1000,
        "only {during} application writes during the run"
    );
    let mut lost = Vec::new();
    for d in t.find("users", doc! {}) {
        let id = d.get_i32("_id").unwrap();
        let k = counts.get(&id).copied().unwrap_or(0);
        let (age, nn) = (d.get_i32("age").unwrap(), d.get_i32("n").unwrap());
        if age != ages[&id] + k || nn != 1 + 10 * k {
            lost.push(format!(
                "_id {id}: {k} app writes, age {age} (was {}), n {nn}",
                ages[&id]
            ));
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

/// A `users` collection with a validator and a unique index, seeded.
pub(crate) fn users_with_options(t: &TestDb, n: i32) {
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

pub(crate) fn options_of(t: &TestDb, coll: &str) -> (Document, Vec<Document>) {
    block_on(async {
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
        let validator = info
            .get_document("options")
            .unwrap()
            .get_document("validator")
            .cloned()
            .unwrap_or_default();
        let mut indexes = Vec::new();
        let mut c = t
            .db()
            .collection::<Document>(coll)
            .list_indexes()
            .await
            .expect("indexes");
        use futures_util::TryStreamExt;
        while let Some(ix) = c.try_next().await.expect("index") {
            indexes.push(doc! { "name": ix.options.and_then(|o| o.name), "keys": ix.keys });
        }
        indexes.sort_by_key(|d| d.get_str("name").unwrap_or("").to_string());
        (validator, indexes)
    })
}

/// A module without a backward transform: the rewrite keeps the originals.
#[test]
fn down_after_a_rewrite_restores_the_original_collection_exactly() {
    let t = TestDb::new("rewrite_down");
    users_with_options(&t, 5_000);
    let original = t.raw_users();
    let before = options_of(&t, "users");
    counting(&t, "");
    t.write(&format!("{MIG}/guest.wat"), &counter(false, None));
    let out = t.cmd().arg("plan").assert().success().get_output().clone();
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("strategy rewrite: auto: a whole-collection migration on a replica set"),
        "{stdout}"
    );
    t.cmd().arg("up").assert().success();
    assert_eq!(t.count("users", doc! { "n": 1 }), 5_000);
    assert_eq!(
        t.count(&format!("mongoshift_backup_{MIG}"), doc! { "n": 0 }),
        5_000
    );
    assert_eq!(options_of(&t, "users"), before);
    let out = t
        .cmd()
        .args(["plan", "--down-steps", "1"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(
        text(&out).0.contains(&format!(
            "put the originals kept in mongoshift_backup_{MIG} back over users"
        )),
        "{}",
        text(&out).0
    );
    t.cmd().arg("down").assert().success();
    assert!(
        t.raw_users() == original,
        "the original documents, byte for byte"
    );
    assert_eq!(
        options_of(&t, "users"),
        before,
        "indexes and validator as before"
    );
    assert_eq!(t.count(&format!("mongoshift_backup_{MIG}"), doc! {}), 0);
    assert_eq!(t.ledger()[0].get_str("state"), Ok("rolled_back"));
    // And up again works from there.
    t.cmd().arg("up").assert().success();
    assert_eq!(t.count("users", doc! { "n": 1 }), 5_000);
    // prune drops the backup; without a backward transform there is then
    // no way back, and `down` says so before changing anything.
    t.cmd()
        .arg("prune")
        .assert()
        .success()
        .stdout(predicates::str::contains(format!(
            "dropped mongoshift_backup_{MIG}"
        )));
    assert_eq!(t.count(&format!("mongoshift_backup_{MIG}"), doc! {}), 0);
    t.cmd()
        .arg("down")
        .assert()
        .code(1)
        .stderr(predicates::str::contains(format!(
            "migration {MIG} cannot be rolled back: its module guest.wat has no backward transform"
        )));
    assert_eq!(t.count("users", doc! { "n": 1 }), 5_000);
}

#[test]
fn auto_picks_in_place_for_a_filtered_migration_and_a_forced_rewrite_is_refused() {
    let t = TestDb::new("rewrite_refused");
    t.seed_users(100);
    counting(&t, "filter = { age = { \"$gte\" = 30 } }\n");
    let out = t.cmd().arg("plan").assert().success().get_output().clone();
    assert!(
        text(&out).0.contains("strategy in-place: auto: in place because the migration has a filter; a rewrite replaces the whole collection"),
        "{}",
        text(&out).0
    );
    t.cmd()
        .args(["up", "--strategy", "rewrite"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "a rewrite cannot be done: the migration has a filter; a rewrite replaces the whole collection",
        ));
    assert_eq!(t.count("users", doc! { "n": 1 }), 0, "nothing written");
    t.cmd().arg("up").assert().success();
    assert_eq!(
        t.count("users", doc! { "n": 1 }),
        t.count("users", doc! { "age": { "$gte": 30 } })
    );
}

#[test]
fn a_rewrite_killed_at_many_points_resumes_and_applies_exactly_once() {
    let t = TestDb::new("rewrite_kill");
    t.seed_users(100_000);
    counting(&t, "strategy = \"rewrite\"\n");
    let kills = t.up_killed_after(
        // Short and many: a resumed run does the rest of 100,000 documents
        // in about 4 s, the copy in under one.
        &[250, 400, 550, 700, 850, 1000, 1200, 1400, 1700, 2000, 2400],
        || {},
    );
    let out = t.cmd().arg("up").assert().success().get_output().clone();
    let (stdout, stderr) = text(&out);
    assert!(
        kills >= 5,
        "only {kills} runs were killed\n{stdout}{stderr}"
    );
    assert_eq!(t.count("users", doc! {}), 100_000);
    assert_eq!(
        t.count("users", doc! { "n": 1 }),
        100_000,
        "every document exactly once"
    );
    assert_eq!(t.ledger()[0].get_str("state"), Ok("applied"));
}

#[test]
fn in_place_handles_a_batch_spanning_several_id_types() {
    let t = TestDb::new("inplace_mixed_ids");
    let docs: Vec<Document> = (0..3_000)
        .map(|i| {
            let id = match i % 3 {
                0 => bson::Bson::Int32(i),
                1 => bson::Bson::String(format!("user-{i:05}")),
                _ => bson::Bson::ObjectId(bson::oid::ObjectId::new()),
            };
            doc! { "_id": id, "name": format!("P{i} Q"), "n": 0 }
        })
        .collect();
    block_on(t.db().collection::<Document>("users").insert_many(docs)).expect("seed");
    counting(&t, "strategy = \"in-place\"\n");
    t.cmd().arg("up").assert().success();
    assert_eq!(
        t.count("users", doc! { "n": 1 }),
        3_000,
        "every document, whatever its _id type"
    );
}

/// The collections of the test's database, sorted.
fn collections(t: &TestDb) -> Vec<String> {
    let mut names = block_on(t.db().list_collection_names()).unwrap();
    names.sort();
    names
}

/// `mongoshift up --progress json`, its output piped.
fn up_with_json_progress(t: &TestDb) -> std::process::Child {
    t.std_cmd()
        .env("MONGOSHIFT_PROGRESS", "json")
        .arg("up")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

#[test]
fn a_collection_renamed_during_a_rewrite_stops_it_with_the_reason_and_down_drops_the_copy() {
    use std::io::BufRead;
    let t = TestDb::new("rewrite_renamed");
    t.seed_users(60_000);
    counting(&t, "strategy = \"rewrite\"\n");
    let mut child = up_with_json_progress(&t);
    // Once the copy has written its first documents, an operator renames
    // the collection.
    let events = std::io::BufReader::new(child.stdout.take().unwrap());
    let (copying_tx, copying) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for line in events.lines() {
            let line = line.unwrap();
            if line.contains("\"event\":\"documents\"") {
                let _ = copying_tx.send(());
            }
            seen.push(line);
        }
        seen
    });
    copying
        .recv_timeout(Duration::from_secs(60))
        .expect("the copy starts");
    let admin = t.client.database("admin");
    let db = t.name.clone();
    block_on(admin.run_command(doc! {
        "renameCollection": format!("{db}.users"),
        "to": format!("{db}.users_moved"),
    }))
    .expect("rename");
    let out = child.wait_with_output().expect("wait");
    let (_, stderr) = text(&out);
    let all = format!("{}\n{stderr}", reader.join().unwrap().join("\n"));
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        stderr.contains("while applying migration 20260401000000_count")
            && stderr.contains(&format!(
                "collection renamed from '{db}.users' to '{db}.users_moved'"
            )),
        "{all}"
    );
    // The original, under its new name, was not touched.
    assert_eq!(t.count("users_moved", doc! { "n": 0 }), 60_000);
    assert_eq!(t.ledger()[0].get_str("state"), Ok("failed"));
    // Running it again says why it cannot go on, and what to do.
    t.cmd()
        .arg("up")
        .assert()
        .code(1)
        .stderr(predicates::str::contains(format!(
            "users no longer exists (renamed or dropped since this rewrite started): \
             `mongoshift down` drops the partial copy mongoshift_shadow_{MIG}"
        )));
    t.cmd().arg("down").assert().success();
    assert_eq!(
        collections(&t),
        [
            "mongoshift_audit",
            "mongoshift_ledger",
            "mongoshift_lock",
            "users_moved"
        ],
        "the partial copy is gone"
    );
    assert_eq!(t.count("users_moved", doc! { "n": 0 }), 60_000);
    assert_eq!(t.ledger()[0].get_str("state"), Ok("rolled_back"));
}

#[test]
fn a_progress_reader_that_goes_away_does_not_stop_the_migration() {
    use std::io::BufRead;
    let t = TestDb::new("progress_gone");
    t.seed_users(20_000);
    counting(&t, "strategy = \"in-place\"\n");
    let mut child = up_with_json_progress(&t);
    // `mongoshift up --progress json | head -1`.
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("\"event\":\"lock_acquired\""), "{first}");
    let out = child.wait_with_output().expect("wait");
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(t.count("users", doc! { "n": 1 }), 20_000);
    assert_eq!(t.ledger()[0].get_str("state"), Ok("applied"));
}

#[test]
fn a_bad_rewrite_backlog_setting_is_refused_before_anything_is_written() {
    let t = TestDb::new("rewrite_bad_backlog");
    t.seed_users(500);
    let original = t.raw_users();
    counting(&t, "strategy = \"rewrite\"\n");
    t.cmd()
        .env("MONGOSHIFT_REWRITE_BACKLOG", "lots")
        .arg("up")
        .assert()
        .code(1)
        .stderr(predicates::str::contains(format!(
            "while applying migration {MIG}: a rewrite cannot be done: \
             MONGOSHIFT_REWRITE_BACKLOG=\"lots\" is not a number of documents (e.g. 100000)"
        )));
    assert!(t.raw_users() == original, "nothing written");
    assert_eq!(
        collections(&t),
        [
            "mongoshift_audit",
            "mongoshift_ledger",
            "mongoshift_lock",
            "users"
        ],
        "no shadow collection"
    );
}
