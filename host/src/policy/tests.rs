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
trusted_keys = ["platform:AAAA"]
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
    assert_eq!(p.trusted_keys[0].value, "platform:AAAA");
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
