//! The example Rust guests (built from source by `mongoshift build`) through
//! the whole engine.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bson::{doc, Document};
use predicates::prelude::*;

use crate::util::{bin, block_on, text, TestDb};

/// How long `build` of a guest crate compiled from nothing may take.
const BUILD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1200);

pub const SPLIT_NAME: &str = "20260110090000_split_name";
pub const PURGE_TRIALS: &str = "20260111090000_purge_trials";

pub fn repo_migrations() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations")
}

/// Builds the example guests once per test binary with `mongoshift build`.
pub fn built() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = repo_migrations();
        let out = std::process::Command::new(bin())
            .arg("--path")
            .arg(&dir)
            .arg("build")
            .output()
            .expect("run mongoshift build");
        let (stdout, stderr) = text(&out);
        assert!(
            out.status.success(),
            "mongoshift build failed:\n{stdout}\n{stderr}"
        );
        dir
    })
}

/// Copies an example migration (manifest and module, not its sources) into the
/// test's project.
pub fn install(t: &TestDb, id: &str) {
    install_from(t, &built().join(id), id);
}

/// Copies the migration in `src` (manifest and module, not its sources) into
/// the test's project as migration `id`.
pub fn install_from(t: &TestDb, src: &Path, id: &str) {
    let dst = t.migrations().join(id);
    std::fs::create_dir_all(&dst).expect("mkdir");
    for entry in std::fs::read_dir(src).expect("read example").flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == "migration.toml" || name.ends_with(".wasm") {
            std::fs::copy(entry.path(), dst.join(&*name)).expect("copy");
        }
    }
}

/// Users shaped like the demo's: name "First Last", email, age, signup date
/// string, address sub-document, tags.
pub fn seed_people(t: &TestDb, n: i64) {
    let docs: Vec<Document> = (0..n).map(person).collect();
    block_on(t.db().collection::<Document>("users").insert_many(docs)).expect("seed");
}

/// The `i`th user of [`seed_people`].
pub fn person(i: i64) -> Document {
    doc! {
        "_id": i,
        "name": format!("First{i} Last{i}"),
        "email": format!("user{i}@example.com"),
        "age": (18 + i % 40) as i32,
        "signup": format!("20{:02}-{:02}-{:02}", 10 + i % 15, 1 + i % 12, 1 + i % 28),
        "address": { "city": "Lisbon", "zip": format!("{:05}", i) },
        "tags": if i % 3 == 0 { vec!["trial"] } else { vec!["vip", "eu"] },
    }
}

#[test]
fn split_name_applies_and_down_restores_byte_identical_documents() {
    let t = TestDb::new("split_name");
    seed_people(&t, 4_321);
    install(&t, SPLIT_NAME);
    let original = t.raw_users();

    t.cmd()
        .arg("up")
        .assert()
        .success()
        .stderr(predicate::str::contains("4321/4321 docs, replaced 4321"));
    let d = &t.find("users", doc! { "_id": 42_i64 })[0];
    assert_eq!(d.get_str("first_name"), Ok("First42"));
    assert_eq!(d.get_str("last_name"), Ok("Last42"));
    assert_eq!(d.get_str("status"), Ok("active"));
    assert!(d.get("name").is_none());
    let signup = d.get_datetime("signup").expect("signup is a date");
    assert_eq!(
        signup.try_to_rfc3339_string().expect("rfc3339"),
        "2022-07-15T00:00:00Z"
    );
    assert_eq!(t.count("users", doc! { "status": "active" }), 4_321);

    t.cmd().arg("down").assert().success();
    let restored = t.raw_users();
    assert_eq!(restored.len(), original.len());
    for (a, b) in original.iter().zip(&restored) {
        assert_eq!(a.as_bytes(), b.as_bytes(), "byte-identical after down");
    }
}

