//! An output to a database the user cannot write, on a server that requires
//! authentication: the run fails before anything is written, naming the
//! migration and the output.

use bson::doc;

use crate::cross::variant;
use crate::util::{block_on, text, LocalServer, TestDb};

const MIG: &str = "20260301000000_archive";

/// `uri` with `user:password@` before its host, authenticating on `admin`.
pub(crate) fn as_user(uri: &str, user: &str, password: &str) -> String {
    let rest = uri.strip_prefix("mongodb://").expect("a mongodb:// uri");
    format!("mongodb://{user}:{password}@{rest}/?authSource=admin")
}

pub(crate) fn create_user(uri: &str, user: &str, roles: bson::Array) {
    let client = block_on(mongodb::Client::with_uri_str(uri)).expect("client");
    block_on(
        client
            .database("admin")
            .run_command(doc! { "createUser": user, "pwd": format!("{user}-pw"), "roles": roles }),
    )
    .unwrap_or_else(|e| panic!("create user {user}: {e}"));
}

/// A server requiring authentication, with a `root` user (made by the
/// localhost exception); returns it and root's connection string.
pub(crate) fn auth_server() -> (LocalServer, String) {
    let server = LocalServer::start(&["--auth"]);
    create_user(
        &server.uri,
        "root",
        vec![doc! { "role": "root", "db": "admin" }.into()],
    );
    let root = as_user(&server.uri, "root", "root-pw");
    (server, root)
}

#[test]
fn an_output_to_a_database_the_user_cannot_write_is_refused_before_anything_is_written() {
    let (server, root) = auth_server();
    let t = TestDb::on(&root, "cross_auth");
    t.seed_users(10);
    block_on(t.client.database("ar").create_collection("cps")).expect("create ar.cps");
    create_user(
        &root,
        "app",
        vec![
            doc! { "role": "readWrite", "db": &t.name }.into(),
            doc! { "role": "read", "db": "ar" }.into(),
        ],
    );
    let users = t.raw_users();
    // Upserts into `ar.cps`: another database, which `app` may only read.
    t.write(&format!("{MIG}/guest.wat"), &variant(1, "ar.cps"));
    t.write(
        &format!("{MIG}/migration.toml"),
        "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\noutputs = [\"ar.cps\"]\n",
    );
    let out = t
        .cmd()
        .env("MONGODB_URI", as_user(&server.uri, "app", "app-pw"))
        .arg("up")
        .output()
        .expect("run");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    for part in [
        &format!("migration {MIG}: output `ar.cps` cannot be written by this user"),
        "Unauthorized (13)",
        "grant it the readWrite role on database `ar`",
        "nothing was written",
    ] {
        assert!(stderr.contains(part), "{part:?} in {stderr}");
    }
    assert!(!stderr.contains("app-pw"), "{stderr}");
    assert_eq!(
        block_on(
            t.client
                .database("ar")
                .collection::<bson::Document>("cps")
                .count_documents(doc! {})
        )
        .expect("count"),
        0
    );
    assert!(t.raw_users() == users);
    let entry = &t.ledger()[0];
    assert_eq!(entry.get_str("state"), Ok("failed"));
    assert!(
        entry.get_document("checkpoint").is_err(),
        "no batch committed"
    );
}
