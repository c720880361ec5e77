//! Each command, as a user runs it.

use bson::{doc, Bson};
use predicates::prelude::*;

use crate::util::{text, TestDb};

const ADD_STATUS: &str = r#"
description = "give every user a status"
kind = "update"
collection = "users"

[[forward]]
op = "update_many"
filter = { status = { "$exists" = false } }
update = { "$set" = { status = "active" } }

[[backward]]
op = "update_many"
filter = {}
update = { "$unset" = { status = "" } }
"#;

const RENAME_AND_INDEX: &str = r#"
description = "rename email to contact_email and index it"
kind = "update"
collection = "users"

[[forward]]
op = "rename_field"
from = "email"
to = "contact_email"

[[forward]]
op = "create_index"
keys = { contact_email = 1 }
options = { unique = true }
"#;

const PIPELINE_AND_DELETE: &str = r#"
description = "derive age_group with a pipeline, then delete the under-25s"
kind = "update"
collection = "users"

[[forward]]
op = "update_many"
filter = {}
update = [ { "$set" = { age_group = { "$cond" = [ { "$gte" = ["$age", 40] }, "senior", "junior" ] } } } ]

[[forward]]
op = "delete_many"
filter = { age = { "$lt" = 25 } }
"#;

#[test]
fn new_scaffolds_a_pending_migration_that_applies() {
    let t = TestDb::new("new_scaffolds");
    t.seed_users(10);
    let out = t
        .cmd()
        .args(["new", "add status"])
        .assert()
        .success()
        .get_output()
        .clone();
    let (stdout, _) = text(&out);
    assert!(stdout.starts_with("created "), "{stdout}");
    let files: Vec<_> = std::fs::read_dir(t.migrations())
        .expect("dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(files.len(), 1);
    let name = files[0].to_string_lossy().into_owned();
    assert!(name.ends_with("_add_status.toml"), "{name}");
    t.cmd()
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains("pending"));
    t.cmd().arg("up").assert().success();
    assert_eq!(t.count("users", doc! { "status": "active" }), 10);
}

#[test]
fn up_applies_in_order_records_the_ledger_and_is_idempotent() {
    let t = TestDb::new("up_applies");
    t.seed_users(1000);
    t.write("20260101000000_add_status.toml", ADD_STATUS);
    t.write("20260102000000_rename_and_index.toml", RENAME_AND_INDEX);
    t.write(
        "20260103000000_pipeline_and_delete.toml",
        PIPELINE_AND_DELETE,
    );

    let out = t.cmd().arg("up").assert().success().get_output().clone();
    let (stdout, stderr) = text(&out);
    assert!(stdout.contains("applied 3 migration(s)"), "{stdout}");
    assert!(
        stderr.contains("20260101000000_add_status step 1: 1000 modified of 1000 matched"),
        "{stderr}"
    );

    assert_eq!(
        t.count("users", doc! { "status": "active" }),
        900,
        "100 under-25s deleted"
    );
    assert_eq!(t.count("users", doc! { "email": { "$exists": true } }), 0);
    assert_eq!(
        t.count("users", doc! { "contact_email": { "$exists": true } }),
        900
    );
    assert_eq!(t.count("users", doc! { "age_group": "senior" }), 600);
    assert!(t
        .index_names("users")
        .contains(&"contact_email_1".to_string()));

    let ledger = t.ledger();
    assert_eq!(ledger.len(), 3);
    for e in &ledger {
        assert_eq!(e.get_str("state"), Ok("applied"), "{e}");
        assert_eq!(e.get_str("checksum").map(str::len), Ok(64));
        assert!(matches!(e.get("applied_at"), Some(Bson::DateTime(_))));
        assert!(e.get_i64("fence").is_ok_and(|f| f >= 1));
    }
    assert_eq!(ledger[0].get_i64("modified"), Ok(1000));
    assert_eq!(
        ledger[2].get_i64("modified"),
        Ok(1000 + 100),
        "pipeline 1000 + delete 100"
    );

    // A second run has nothing to do and changes nothing.
    t.cmd()
        .arg("up")
        .assert()
        .success()
        .stdout(predicate::str::contains("nothing to do"));
    assert_eq!(t.ledger(), ledger);

    let out = t
        .cmd()
        .arg("status")
        .assert()
        .success()
        .get_output()
        .clone();
    let (stdout, _) = text(&out);
    for id in [
        "20260101000000_add_status",
        "20260102000000_rename_and_index",
        "20260103000000_pipeline_and_delete",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} missing:\n{stdout}"));
        assert!(line.contains("applied") && line.contains("ok"), "{line}");
    }
    assert!(stdout.contains("1000/1000"), "{stdout}");
}

