//! The audit trail: every `up`, `down`, `pause`, `resume` and `swap` is
//! recorded in the target (`mongoshift_audit`) with who ran it, what it
//! changed per collection and how it ended; `mongoshift audit` lists it
//! (a table, or JSON lines) with filters; a password in the connection
//! string is never recorded.

use std::time::Duration;

use bson::doc;
use predicates::prelude::*;
use serde_json::Value;

use crate::cross_auth::{as_user, auth_server, create_user};
use crate::pause::{spawn_up, wait_for};
use crate::throttle::counter_migration;
use crate::util::{block_on, text, TestDb};

const STATUS: &str = "20260101000000_add_status";
const ORDERS: &str = "20260102000000_flag_orders";
const BROKEN: &str = "20260103000000_unique_n";

const ADD_STATUS: &str = r#"
description = "give every user a status"
kind = "update"
collection = "users"

[[forward]]
op = "update_many"
filter = {}
update = { "$set" = { status = "active" } }

[[backward]]
op = "update_many"
filter = {}
update = { "$unset" = { status = "" } }
"#;

const FLAG_ORDERS: &str = r#"
description = "flag every order"
kind = "update"
collection = "orders"

[[forward]]
op = "update_many"
filter = {}
update = { "$set" = { flagged = true } }

[[backward]]
op = "update_many"
filter = {}
update = { "$unset" = { flagged = "" } }
"#;

/// A unique index on `n`, which every seeded user shares: the server refuses it.
const UNIQUE_N: &str = r#"
description = "a unique index the data breaks"
kind = "update"
collection = "users"

[[forward]]
op = "create_index"
keys = { n = 1 }
options = { unique = true }
"#;

/// Ten users and three orders, and the two migrations that change them.
fn project(name: &str) -> TestDb {
    let t = TestDb::new(name);
    t.seed_users(10);
    let orders = (0..3).map(|i| doc! { "_id": i }).collect::<Vec<_>>();
    block_on(t.db().collection("orders").insert_many(orders)).expect("orders");
    t.write(&format!("{STATUS}.toml"), ADD_STATUS);
    t.write(&format!("{ORDERS}.toml"), FLAG_ORDERS);
    t
}

/// `mongoshift audit --json` with `flags`, one object per line.
fn trail(t: &TestDb, flags: &[&str]) -> Vec<Value> {
    let out = t
        .cmd()
        .args(["audit", "--json"])
        .args(flags)
        .assert()
        .success()
        .get_output()
        .clone();
    let (stdout, _) = text(&out);
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|s| s.as_str().expect("a string"))
        .collect()
}

