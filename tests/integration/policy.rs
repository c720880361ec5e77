//! The operator's policy (docs/untrusted.md): each rule allowing and
//! refusing, `plan`'s verdicts and sandbox marks, `up` refused before
//! anything runs (exit 9, naming the rule, the policy's file and line, and
//! the migration's file), the ceilings of documents enforced mid-run with an
//! exact resume, and every bad policy refused with its file and line.

use std::path::{Path, PathBuf};

use bson::doc;

use crate::util::{text, TestDb};
use crate::wat::{counter, for_each, guest, ID};

const WASM: &str = "20260601000000_count";
const UPDATE: &str = "20260602000000_status";
const PY: &str = "20260603000000_touch";

/// A Wasm migration of `users` (the counter: `n += 1`) with `extra`
/// manifest lines.
fn wasm(t: &TestDb, extra: &str) -> PathBuf {
    t.write(&format!("{WASM}/guest.wat"), &counter(true, None));
    t.write(
        &format!("{WASM}/migration.toml"),
        &format!("kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\n{extra}"),
    )
}

/// An `update` migration with one `step` (TOML of a [[forward]] table).
fn update(t: &TestDb, step: &str) -> PathBuf {
    t.write(
        &format!("{UPDATE}.toml"),
        &format!("kind = \"update\"\ncollection = \"users\"\n\n[[forward]]\n{step}\n"),
    )
}

const SET_STATUS: &str =
    "op = \"update_many\"\nfilter = {}\nupdate = { \"$set\" = { status = \"active\" } }";

/// Writes the policy outside the migrations directory.
fn policy(t: &TestDb, text: &str) -> PathBuf {
    let p = t.dir.path().join("policy.toml");
    std::fs::write(&p, text).expect("policy");
    p
}

/// `up` with the policy; (exit code, stdout, stderr).
fn up(t: &TestDb, policy: &Path, more: &[&str]) -> (i32, String, String) {
    let out = t
        .cmd()
        .arg("--policy")
        .arg(policy)
        .arg("up")
        .args(more)
        .output()
        .expect("run");
    let (o, e) = text(&out);
    (out.status.code().unwrap_or(-1), o, e)
}

fn plan(t: &TestDb, policy: &Path) -> String {
    let out = t
        .cmd()
        .arg("--policy")
        .arg(policy)
        .arg("plan")
        .output()
        .expect("plan");
    assert!(out.status.success(), "{out:?}");
    text(&out).0
}

/// A refusal before anything ran: exit 9, the message names the rule, the
/// policy's file and line and the migration's file; no ledger entry, no
/// document changed.
fn refused_before_running(
    t: &TestDb,
    res: (i32, String, String),
    rule: &str,
    line: usize,
    file: &Path,
    policy: &Path,
) {
    let (code, _, err) = res;
    assert_eq!(code, 9, "{err}");
    assert!(err.contains(&format!("rule `{rule}`")), "{err}");
    assert!(
        err.contains(&format!("{}, line {line}", policy.display())),
        "{err}"
    );
    assert!(err.contains(&shown(t, file)), "{err}");
    assert!(t.ledger().is_empty(), "nothing recorded: {:?}", t.ledger());
    assert_eq!(
        t.count("users", doc! { "n": { "$ne": 0 } }),
        0,
        "nothing changed"
    );
    assert_eq!(t.count("users", doc! { "status": { "$exists": true } }), 0);
}

/// A migration's file as messages name it: under the migrations directory,
/// as the command was given it.
fn shown(t: &TestDb, file: &Path) -> String {
    file.strip_prefix(t.dir.path())
        .expect("in the project")
        .display()
        .to_string()
}

fn applied(t: &TestDb, res: (i32, String, String)) {
    assert_eq!(res.0, 0, "{} {}", res.1, res.2);
    assert!(t
        .ledger()
        .iter()
        .all(|e| e.get_str("state") == Ok("applied")));
}

#[test]
fn kinds_allow_wasm_and_refuse_update() {
    let t = TestDb::new("pol_kinds");
    t.seed_users(20);
    let file = update(&t, SET_STATUS);
    let p = policy(&t, "# operators only\nkinds = [\"wasm\"]\n");
    refused_before_running(&t, up(&t, &p, &[]), "kinds", 2, &file, &p);
    std::fs::remove_file(&file).expect("rm");
    wasm(&t, "");
    applied(&t, up(&t, &p, &[]));
    assert_eq!(t.count("users", doc! { "n": 1 }), 20);
}

