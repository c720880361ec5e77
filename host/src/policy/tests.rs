//! The policy parser and the run limits, without a server (the integration
//! tests cover `plan` and `up`).

use std::path::Path;

use super::{parse, parse_table, Operation, Signatures};
use crate::error::PolicyError;
use crate::manifest::Kind;
use crate::options::Strategy;

fn ok(text: &str) -> super::Policy {
    parse(Path::new("policy.toml"), text).expect("parses")
}

fn line_of(e: PolicyError) -> usize {
    match e {
        PolicyError::Invalid { line, .. }
        | PolicyError::UnknownKind { line, .. }
        | PolicyError::UnknownOperation { line, .. } => line,
        other => panic!("not a parse error: {other}"),
    }
}

#[test]
fn every_key_is_read_with_its_line() {
    let p = ok(r#"kinds = ["wasm", "update"]
require_sandbox = true
strategies = ["in_place", "rewrite"]
operations = ["delete", "swap"]
outputs = ["app.audit_*"]
trusted_keys = ["platform:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="]
signatures = "required"

[ceilings]
memory_limit_mb = 256
documents_changed = 0

[[scope]]
migrations = "2026*"
read = ["app.a"]
write = ["app.b"]
delete = ["app.c"]
"#);
    let kinds = p.kinds.expect("kinds");
    assert_eq!(
        (kinds.value, kinds.line),
        (vec![Kind::Wasm, Kind::Update], 1)
    );
    assert_eq!(p.require_sandbox.expect("sandbox").line, 2);
    assert_eq!(
        p.strategies.expect("s").value,
        vec![Strategy::InPlace, Strategy::Rewrite]
    );
    assert_eq!(
        p.operations.expect("o").value,
        vec![Operation::Delete, Operation::Swap]
    );
    assert_eq!(
        p.outputs.expect("outputs").value,
        vec!["app.audit_*".to_string()]
    );
    assert_eq!(
        p.trusted_keys[0].value,
        "platform:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
    );
    assert_eq!(
        (p.signatures.value, p.signatures.line),
        (Signatures::Required, 7)
    );
    assert_eq!(p.ceilings.memory_limit_mb.expect("mem").line, 10);
    assert_eq!(p.ceilings.documents_changed.expect("changed").value, 0);
    assert_eq!(p.scopes[0].migrations.line, 14);
    assert_eq!(p.scopes[0].delete, vec!["app.c".to_string()]);
}

#[test]
fn signatures_are_optional_by_default() {
    assert_eq!(ok("").signatures.value, Signatures::Optional);
}

#[test]
fn errors_name_their_line() {
    let bad = |text: &str| line_of(parse(Path::new("p.toml"), text).expect_err(text));
    assert_eq!(bad("kinds = [\"wasm\"]\nkinds = 3\n"), 2);
    assert_eq!(bad("\n\nkinds = [\"wasm\",\n  \"cobol\"]\n"), 4);
    assert_eq!(bad("operations = [\"truncate\"]\n"), 1);
    assert_eq!(bad("[ceilings]\n\nthreads = 0\n"), 3);
    assert_eq!(bad("strategies = [\"auto\"]\n"), 1);
    assert_eq!(bad("[[scope]]\nmigrations = \"[abc\"\n"), 2);
    assert_eq!(bad("outputs = [\"nodot\"]\n"), 1);
}

#[test]
fn a_table_in_mongoshift_toml_counts_lines_from_the_file() {
    let path = Path::new("mongoshift.toml");
    assert!(parse_table(path, "uri = \"mongodb://x\"\n")
        .expect("ok")
        .is_none());
    let e = parse_table(path, "uri = \"x\"\n\n[policy]\nkinds = [\"lua\"]\n").expect_err("lua");
    assert_eq!(line_of(e), 4);
}

/// A Wasm migration of `users` writing `outputs` too.
fn with_outputs(outputs: &str) -> crate::source::Migration {
    let text = format!(
        "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"m.wasm\"\noutputs = [{outputs}]\n"
    );
    let path = Path::new("migrations/20260101000000_fan/migration.toml");
    crate::source::Migration {
        id: "20260101000000_fan".into(),
        version: "20260101000000".into(),
        path: path.parent().expect("dir").to_path_buf(),
        manifest_path: path.to_path_buf(),
        manifest: crate::manifest::parse(path, &text).expect("manifest"),
        base_dir: path.parent().expect("dir").to_path_buf(),
        module_path: None,
        checksum: String::new(),
    }
}

#[test]
fn outputs_and_scopes_judge_each_collection_written() {
    use super::{Subject, Verdict};
    let m = with_outputs("\"audit\", \"reports.daily\"");
    let judge = |policy: &str| {
        ok(policy).verdict(&Subject {
            migration: &m,
            database: "app",
            strategy: Some(Strategy::InPlace),
            threads: 1,
        })
    };
    assert_eq!(
        judge("outputs = [\"app.audit\", \"reports.*\"]\n"),
        Verdict::Allowed
    );
    match judge("\noutputs = [\"app.*\"]\n") {
        Verdict::Refused { rule, line, reason } => {
            assert_eq!((rule, line), ("outputs", 2));
            assert!(reason.contains("reports.daily"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let scoped = "[[scope]]\nmigrations = \"*_fan\"\nwrite = [\"app.users\", \"app.audit\"]\n";
    match judge(scoped) {
        Verdict::Refused { rule, reason, .. } => {
            assert_eq!(rule, "scope");
            assert!(reason.contains("write reports.daily"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let both = format!("{scoped}\n[[scope]]\nmigrations = \"2026*\"\nwrite = [\"reports.*\"]\n");
    assert_eq!(judge(&both), Verdict::Allowed);
}

#[test]
fn run_limits_forbid_deletes_where_the_policy_does() {
    let m = with_outputs("\"audit\"");
    let none = ok("").run_limits(&m, "app", "users");
    assert!(!none.any());
    let no_delete = ok("operations = [\"update_many\"]\n").run_limits(&m, "app", "users");
    assert_eq!(
        no_delete.deleted.as_ref().map(|l| (l.max, l.rule)),
        Some((0, "operations"))
    );
    assert!(no_delete.check("x", (0, 0), (3, 0)).is_ok());
    assert!(no_delete.check("x", (0, 0), (3, 1)).is_err());
    let scoped = ok("[[scope]]\nmigrations = \"*\"\nwrite = [\"app.users\"]\n");
    let l = scoped.run_limits(&m, "app", "users");
    assert_eq!(
        l.deleted.as_ref().map(|l| (l.max, l.rule)),
        Some((0, "scope"))
    );
    let changed = ok("[ceilings]\ndocuments_changed = 10\n").run_limits(&m, "app", "users");
    assert!(changed.check("x", (10, 0), (0, 0)).is_ok());
    assert!(changed.check("x", (8, 0), (2, 0)).is_ok());
    assert!(changed.check("x", (8, 0), (3, 0)).is_err());
}