#[test]
fn a_document_the_transform_fails_stops_the_run_at_its_batch() {
    let t = TestDb::new("split_name_fail");
    seed_people(&t, 2_500);
    block_on(t.db().collection::<Document>("users").update_one(
        doc! { "_id": 1_700_i64 },
        doc! { "$set": { "signup": "2015-02-30" } },
    ))
    .expect("break one date");
    install(&t, SPLIT_NAME);
    let out = t
        .cmd()
        .args(["up", "--strategy", "in-place"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("document _id 1700 in batch 2 failed: field `signup`: \"2015-02-30\" is not a date in the form YYYY-MM-DD"),
        "{stderr}"
    );
    assert_eq!(
        t.count("users", doc! { "status": "active" }),
        1_000,
        "batch 1 written, nothing of batch 2"
    );
    assert_eq!(
        t.count(
            "users",
            doc! { "_id": { "$gte": 1000_i64 }, "status": { "$exists": true } }
        ),
        0
    );
    assert_eq!(t.ledger()[0].get_str("state"), Ok("failed"));
    assert!(t.ledger()[0]
        .get_str("error")
        .is_ok_and(|e| e.contains("_id 1700")));
}

#[test]
fn purge_trials_deletes_and_down_restores_from_pre_images() {
    let t = TestDb::new("purge_trials");
    seed_people(&t, 600);
    install(&t, PURGE_TRIALS);
    let original = t.raw_users();
    // trial (i % 3 == 0) and under 21 (i % 40 < 3)
    let expected_deleted = (0..600).filter(|i| i % 3 == 0 && i % 40 < 3).count() as u64;
    t.cmd()
        .args(["up", "--strategy", "in-place"])
        .assert()
        .success();
    assert_eq!(t.count("users", doc! {}), 600 - expected_deleted);
    // No backward transform, so pre-images were kept: down puts them back.
    t.cmd().arg("down").assert().success();
    assert!(t.raw_users() == original);
    // Without pre-images it is irreversible.
    t.cmd()
        .args(["up", "--strategy", "in-place", "--no-pre-images"])
        .assert()
        .success();
    t.cmd()
        .arg("down")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "has no backward transform and no pre-images were kept",
        ));
}

#[test]
fn scaffold_a_wasm_migration_build_it_and_apply_it() {
    let t = TestDb::new("new_wasm");
    t.seed_users(50);
    // Inside this checkout, so the scaffold finds guest-sdk by path.
    let project = tempfile::Builder::new()
        .prefix(".scaffold-test-")
        .tempdir_in(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .expect("tempdir");
    let migrations = project.path().join("migrations");
    let out = t
        .cmd()
        .arg("--path")
        .arg(&migrations)
        .args(["new", "add status", "--kind", "wasm"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(text(&out).0.contains("created"), "{}", text(&out).0);
    let built = t
        .cmd()
        .arg("--path")
        .arg(&migrations)
        .arg("build")
        // A guest crate compiled from nothing: minutes on a busy machine.
        .timeout(BUILD_TIMEOUT)
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(text(&built).0.contains("built "), "{}", text(&built).0);
    t.cmd()
        .arg("--path")
        .arg(&migrations)
        .arg("up")
        .assert()
        .success();
    assert_eq!(t.count("users", doc! { "status": "active" }), 50);
    t.cmd()
        .arg("--path")
        .arg(&migrations)
        .arg("down")
        .assert()
        .success();
    assert_eq!(t.count("users", doc! { "status": { "$exists": true } }), 0);
}

#[test]
fn a_rust_scaffold_builds_outside_this_repository_with_the_sdk_the_binary_carries() {
    let t = TestDb::new("scaffold_outside");
    t.seed_users(20);
    // Outside this checkout: nothing named guest-sdk above it.
    let project = tempfile::tempdir().expect("tempdir");
    assert!(!project
        .path()
        .starts_with(Path::new(env!("CARGO_MANIFEST_DIR")).join("..")));
    let migrations = project.path().join("migrations");
    let cli = || {
        let mut c = t.cmd();
        c.current_dir(project.path()).arg("--path").arg(&migrations);
        c
    };
    cli()
        .args(["new", "add status", "--kind", "wasm", "--lang", "rust"])
        .assert()
        .success();
    let sdk = migrations.join(format!(
        ".mongoshift/guest-sdk-{}",
        env!("CARGO_PKG_VERSION")
    ));
    assert!(sdk.join("Cargo.toml").is_file() && sdk.join("src/lib.rs").is_file());
    let guest = std::fs::read_dir(&migrations)
        .expect("migrations")
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().ends_with("_add_status"))
        .expect("the migration")
        .path()
        .join("guest/Cargo.toml");
    let manifest = std::fs::read_to_string(&guest).expect("guest manifest");
    assert!(
        manifest.contains(&format!(
            "mongoshift-guest = {{ path = \"../../.mongoshift/guest-sdk-{}\" }}",
            env!("CARGO_PKG_VERSION")
        )),
        "{manifest}"
    );
    // A checkout that does not keep .mongoshift/ builds too: it is laid
    // down again.
    std::fs::remove_dir_all(migrations.join(".mongoshift")).expect("remove the sdk");
    let built = cli()
        .arg("build")
        .timeout(BUILD_TIMEOUT)
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(text(&built).0.contains("built "), "{}", text(&built).0);
    assert!(sdk.join("macro/src/lib.rs").is_file());
    cli().arg("up").assert().success();
    assert_eq!(t.count("users", doc! { "status": "active" }), 20);
    cli().arg("down").assert().success();
    assert_eq!(t.count("users", doc! { "status": { "$exists": true } }), 0);
}