#[test]
fn require_sandbox_refuses_update_and_python_migrations_and_plan_marks_them() {
    let t = TestDb::new("pol_sandbox");
    t.seed_users(20);
    let p = policy(&t, "require_sandbox = true\n");
    let file = update(&t, SET_STATUS);
    let shown = plan(&t, &p);
    assert!(shown.contains("not sandboxed"), "{shown}");
    assert!(
        shown.contains("policy: refused by rule `require_sandbox`"),
        "{shown}"
    );
    refused_before_running(&t, up(&t, &p, &[]), "require_sandbox", 1, &file, &p);
    std::fs::remove_file(&file).expect("rm");

    let py = t.write(
        &format!("{PY}.py"),
        "\"\"\"touch\"\"\"\nfrom mongoshift import Migration, iterative_migration\n\n\nclass Touch(Migration):\n    collection = \"users\"\n\n    @iterative_migration(batch_size=10)\n    def forward(self, batch):\n        for d in batch:\n            d[\"n\"] += 1\n        return batch\n",
    );
    refused_before_running(&t, up(&t, &p, &[]), "require_sandbox", 1, &py, &p);
    // Without the policy it runs, and plan still says what it is.
    let out = t.cmd().arg("plan").output().expect("plan");
    assert!(text(&out).0.contains("not sandboxed"), "{out:?}");
    std::fs::remove_file(&py).expect("rm");

    wasm(&t, "");
    let shown = plan(&t, &p);
    assert!(shown.contains("    sandboxed"), "{shown}");
    assert!(shown.contains("policy: allowed"), "{shown}");
    applied(&t, up(&t, &p, &[]));
}

#[test]
fn a_manifest_asking_4_gib_under_a_256_mib_ceiling_is_refused() {
    let t = TestDb::new("pol_memory");
    t.seed_users(20);
    let p = policy(&t, "[ceilings]\nmemory_limit_mb = 256\n");
    let file = wasm(&t, "memory_limit_mb = 4096\n");
    let res = up(&t, &p, &[]);
    assert!(
        res.2
            .contains("4096 MiB of memory, over the ceiling of 256"),
        "{}",
        res.2
    );
    refused_before_running(&t, res, "ceilings.memory_limit_mb", 2, &file, &p);
    // up --dry-run refuses it the same way.
    let dry = up(&t, &p, &["--dry-run"]);
    assert_eq!(dry.0, 9, "{}", dry.2);
    wasm(&t, "memory_limit_mb = 128\n");
    applied(&t, up(&t, &p, &[]));
}

#[test]
fn ceilings_of_deadline_threads_and_batch_size_allow_and_refuse() {
    let t = TestDb::new("pol_ceilings");
    t.seed_users(20);
    let p = policy(
        &t,
        "[ceilings]\ndeadline_ms = 5000\nthreads = 2\nbatch_size = 100\n",
    );
    for (extra, rule, line) in [
        (
            "deadline_ms = 60000\nthreads = 1\nbatch_size = 10\n",
            "ceilings.deadline_ms",
            2,
        ),
        (
            "deadline_ms = 1000\nthreads = 8\nbatch_size = 10\n",
            "ceilings.threads",
            3,
        ),
        (
            "deadline_ms = 1000\nthreads = 1\nbatch_size = 1000\n",
            "ceilings.batch_size",
            4,
        ),
    ] {
        let file = wasm(&t, extra);
        refused_before_running(&t, up(&t, &p, &[]), rule, line, &file, &p);
    }
    wasm(&t, "deadline_ms = 1000\nthreads = 2\nbatch_size = 100\n");
    applied(&t, up(&t, &p, &[]));
}