#[test]
fn status_json_and_plan_show_matching_counts() {
    let t = TestDb::new("plan_counts");
    t.seed_users(300);
    t.write("20260101000000_add_status.toml", ADD_STATUS);
    t.write(
        "20260103000000_pipeline_and_delete.toml",
        PIPELINE_AND_DELETE,
    );

    let out = t.cmd().arg("plan").assert().success().get_output().clone();
    let (stdout, _) = text(&out);
    assert!(stdout.contains("would apply 2 migration(s)"), "{stdout}");
    assert!(stdout.contains("(300 documents match)"), "{stdout}");
    assert!(
        stdout.contains("(30 documents match)"),
        "under-25s: {stdout}"
    );
    assert!(stdout.contains("guarantee:"), "{stdout}");

    let out = t
        .cmd()
        .args(["plan", "--json", "--to", "20260101000000_add_status"])
        .assert()
        .success()
        .get_output()
        .clone();
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan json");
    assert_eq!(plan["migrations"].as_array().map(Vec::len), Some(1));
    assert_eq!(plan["migrations"][0]["steps"][0]["matching"], 300);

    let out = t
        .cmd()
        .args(["status", "--json"])
        .assert()
        .success()
        .get_output()
        .clone();
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status json");
    assert_eq!(rows[0]["status"], "pending");
    assert_eq!(rows[1]["id"], "20260103000000_pipeline_and_delete");
    // planning writes nothing
    assert_eq!(t.ledger().len(), 0);
    assert_eq!(t.count("users", doc! { "status": { "$exists": true } }), 0);
}

#[test]
fn up_to_and_down_to_and_steps() {
    let t = TestDb::new("up_to_down");
    t.seed_users(100);
    t.write("20260101000000_add_status.toml", ADD_STATUS);
    t.write("20260102000000_rename_and_index.toml", RENAME_AND_INDEX);
    let original = t.find("users", doc! {});

    t.cmd()
        .args(["up", "--to", "20260101000000_add_status"])
        .assert()
        .success();
    assert_eq!(t.ledger().len(), 1);
    t.cmd().arg("up").assert().success();
    assert_eq!(
        t.count("users", doc! { "contact_email": { "$exists": true } }),
        100
    );

    // The rename and the index are reversed automatically.
    t.cmd()
        .args(["down", "--to", "20260101000000_add_status"])
        .assert()
        .success();
    assert_eq!(t.count("users", doc! { "email": { "$exists": true } }), 100);
    assert!(!t
        .index_names("users")
        .contains(&"contact_email_1".to_string()));
    t.cmd()
        .args(["down", "--steps", "1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("rolled back 1"));
    let restored = t.find("users", doc! {});
    let keys = |d: &bson::Document| d.keys().cloned().collect::<Vec<_>>();
    assert_eq!(restored.len(), original.len());
    for (a, b) in original.iter().zip(&restored) {
        assert_eq!(a.get("email"), b.get("email"));
        assert_eq!(a.get("status"), b.get("status"));
        let mut ka = keys(a);
        let mut kb = keys(b);
        ka.sort();
        kb.sort();
        assert_eq!(ka, kb, "same fields after down");
    }
    let states: Vec<_> = t
        .ledger()
        .iter()
        .map(|e| e.get_str("state").unwrap_or_default().to_string())
        .collect();
    assert_eq!(states, ["rolled_back", "rolled_back"]);
    t.cmd()
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains("rolled_back"));

    // Rolled-back migrations are pending again for `up`.
    t.cmd()
        .arg("up")
        .assert()
        .success()
        .stdout(predicate::str::contains("applied 2"));
    assert_eq!(t.count("users", doc! { "status": "active" }), 100);
}

#[test]
fn down_refuses_an_irreversible_migration_before_changing_anything() {
    let t = TestDb::new("irreversible");
    t.seed_users(50);
    t.write("20260101000000_add_status.toml", ADD_STATUS);
    t.write(
        "20260103000000_pipeline_and_delete.toml",
        PIPELINE_AND_DELETE,
    );
    t.cmd().arg("up").assert().success();
    let before = t.find("users", doc! {});
    let ledger = t.ledger();
    t.cmd()
        .args(["down", "--steps", "2"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "migration 20260103000000_pipeline_and_delete cannot be rolled back",
        ))
        .stderr(predicate::str::contains("delete_many removes documents"));
    assert_eq!(t.find("users", doc! {}), before, "nothing rolled back");
    assert_eq!(t.ledger(), ledger);
}

#[test]
fn checksum_changes_are_refused_verified_and_can_be_accepted_by_name() {
    let t = TestDb::new("checksum");
    t.seed_users(20);
    let path = t.write("20260101000000_add_status.toml", ADD_STATUS);
    t.cmd().arg("up").assert().success();
    t.cmd()
        .arg("verify")
        .assert()
        .success()
        .stdout(predicate::str::contains("ok"));

    std::fs::write(&path, ADD_STATUS.replace("\"active\"", "\"enabled\"")).expect("edit");
    t.write("20260102000000_rename_and_index.toml", RENAME_AND_INDEX);
    t.cmd()
        .arg("up")
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "migration 20260101000000_add_status was applied with checksum",
        ))
        .stderr(predicate::str::contains(
            "--dangerously-allow-changed 20260101000000_add_status",
        ));
    assert_eq!(t.ledger().len(), 1, "the next migration did not run");
    t.cmd()
        .arg("verify")
        .assert()
        .code(3)
        .stdout(predicate::str::contains("CHANGED"));
    t.cmd()
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains("CHANGED"));

    t.cmd()
        .args([
            "up",
            "--dangerously-allow-changed",
            "20260101000000_add_status",
        ])
        .assert()
        .success();
    assert_eq!(t.ledger().len(), 2);
    t.cmd().arg("verify").assert().success();
    assert_eq!(
        t.count("users", doc! { "status": "active" }),
        20,
        "the database keeps what the old file did"
    );
}