#[test]
fn a_successful_up_is_recorded_with_who_ran_it_and_counts_per_collection() {
    let t = project("audit_up");
    t.cmd().arg("up").assert().success();
    let rows = trail(&t, &[]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!(r["command"], "up");
    assert_eq!(r["status"], "ok");
    assert_eq!(r["database"], t.name.as_str());
    assert_eq!(strs(&r["migrations"]), [STATUS, ORDERS]);
    assert_eq!(r["counts"], serde_json::json!({ "orders": 3, "users": 10 }));
    let changes = r["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0]["migration"], STATUS);
    assert_eq!(changes[0]["collection"], "users");
    assert_eq!(changes[0]["modified"], 10);
    assert_eq!(changes[0]["direction"], "up");
    assert_eq!(r["tool_version"], env!("CARGO_PKG_VERSION"));
    assert!(!r["host"].as_str().expect("host").is_empty());
    assert!(!r["user"].as_str().expect("user").is_empty());
    assert!(
        r["command_line"].as_str().expect("line").ends_with(" up"),
        "{r}"
    );
    for at in ["started_at", "finished_at"] {
        let s = r[at].as_str().expect("a time");
        assert!(bson::DateTime::parse_rfc3339_str(s).is_ok(), "{at}: {s}");
    }
    assert_eq!(r["error"], Value::Null);
    assert_eq!(r["policy_hash"], Value::Null);
    assert_eq!(r["signer"], Value::Null);
    let out = t.cmd().arg("audit").assert().success().get_output().clone();
    let (table, _) = text(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    for head in [
        "STARTED",
        "USER@HOST",
        "COMMAND",
        "MIGRATIONS",
        "RESULT",
        "DOCS CHANGED",
    ] {
        assert!(lines[0].contains(head), "{table}");
    }
    let user_host = format!(
        "{}@{}",
        r["user"].as_str().expect("user"),
        r["host"].as_str().expect("host")
    );
    for cell in [
        user_host.as_str(),
        " up ",
        &format!("{STATUS}, {ORDERS}"),
        " ok ",
        "orders 3, users 10",
        "none",
    ] {
        assert!(lines[1].contains(cell), "{cell:?} missing: {table}");
    }
}

#[test]
fn a_failed_run_is_recorded_with_its_error_and_what_ran_before_it() {
    let t = project("audit_failed");
    t.write(&format!("{BROKEN}.toml"), UNIQUE_N);
    t.cmd().arg("up").assert().code(1);
    let rows = trail(&t, &[]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!(r["status"], "failed");
    assert_eq!(strs(&r["migrations"]), [STATUS, ORDERS, BROKEN]);
    assert_eq!(r["counts"], serde_json::json!({ "orders": 3, "users": 10 }));
    let error = &r["error"];
    assert_eq!(error["code"], "database", "{error}");
    assert_eq!(error["server_code"], 11000, "{error}");
    assert!(
        error["message"].as_str().expect("message").contains(BROKEN),
        "{error}"
    );
    let out = t.cmd().arg("audit").assert().success().get_output().clone();
    let (table, _) = text(&out);
    assert!(table.contains("failed: database"), "{table}");
}

#[test]
fn a_down_is_recorded_newest_first_with_what_it_rolled_back() {
    let t = project("audit_down");
    t.cmd().arg("up").assert().success();
    t.cmd().args(["down", "--steps", "2"]).assert().success();
    let rows = trail(&t, &[]);
    assert_eq!(rows.len(), 2, "{rows:?}");
    let (down, up) = (&rows[0], &rows[1]);
    assert_eq!(
        (&down["command"], &up["command"]),
        (&"down".into(), &"up".into())
    );
    assert_eq!(down["status"], "ok");
    assert_eq!(strs(&down["migrations"]), [ORDERS, STATUS]);
    assert_eq!(
        down["counts"],
        serde_json::json!({ "orders": 3, "users": 10 })
    );
    assert!(down["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .all(|c| c["direction"] == "down"));
    assert_eq!(t.count("users", doc! { "status": { "$exists": true } }), 0);
}

#[test]
fn a_refused_run_is_recorded_and_nothing_changed() {
    let t = project("audit_refused");
    t.cmd().arg("up").assert().success();
    t.write(
        &format!("{STATUS}.toml"),
        &ADD_STATUS.replace("\"active\"", "\"busy\""),
    );
    t.cmd().arg("up").assert().code(3);
    let rows = trail(&t, &[]);
    assert_eq!(rows.len(), 2, "{rows:?}");
    let r = &rows[0];
    assert_eq!(r["status"], "refused");
    assert_eq!(strs(&r["migrations"]), [STATUS]);
    assert_eq!(r["error"]["code"], "checksum_mismatch");
    assert!(
        r["error"]["message"]
            .as_str()
            .expect("message")
            .contains(STATUS),
        "{r}"
    );
    assert_eq!(r["changes"], serde_json::json!([]));
    assert_eq!(r["counts"], serde_json::json!({}));
    assert_eq!(t.count("users", doc! { "status": "busy" }), 0);
    // Pausing what is not running is refused, and recorded as such.
    t.cmd().args(["pause", STATUS]).assert().code(1);
    let r = &trail(&t, &["--limit", "1"])[0];
    assert_eq!(
        (&r["command"], &r["status"]),
        (&"pause".into(), &"refused".into())
    );
    assert_eq!(strs(&r["migrations"]), [STATUS]);
    assert_eq!(r["error"]["code"], "control");
}

#[test]
fn filters_choose_by_migration_time_and_number() {
    let t = project("audit_filters");
    t.cmd().args(["up", "--to", STATUS]).assert().success();
    t.cmd().arg("up").assert().success();
    t.cmd().args(["down", "--steps", "1"]).assert().success();
    assert_eq!(trail(&t, &[]).len(), 3);
    let newest = trail(&t, &["--limit", "1"]);
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0]["command"], "down");
    let of_status = trail(&t, &["--migration", STATUS]);
    assert_eq!(of_status.len(), 1, "{of_status:?}");
    assert_eq!(strs(&of_status[0]["migrations"]), [STATUS]);
    assert_eq!(trail(&t, &["--migration", ORDERS]).len(), 2);
    assert_eq!(trail(&t, &["--since", "2999-01-01T00:00:00Z"]).len(), 0);
    let second = trail(&t, &[])[1]["started_at"]
        .as_str()
        .expect("a time")
        .to_string();
    assert_eq!(trail(&t, &["--since", &second]).len(), 2);
    t.cmd()
        .args(["audit", "--since", "yesterday"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--since"))
        .stderr(predicate::str::contains("not an RFC 3339 time"));
    let empty = TestDb::new("audit_empty");
    empty
        .cmd()
        .arg("audit")
        .assert()
        .success()
        .stdout("no runs recorded\n");
}

#[test]
fn a_killed_run_is_running_while_it_lives_and_interrupted_after_its_lease() {
    let t = TestDb::new("audit_killed");
    t.seed_users(10_000);
    counter_migration(&t, "batch_size = 500\n");
    let mig = "20260601000000_count";
    let (mut run, events) = spawn_up(&t, &["--pause-at", "50", "--lock-ttl", "2"]);
    wait_for(&events, "paused", &mut Vec::new());
    // Longer than the lease: the record is renewed while the run lives.
    std::thread::sleep(Duration::from_secs(3));
    let r = &trail(&t, &[])[0];
    assert_eq!(r["status"], "running", "{r}");
    assert_eq!(strs(&r["migrations"]), [mig]);
    run.kill().expect("SIGKILL");
    run.wait().expect("reap");
    std::thread::sleep(Duration::from_secs(3));
    let r = &trail(&t, &[])[0];
    assert_eq!(r["status"], "interrupted", "{r}");
    assert_eq!(r["finished_at"], Value::Null);
    let out = t.cmd().arg("audit").assert().success().get_output().clone();
    assert!(text(&out).0.contains("interrupted"));
}

#[test]
fn the_password_of_the_connection_string_is_never_recorded() {
    let (server, root) = auth_server();
    let t = TestDb::on(&root, "audit_password");
    t.seed_users(10);
    t.write(&format!("{STATUS}.toml"), ADD_STATUS);
    create_user(
        &root,
        "auditor",
        vec![doc! { "role": "readWrite", "db": &t.name }.into()],
    );
    let uri = as_user(&server.uri, "auditor", "auditor-pw");
    t.cmd().args(["--uri", &uri, "up"]).assert().success();
    t.cmd()
        .args([&format!("--uri={uri}"), "down"])
        .assert()
        .success();
    let raw = t.raw(mongoshift::audit::AUDIT_COLLECTION);
    assert_eq!(raw.len(), 2);
    for r in &raw {
        let bytes = r.as_bytes();
        for secret in [&b"auditor-pw"[..], b"root-pw"] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret),
                "a password is stored: {:?}",
                r.to_document()
            );
        }
        let line = r.get_str("command_line").expect("command line");
        assert!(line.contains("auditor:****@"), "{line}");
    }
    let env: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
    let doc = raw[0].to_document().expect("a document");
    assert!(
        env.iter().all(|k| k.len() < 4 || !doc.contains_key(k)),
        "{doc}"
    );
}

#[test]
fn a_record_that_cannot_be_written_is_warned_of_on_stderr_and_the_run_goes_on() {
    let (server, root) = auth_server();
    let t = TestDb::on(&root, "audit_unwritable");
    t.seed_users(5);
    t.write(&format!("{STATUS}.toml"), ADD_STATUS);
    // Every collection a run writes but the audit trail's.
    let collections = [
        "users",
        "mongoshift_ledger",
        "mongoshift_lock",
        "mongoshift_partitions",
    ];
    let actions = [
        "find",
        "insert",
        "update",
        "remove",
        "createCollection",
        "createIndex",
    ];
    let mut privileges: Vec<bson::Bson> = collections
        .iter()
        .map(|c| {
            doc! { "resource": { "db": &t.name, "collection": *c }, "actions": actions.to_vec() }
                .into()
        })
        .collect();
    privileges.push(
        doc! { "resource": { "db": &t.name, "collection": "" }, "actions": ["listCollections"] }
            .into(),
    );
    block_on(t.db().run_command(doc! {
        "createRole": "no_audit", "privileges": privileges, "roles": []
    }))
    .expect("create role");
    create_user(
        &root,
        "app",
        vec![doc! { "role": "no_audit", "db": &t.name }.into()],
    );
    let uri = as_user(&server.uri, "app", "app-pw");
    for progress in ["plain", "none", "json"] {
        t.cmd()
            .args(["--uri", &uri, "--progress", progress, "up"])
            .assert()
            .success()
            .stderr(predicate::str::contains(
                "warning: mongoshift_audit: cannot record the start of this run in the audit trail",
            ))
            .stderr(predicate::str::contains(
                "cannot record the end of this run",
            ))
            .stderr(predicate::str::contains("the run goes on without it"));
    }
    assert_eq!(t.count("users", doc! { "status": "active" }), 5);
    assert!(t.raw(mongoshift::audit::AUDIT_COLLECTION).is_empty());
}