#[test]
fn scopes_bound_what_each_migration_reads_writes_and_deletes() {
    let t = TestDb::new("pol_scope");
    t.seed_users(20);
    let p = policy(
        &t,
        "[[scope]]\nmigrations = \"2026060[12]*\"\nwrite = [\"*.orders\"]\n",
    );
    let file = wasm(&t, "");
    let res = up(&t, &p, &[]);
    assert!(
        res.2.contains(&format!(
            "it would write {}.users, outside its scope",
            t.name
        )),
        "{}",
        res.2
    );
    refused_before_running(&t, res, "scope", 2, &file, &p);

    // A migration no scope names is refused too.
    let p = policy(&t, "[[scope]]\nmigrations = \"1999*\"\nwrite = [\"*.*\"]\n");
    refused_before_running(&t, up(&t, &p, &[]), "scope", 2, &file, &p);
    std::fs::remove_dir_all(file.parent().expect("dir")).expect("rm");

    // delete_many needs the collection in `delete`, not only in `write`.
    let p = policy(
        &t,
        "[[scope]]\nmigrations = \"*\"\nwrite = [\"t_*.users\"]\n",
    );
    let file = update(
        &t,
        "op = \"delete_many\"\nfilter = { age = { \"$lt\" = 0 } }",
    );
    let res = up(&t, &p, &[]);
    assert!(res.2.contains("it would delete in"), "{}", res.2);
    refused_before_running(&t, res, "scope", 2, &file, &p);
    let p = policy(
        &t,
        "[[scope]]\nmigrations = \"*\"\ndelete = [\"t_*.users\"]\n",
    );
    applied(&t, up(&t, &p, &[]));
}

#[test]
fn operations_and_strategies_allow_and_refuse() {
    let t = TestDb::new("pol_ops");
    t.seed_users(20);
    let p = policy(&t, "operations = [\"update_many\", \"create_index\"]\n");
    let file = update(
        &t,
        "op = \"drop_index\"\nname = \"age_1\"\nkeys = { age = 1 }",
    );
    let res = up(&t, &p, &[]);
    assert!(res.2.contains("operation `drop_index`"), "{}", res.2);
    refused_before_running(&t, res, "operations", 1, &file, &p);
    update(&t, SET_STATUS);
    applied(&t, up(&t, &p, &[]));
    assert_eq!(t.count("users", doc! { "status": "active" }), 20);

    let t = TestDb::new("pol_strategy");
    t.seed_users(20);
    let p = policy(&t, "\nstrategies = [\"in_place\"]\n");
    let file = wasm(&t, "strategy = \"rewrite\"\n");
    refused_before_running(&t, up(&t, &p, &[]), "strategies", 2, &file, &p);
    // `auto` chooses in place when the policy allows nothing else.
    wasm(&t, "");
    let shown = plan(&t, &p);
    assert!(shown.contains("strategy in-place"), "{shown}");
    applied(&t, up(&t, &p, &[]));
}

/// Deletes every document whose `_id` is even, keeps the rest.
fn delete_even() -> String {
    guest(
        1,
        false,
        "",
        &for_each(&format!(
            "(if (i32.eqz (i32.rem_u {ID} (i32.const 2))) (then (call $emit_tag (i32.const 2))) (else (call $emit_tag (i32.const 0))))"
        )),
    )
}

#[test]
fn delete_outcomes_need_the_delete_operation() {
    let t = TestDb::new("pol_delete");
    t.seed_users(20);
    t.write(&format!("{WASM}/guest.wat"), &delete_even());
    t.write(
        &format!("{WASM}/migration.toml"),
        "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nbatch_size = 5\nstrategy = \"in-place\"\npre_images = false\n",
    );
    let p = policy(&t, "operations = [\"update_many\"]\n");
    let (code, _, err) = up(&t, &p, &[]);
    assert_eq!(code, 9, "{err}");
    assert!(
        err.contains("rule `operations`") && err.contains("nothing of that batch was written"),
        "{err}"
    );
    assert_eq!(t.count("users", doc! {}), 20, "nothing deleted");
    let p = policy(&t, "operations = [\"delete\"]\n");
    applied(&t, up(&t, &p, &[]));
    assert_eq!(t.count("users", doc! {}), 10);
}

