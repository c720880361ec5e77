//! Manifest parsing: every error names its line and field.

use std::path::Path;

use bson::Bson;

use super::*;

fn parse_ok(text: &str) -> Manifest {
    parse(Path::new("m.toml"), text).expect("valid manifest")
}

fn parse_err(text: &str) -> String {
    parse(Path::new("m.toml"), text)
        .expect_err("invalid manifest")
        .to_string()
}

#[test]
fn values_keep_order_and_types() {
    let m = parse_ok(
        r#"kind = "update"
collection = "users"
[[forward]]
op = "update_many"
filter = { _id = { "$oid" = "65a1b2c3d4e5f60718293a4b" }, n = 3 }
update = { "$set" = { b = 1, a = 5000000000, when = 2026-01-02T03:04:05Z } }
"#,
    );
    let Body::Update(body) = &m.body else {
        panic!("update body")
    };
    let UpdateStep::UpdateMany {
        filter,
        update: UpdateSpec::Document(u),
        ..
    } = &body.forward[0]
    else {
        panic!("wrong step {:?}", body.forward[0]);
    };
    assert!(matches!(filter.get("_id"), Some(Bson::ObjectId(_))));
    assert_eq!(filter.get("n"), Some(&Bson::Int32(3)));
    let set = u.get_document("$set").expect("$set");
    assert_eq!(set.keys().collect::<Vec<_>>(), ["b", "a", "when"]);
    assert_eq!(set.get("a"), Some(&Bson::Int64(5_000_000_000)));
    assert!(matches!(set.get("when"), Some(Bson::DateTime(_))));
    assert!(
        body.backward.is_err(),
        "update_many has no automatic inverse"
    );
}

#[test]
fn derives_inverse_of_rename_and_index() {
    let m = parse_ok(
        r#"kind = "update"
collection = "users"
[[forward]]
op = "rename_field"
from = "fullname"
to = "name"
[[forward]]
op = "create_index"
keys = { email = 1, age = -1 }
"#,
    );
    let Body::Update(body) = m.body else {
        panic!("update body")
    };
    let back = body.backward.expect("reversible");
    assert_eq!(back[0].describe(), "drop_index users.email_1_age_-1");
    assert_eq!(back[1].describe(), "rename_field users.name -> fullname");
}

#[test]
fn errors_name_line_and_field() {
    let e = parse_err(
        "kind = \"update\"\ncollection = \"u\"\n[[forward]]\nop = \"update_many\"\nfiltre = {}\n",
    );
    assert!(e.contains("line 5") && e.contains("filtre"), "{e}");
    let e =
        parse_err("kind = \"update\"\ncollection = \"u\"\n\n[[forward]]\nop = \"update_many\"\n");
    assert!(
        e.contains("line 4") && e.contains("step 1 of [[forward]]") && e.contains("`update`"),
        "{e}"
    );
    let e = parse_err("kind = \"wasm2\"\n");
    assert!(
        e.contains("unknown migration kind `wasm2`") && e.contains("line 1"),
        "{e}"
    );
    let e = parse_err("kind = \"update\"\n[[forward]]\nop = \"delete_many\"\n");
    assert!(e.contains("needs a `collection`"), "{e}");
    let e = parse_err("kind = \"update\"\ncollection = \"u\"\n[[forward]]\nop = \"update_many\"\nupdate = { status = 1 }\n");
    assert!(e.contains("update operators"), "{e}");
    let e = parse_err("kind = \"update\"\ncollection = \"u\"\nforward = 3\n");
    assert!(e.contains("line 3"), "{e}");
}

#[test]
fn write_options_parse_by_their_names() {
    let m = parse_ok(
        r#"kind = "wasm"
collection = "users"
module = "m.wasm"
transactions = "none"
strategy = "in-place"
in_place_writes = "replace"
"#,
    );
    let Body::Wasm(spec) = &m.body else {
        panic!("wasm body")
    };
    assert_eq!(spec.transactions, Some(crate::options::TxMode::None));
    assert_eq!(spec.strategy, Some(crate::options::Strategy::InPlace));
    assert_eq!(
        spec.in_place_writes,
        Some(crate::options::UpdateForm::Replace)
    );
    let defaults = parse_ok("kind = \"wasm\"\ncollection = \"users\"\nmodule = \"m.wasm\"\n");
    let Body::Wasm(spec) = &defaults.body else {
        panic!("wasm body")
    };
    assert_eq!(
        (spec.transactions, spec.strategy, spec.in_place_writes),
        (None, None, None)
    );
}