#[test]
fn applied_migration_missing_on_disk_is_reported() {
    let t = TestDb::new("missing_on_disk");
    let path = t.write("20260101000000_add_status.toml", ADD_STATUS);
    t.cmd().arg("up").assert().success();
    std::fs::remove_file(path).expect("rm");
    t.write("20260102000000_rename_and_index.toml", RENAME_AND_INDEX);
    t.cmd()
        .arg("up")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("migration 20260101000000_add_status is recorded in the ledger as applied but is missing from"));
    t.cmd()
        .arg("verify")
        .assert()
        .code(3)
        .stdout(predicate::str::contains("MISSING ON DISK"));
    t.cmd()
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains("applied (missing on disk)"));
    assert_eq!(t.ledger().len(), 1);
}

#[test]
fn config_file_and_json_progress() {
    let t = TestDb::new("config_json");
    t.seed_users(5);
    std::fs::create_dir(t.dir.path().join("db")).expect("mkdir");
    std::fs::write(
        t.dir
            .path()
            .join("db")
            .join("20260101000000_add_status.toml"),
        ADD_STATUS,
    )
    .expect("write");
    std::fs::write(
        t.dir.path().join("mongoshift.toml"),
        format!(
            "database = \"{}\"\npath = \"db\"\nlock_timeout = 5\n",
            t.name
        ),
    )
    .expect("config");
    let out = t
        .cmd()
        .env_remove("MONGOSHIFT_DB")
        .args(["--progress", "json", "up"])
        .assert()
        .success()
        .get_output()
        .clone();
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON event per line"))
        .collect();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "lock_acquired",
            "run_started",
            "migration_started",
            "step_started",
            "step_finished",
            "migration_finished",
            "run_finished"
        ]
    );
    assert_eq!(events[5]["modified"], 5);
    assert_eq!(t.count("users", doc! { "status": "active" }), 5);
}

#[test]
fn a_standalone_server_without_transactions_works_and_plan_says_so() {
    let server = crate::util::LocalServer::start(&["--standalone"]);
    let t = TestDb::on(&server.uri, "standalone");
    t.seed_users(100);
    t.write("20260101000000_add_status.toml", ADD_STATUS);
    t.cmd()
        .arg("plan")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "standalone server: no transactions",
        ));
    t.cmd().arg("up").assert().success();
    assert_eq!(t.count("users", doc! { "status": "active" }), 100);
    assert_eq!(t.ledger()[0].get_str("state"), Ok("applied"));
    t.cmd().arg("down").assert().success();
    assert_eq!(t.count("users", doc! { "status": { "$exists": true } }), 0);
}

#[test]
fn a_report_piped_into_a_reader_that_went_away_ends_quietly() {
    let t = TestDb::new("report_pipe");
    t.write("20260101000000_add_status.toml", ADD_STATUS);
    for args in [
        &["status"][..],
        &["plan"],
        &["verify"],
        &["up", "--dry-run"],
    ] {
        let mut child = t
            .std_cmd()
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        // `mongoshift status | true`: the reader is gone before the report.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let (_, stderr) = text(&out);
        assert!(
            !stderr.contains("panicked") && out.status.code() != Some(101),
            "{args:?}: {:?}\n{stderr}",
            out.status
        );
    }
}