#[test]
fn the_documents_changed_ceiling_stops_a_run_mid_way_and_a_raised_one_resumes_exactly() {
    let t = TestDb::new("pol_changed");
    t.seed_users(100);
    wasm(
        &t,
        "batch_size = 10\nthreads = 1\nstrategy = \"in-place\"\npre_images = false\n",
    );
    let p = policy(&t, "[ceilings]\ndocuments_changed = 35\n");
    let (code, _, err) = up(&t, &p, &[]);
    assert_eq!(code, 9, "{err}");
    assert!(err.contains("rule `ceilings.documents_changed`"), "{err}");
    assert!(err.contains(&format!("{}, line 2", p.display())), "{err}");
    assert!(
        err.contains(
            "allows 35 document(s) per run, 30 done in this run and the next batch has 10"
        ),
        "{err}"
    );
    // Three batches committed, nothing of the fourth.
    assert_eq!(t.count("users", doc! { "n": 1 }), 30);
    assert_eq!(t.count("users", doc! { "n": 0 }), 70);
    assert_eq!(t.count("users", doc! { "n": 1, "_id": { "$gte": 30 } }), 0);

    let p = policy(&t, "[ceilings]\ndocuments_changed = 1000\n");
    applied(&t, up(&t, &p, &[]));
    // Every document exactly once.
    assert_eq!(t.count("users", doc! { "n": 1 }), 100);
    assert_eq!(t.count("users", doc! { "n": { "$ne": 1 } }), 0);
}

#[test]
fn the_documents_deleted_ceiling_stops_before_the_crossing_batch() {
    let t = TestDb::new("pol_deleted");
    t.seed_users(40);
    t.write(&format!("{WASM}/guest.wat"), &delete_even());
    t.write(
        &format!("{WASM}/migration.toml"),
        "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nbatch_size = 10\nthreads = 1\nstrategy = \"in-place\"\npre_images = false\n",
    );
    let p = policy(&t, "[ceilings]\ndocuments_deleted = 12\n");
    let (code, _, err) = up(&t, &p, &[]);
    assert_eq!(code, 9, "{err}");
    assert!(err.contains("rule `ceilings.documents_deleted`"), "{err}");
    // Two batches of 5 deletes each, not the third.
    assert_eq!(t.count("users", doc! {}), 30);
    let p = policy(&t, "[ceilings]\ndocuments_deleted = 100\n");
    applied(&t, up(&t, &p, &[]));
    assert_eq!(t.count("users", doc! {}), 20);
    assert_eq!(t.count("users", doc! { "_id": { "$mod": [2, 0] } }), 0);
}

#[test]
fn bad_policies_are_refused_with_file_and_line_before_anything_runs() {
    let t = TestDb::new("pol_bad");
    t.seed_users(5);
    wasm(&t, "");
    let cases = [
        (
            "kinds = [\"wasm\"]\n[ceilings\n",
            "line 2",
            "invalid policy",
        ),
        (
            "\nkinds = [\"wasm\", \"lua\"]\n",
            "line 2",
            "unknown kind `lua` (known kinds: wasm, update, python)",
        ),
        (
            "operations = [\n  \"delete\",\n  \"truncate\",\n]\n",
            "line 3",
            "unknown operation `truncate`",
        ),
        (
            "[ceilings]\nmemory = 5\n",
            "line 2",
            "unknown field `memory`",
        ),
        (
            "signatures = \"sometimes\"\n",
            "line 1",
            "`signatures` must be",
        ),
        (
            "trusted_keys = [\"no-colon\"]\n",
            "line 1",
            "`trusted_keys`",
        ),
        (
            "[[scope]]\nmigrations = \"*\"\nwrite = [\"users\"]\n",
            "line 3",
            "`database.collection`",
        ),
    ];
    for (text_, line, what) in cases {
        let p = policy(&t, text_);
        for cmd in ["up", "plan"] {
            let out = t
                .cmd()
                .arg("--policy")
                .arg(&p)
                .arg(cmd)
                .output()
                .expect("run");
            let (_, err) = text(&out);
            assert_eq!(out.status.code(), Some(9), "{text_}: {err}");
            assert!(
                err.contains(&format!("{}: {line}", p.display())),
                "{text_}: {err}"
            );
            assert!(err.contains(what), "{text_}: {err}");
        }
    }
    assert!(t.ledger().is_empty());
    assert_eq!(t.count("users", doc! { "n": 1 }), 0);
}