#[test]
fn an_unknown_write_option_names_its_line_field_and_the_choices() {
    let base = "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"m.wasm\"\n";
    let e = parse_err(&format!("{base}transactions = \"per-batch\"\n"));
    assert!(
        e.contains(r#"line 4: field `transactions` must be "batch", "migration" or "none", not "per-batch""#),
        "{e}"
    );
    let e = parse_err(&format!("{base}strategy = \"copy\"\n"));
    assert!(
        e.contains(
            r#"line 4: field `strategy` must be "in-place", "rewrite" or "auto", not "copy""#
        ),
        "{e}"
    );
    let e = parse_err(&format!("{base}in_place_writes = \"patch\"\n"));
    assert!(
        e.contains(r#"line 4: field `in_place_writes` must be "set" or "replace", not "patch""#),
        "{e}"
    );
}

const WASM: &str = "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"m.wasm\"\n";

#[test]
fn outputs_and_lookups_are_read() {
    let m = parse_ok(&format!(
        r#"{WASM}outputs = ["addresses", "archive.users"]
[[lookup]]
from = "orgs"
local_field = "org_id"
foreign_field = "_id"
as = "org"
projection = {{ name = 1 }}
limit = 1
required = true
"#
    ));
    let Body::Wasm(spec) = &m.body else {
        panic!("wasm body")
    };
    let names: Vec<String> = spec.outputs.iter().map(ToString::to_string).collect();
    assert_eq!(names, ["addresses", "archive.users"]);
    assert_eq!(spec.outputs[1].db.as_deref(), Some("archive"));
    let l = &spec.lookups[0];
    assert_eq!(
        (
            l.from.to_string(),
            l.local_field.as_str(),
            l.as_name.as_str()
        ),
        ("orgs".to_string(), "org_id", "org")
    );
    assert_eq!((l.limit, l.required), (1, true));
    assert_eq!(l.projection, Some(bson::doc! { "name": 1 }));
}

#[test]
fn bad_outputs_and_lookups_name_their_line() {
    for (extra, expected) in [
        ("outputs = [\"users\"]", "line 4: `outputs` names `users`, the migration's own collection"),
        ("outputs = [\"a\", \"a\"]", "line 4: `outputs` names `a` twice"),
        ("outputs = [\"a$b\"]", "line 4: `outputs`: `a$b` is not a collection name"),
        ("outputs = [\"mongoshift_ledger\"]", "`mongoshift_ledger` is reserved"),
        ("outputs = [\".x\"]", "`.x` is not `collection` or `database.collection`"),
        (
            "[[lookup]]\nfrom = \"orgs\"\nlocal_field = \"org_id\"\nforeign_field = \"_id\"\nas = \"o.x\"",
            "line 4: [[lookup]]: `as` is a key of the lookups document, without dots",
        ),
        (
            "[[lookup]]\nfrom = \"orgs\"\nlocal_field = \"\"\nforeign_field = \"_id\"\nas = \"o\"",
            "`local_field` must be a field name",
        ),
        (
            "[[lookup]]\nfrom = \"orgs\"\nlocal_field = \"a\"\nforeign_field = \"_id\"\nas = \"o\"\nlimit = 0",
            "`limit` must be at least 1, not 0",
        ),
        (
            "[[lookup]]\nfrom = \"orgs\"\nlocal_field = \"a\"\nforeign_field = \"_id\"\nas = \"o\"\nprojection = 3",
            "line 4: [[lookup]]: `projection` must be a table, not an integer",
        ),
        (
            "[[lookup]]\nfrom = \"orgs\"\nlocal_field = \"a\"\nforeign_field = \"_id\"\nas = \"o\"\non = \"up\"",
            "`on` is `forward`, `backward` or `both`, not \"up\"",
        ),
        (
            "[[lookup]]\nfrom = \"a\"\nlocal_field = \"a\"\nforeign_field = \"_id\"\nas = \"o\"\n[[lookup]]\nfrom = \"b\"\nlocal_field = \"b\"\nforeign_field = \"_id\"\nas = \"o\"",
            "two lookups give their matches `as = \"o\"`",
        ),
    ] {
        let e = parse_err(&format!("{WASM}{extra}\n"));
        assert!(e.contains(expected), "{expected:?} in {e}");
    }
    let e = parse_err(
        "kind = \"update\"\ncollection = \"users\"\noutputs = [\"a\"]\n[[forward]]\nop = \"update_many\"\nupdate = { \"$set\" = { a = 1 } }\n",
    );
    assert!(
        e.contains("line 3: field `outputs` does not apply to kind `update`"),
        "{e}"
    );
}

#[test]
fn throttle_limits_are_read_and_zero_is_refused_by_line() {
    let wasm = "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"m.wasm\"\n";
    let m = parse_ok(&format!(
        "{wasm}max_rate = 5000\nmax_lag_s = 10\nmax_latency_ms = 50\n"
    ));
    let Body::Wasm(spec) = &m.body else {
        panic!("wasm body")
    };
    assert_eq!(spec.throttle.max_rate, Some(5000));
    assert_eq!(
        spec.throttle.max_lag,
        Some(std::time::Duration::from_secs(10))
    );
    assert_eq!(
        spec.throttle.max_latency,
        Some(std::time::Duration::from_millis(50))
    );
    let e = parse_err(&format!("{wasm}max_latency_ms = 0\n"));
    assert!(
        e.contains("line 4: field `max_latency_ms` must be at least 1, not 0"),
        "{e}"
    );
}
