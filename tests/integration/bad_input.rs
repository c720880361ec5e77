//! Bad input: a clear message naming the file or migration, a documented exit
//! code, and nothing written.

use std::time::{Duration, Instant};

use predicates::prelude::*;

use crate::util::{text, TestDb};

const OK: &str = "kind = \"update\"\ncollection = \"users\"\n[[forward]]\nop = \"update_many\"\nupdate = { \"$set\" = { a = 1 } }\n";

fn refused_without_writing(t: &TestDb, code: i32, expected: &[&str]) {
    let out = t.cmd().arg("up").assert().code(code).get_output().clone();
    let (_, stderr) = text(&out);
    for e in expected {
        assert!(stderr.contains(e), "expected {e:?} in:\n{stderr}");
    }
    assert_eq!(t.ledger().len(), 0, "nothing recorded");
    assert_eq!(
        t.count("users", bson::doc! { "a": 1 }),
        0,
        "nothing applied"
    );
}

#[test]
fn malformed_manifest_names_file_line_and_field() {
    let t = TestDb::new("malformed");
    t.seed_users(3);
    t.write("20260101000000_ok.toml", OK);
    t.write(
        "20260102000000_typo.toml",
        "kind = \"update\"\ncollection = \"users\"\n\n[[forward]]\nop = \"update_many\"\nfilter = {}\nupdte = { \"$set\" = { a = 1 } }\n",
    );
    refused_without_writing(
        &t,
        6,
        &[
            "20260102000000_typo.toml",
            "line 7",
            "unknown field `updte`",
        ],
    );

    t.write("20260102000000_typo.toml", "kind = \"update\"\ncollection = \"users\"\n[[forward]]\nop = \"update_many\"\nfilter = {}\n");
    refused_without_writing(
        &t,
        6,
        &[
            "20260102000000_typo.toml",
            "line 3",
            "step 1 of [[forward]]",
            "needs field `update`",
        ],
    );

    t.write(
        "20260102000000_typo.toml",
        "kind = \"update\"\ncollection = \"users\n",
    );
    refused_without_writing(&t, 6, &["20260102000000_typo.toml", "line 2"]);

    t.write(
        "20260102000000_typo.toml",
        "kind = \"update\"\ncollection = \"users\"\n[[forward]]\nop = \"upsert_all\"\n",
    );
    refused_without_writing(
        &t,
        6,
        &["20260102000000_typo.toml", "unknown op `upsert_all`"],
    );
}

#[test]
fn unknown_kind_is_reported_with_the_known_ones() {
    let t = TestDb::new("unknown_kind");
    t.write("20260101000000_ok.toml", OK);
    t.write(
        "20260102000000_js.toml",
        "description = \"x\"\nkind = \"javascript\"\n",
    );
    refused_without_writing(
        &t,
        6,
        &[
            "unknown migration kind `javascript`",
            "20260102000000_js.toml",
            "line 2",
            "known kinds: update",
        ],
    );
    t.cmd().arg("status").assert().code(6);
}

#[test]
fn duplicate_versions_and_bad_names_are_refused() {
    let t = TestDb::new("duplicates");
    t.write("20260101000000_ok.toml", OK);
    t.write("20260101000000_other.toml", OK);
    refused_without_writing(
        &t,
        6,
        &[
            "duplicate migration version 20260101000000",
            "20260101000000_ok.toml",
            "20260101000000_other.toml",
        ],
    );

    let t = TestDb::new("duplicates_dir");
    t.write("20260101000000_ok.toml", OK);
    t.write("20260101000000_ok/migration.toml", OK);
    refused_without_writing(&t, 6, &["duplicate migration 20260101000000_ok"]);

    let t = TestDb::new("bad_name");
    t.write("add_status.toml", OK);
    refused_without_writing(&t, 6, &["add_status.toml", "numeric timestamp"]);

    let t = TestDb::new("id_mismatch");
    t.write(
        "20260101000000_ok.toml",
        &format!("id = \"20260101000000_other\"\n{OK}"),
    );
    refused_without_writing(&t, 6, &["the manifest says id = \"20260101000000_other\""]);
}