#[test]
fn a_policy_inside_the_migrations_directory_is_refused() {
    let t = TestDb::new("pol_inside");
    t.seed_users(5);
    wasm(&t, "");
    let inside = t.write(".policy.toml", "kinds = [\"wasm\"]\n");
    let out = t
        .cmd()
        .arg("--policy")
        .arg(&inside)
        .arg("up")
        .output()
        .expect("run");
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(9), "{err}");
    assert!(
        err.contains("lies inside the migrations directory"),
        "{err}"
    );
    // The same through the environment, and a config file kept there.
    let out = t
        .cmd()
        .env("MONGOSHIFT_POLICY", &inside)
        .arg("up")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(9), "{out:?}");
    let cfg = t.write("mongoshift.toml", "[policy]\nkinds = [\"wasm\"]\n");
    let out = t
        .cmd()
        .arg("--config")
        .arg(&cfg)
        .arg("up")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(9), "{out:?}");
    assert!(
        text(&out)
            .1
            .contains("lies inside the migrations directory"),
        "{out:?}"
    );
    assert!(t.ledger().is_empty());
    assert_eq!(t.count("users", doc! { "n": 1 }), 0);
}

#[test]
fn a_policy_table_in_mongoshift_toml_and_the_environment_variable() {
    let t = TestDb::new("pol_table");
    t.seed_users(5);
    let file = update(&t, SET_STATUS);
    std::fs::write(
        t.dir.path().join("mongoshift.toml"),
        "lock_timeout = 30\n\n[policy]\nrequire_sandbox = true\n",
    )
    .expect("config");
    let out = t.cmd().arg("up").output().expect("run");
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(9), "{err}");
    assert!(
        err.contains("rule `require_sandbox`") && err.contains("mongoshift.toml, line 4"),
        "{err}"
    );
    assert!(err.contains(&shown(&t, &file)), "{err}");
    // A policy file given wins over the table.
    let p = policy(&t, "kinds = [\"update\"]\n");
    let out = t
        .cmd()
        .env("MONGOSHIFT_POLICY", &p)
        .arg("up")
        .output()
        .expect("run");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(t.count("users", doc! { "status": "active" }), 5);
}

#[test]
fn plan_shows_each_verdict_and_sandbox_mark_as_text_and_json() {
    let t = TestDb::new("pol_plan");
    t.seed_users(5);
    wasm(&t, "memory_limit_mb = 64\n");
    update(&t, SET_STATUS);
    t.write(&format!("{PY}.py"), "\"\"\"keep\"\"\"\nfrom mongoshift import Migration, iterative_migration\n\n\nclass Keep(Migration):\n    collection = \"users\"\n\n    @iterative_migration(batch_size=10)\n    def forward(self, batch):\n        return batch\n");
    let p = policy(
        &t,
        "kinds = [\"wasm\", \"update\"]\n[ceilings]\nmemory_limit_mb = 256\n",
    );
    let shown = plan(&t, &p);
    let blocks: Vec<&str> = shown.split("\n  2026").collect();
    assert_eq!(blocks.len(), 4, "{shown}");
    assert!(
        blocks[1].contains("    sandboxed") && blocks[1].contains("policy: allowed"),
        "{shown}"
    );
    assert!(
        blocks[2].contains("not sandboxed") && blocks[2].contains("policy: allowed"),
        "{shown}"
    );
    assert!(
        blocks[3].contains("not sandboxed")
            && blocks[3].contains(&format!(
                "policy: refused by rule `kinds` ({}, line 1)",
                p.display()
            )),
        "{shown}"
    );
    let out = t
        .cmd()
        .arg("--policy")
        .arg(&p)
        .args(["plan", "--json"])
        .output()
        .expect("plan");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let ms = json["migrations"].as_array().expect("migrations");
    assert_eq!(ms[0]["sandboxed"], true);
    assert_eq!(ms[1]["sandboxed"], false);
    assert_eq!(ms[0]["policy"]["verdict"], "allowed");
    assert_eq!(ms[2]["policy"]["verdict"], "refused");
    assert_eq!(ms[2]["policy"]["rule"], "kinds");
    assert_eq!(json["policy"], p.display().to_string());
    // Without a policy: the marks, no verdicts.
    let out = t.cmd().args(["plan", "--json"]).output().expect("plan");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["migrations"][2]["sandboxed"], false);
    assert!(json["migrations"][0].get("policy").is_none());
}