#[test]
fn missing_migrations_directory() {
    let t = TestDb::new("missing_dir");
    t.cmd()
        .args(["--path", "nowhere", "up"])
        .assert()
        .code(6)
        .stderr(predicate::str::contains(
            "cannot read migrations directory nowhere",
        ));
}

#[test]
fn unreachable_server_fails_fast_with_a_clear_message() {
    let t = TestDb::new("unreachable");
    t.write("20260101000000_ok.toml", OK);
    // A port nothing listens on: bind one, note it, release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let start = Instant::now();
    t.cmd()
        .env("MONGODB_URI", format!("mongodb://127.0.0.1:{port}"))
        .args(["--connect-timeout", "2", "up"])
        .assert()
        .code(5)
        .stderr(predicate::str::contains(format!(
            "cannot reach MongoDB at 127.0.0.1:{port} within 2s"
        )))
        .stderr(predicate::str::contains("Connection refused"));
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn authentication_failure_never_shows_the_password() {
    let t = TestDb::new("auth_fail");
    t.write("20260101000000_ok.toml", OK);
    let host = t
        .uri
        .trim_start_matches("mongodb://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let host = host.rsplit('@').next().unwrap_or_default().to_string();
    let out = t
        .cmd()
        .env(
            "MONGODB_URI",
            format!("mongodb://mallory:Sup3rS3cretPw@{host}/app"),
        )
        .arg("up")
        .assert()
        .code(5)
        .get_output()
        .clone();
    let (stdout, stderr) = text(&out);
    assert!(stderr.contains("authentication failed"), "{stderr}");
    assert!(
        !stderr.contains("Sup3rS3cretPw") && !stdout.contains("Sup3rS3cretPw"),
        "{stdout}{stderr}"
    );

    // An invalid URI is shown with its password masked.
    let out = t
        .cmd()
        .env(
            "MONGODB_URI",
            "mongodb://mallory:Sup3rS3cretPw@host:notaport/app",
        )
        .arg("status")
        .assert()
        .code(5)
        .get_output()
        .clone();
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("mongodb://mallory:****@host:notaport/app"),
        "{stderr}"
    );
    assert!(!stderr.contains("Sup3rS3cretPw"), "{stderr}");
}

#[test]
fn no_database_named() {
    let t = TestDb::new("no_db");
    t.write("20260101000000_ok.toml", OK);
    t.cmd()
        .env_remove("MONGOSHIFT_DB")
        .env("MONGODB_URI", t.uri.split('?').next().unwrap_or_default())
        .arg("status")
        .assert()
        .code(5)
        .stderr(predicate::str::contains("no target database"));
}

#[test]
fn a_wrong_write_strategy_or_in_place_form_names_the_file_line_and_field() {
    let t = TestDb::new("bad_strategy");
    t.seed_users(3);
    t.write("20260101000000_ok.toml", OK);
    let wasm = "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\n";
    t.write("20260102000000_w/guest.wat", "(module)");
    t.write(
        "20260102000000_w/migration.toml",
        &format!("{wasm}strategy = \"sideways\"\n"),
    );
    refused_without_writing(
        &t,
        6,
        &[
            "20260102000000_w",
            "line 4",
            "field `strategy` must be \"in-place\", \"rewrite\" or \"auto\", not \"sideways\"",
        ],
    );
    t.write(
        "20260102000000_w/migration.toml",
        &format!("{wasm}in_place_writes = \"patch\"\n"),
    );
    refused_without_writing(
        &t,
        6,
        &[
            "20260102000000_w",
            "line 4",
            "field `in_place_writes` must be \"set\" or \"replace\", not \"patch\"",
        ],
    );
}
