//! `mongoshift sample`: real documents out as fixture inputs, every BSON
//! type kept, chosen fields redacted to same-type stand-ins.

use bson::spec::{BinarySubtype, ElementType};
use bson::{doc, oid::ObjectId, Binary, Bson, DateTime, Decimal128, Document};

use crate::util::{block_on, text, TestDb};

fn seed(t: &TestDb) {
    let docs: Vec<Document> = (0..50)
        .map(|i| {
            doc! {
                "_id": i,
                "name": format!("First{i} Last{i}"),
                "email": format!("user{i}@example.com"),
                "age": 20 + i,
                "balance": format!("{i}.25").parse::<Decimal128>().expect("decimal"),
                "joined": DateTime::from_millis(1_700_000_000_000 + i64::from(i)),
                "uid": Binary { subtype: BinarySubtype::Uuid, bytes: vec![i as u8; 16] },
                "ref": ObjectId::new(),
                "address": { "city": format!("City{i}"), "zip": format!("{:05}", i) },
                "tags": ["a", "b"],
                "active": i % 2 == 0,
                "score": f64::from(i) * 1.5,
                "status": if i % 5 == 0 { "inactive" } else { "active" },
            }
        })
        .collect();
    block_on(t.db().collection::<Document>("users").insert_many(docs)).expect("seed");
}

fn types(d: &Document) -> Vec<(String, ElementType)> {
    d.iter()
        .map(|(k, v)| (k.clone(), v.element_type()))
        .collect()
}

fn lines_of(out: &[u8]) -> Vec<Document> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            match Bson::try_from(v).expect("extended json") {
                Bson::Document(d) => d,
                other => panic!("not a document: {other:?}"),
            }
        })
        .collect()
}

#[test]
fn a_redacted_sample_keeps_types_and_field_order() {
    let t = TestDb::new("sample_redact");
    seed(&t);
    let out = t
        .cmd()
        .args([
            "sample",
            "users",
            "--count",
            "10",
            "--redact",
            "name,email,address.city,uid,tags",
        ])
        .assert()
        .success()
        .get_output()
        .clone();
    let sampled = lines_of(&out.stdout);
    assert_eq!(sampled.len(), 10);
    for s in &sampled {
        let id = s.get_i32("_id").expect("_id kept");
        let original = &t.find("users", doc! { "_id": id })[0];
        assert_eq!(types(s), types(original), "same fields, order and types");
        let (sa, oa) = (
            s.get_document("address").expect("present"),
            original.get_document("address").expect("present"),
        );
        assert_eq!(types(sa), types(oa));
        for f in ["name", "email"] {
            let (a, b) = (
                s.get_str(f).expect("present"),
                original.get_str(f).expect("present"),
            );
            assert_ne!(a, b, "{f} redacted");
            assert_eq!(a.len(), b.len(), "{f} keeps its length");
        }
        assert_ne!(sa.get_str("city"), oa.get_str("city"));
        assert_eq!(sa.get_str("zip"), oa.get_str("zip"), "only what was named");
        assert!(s.get_str("email").expect("present").contains('@'));
        let Some(Bson::Binary(uid)) = s.get("uid") else {
            panic!("uid")
        };
        assert_eq!((uid.subtype, uid.bytes.len()), (BinarySubtype::Uuid, 16));
        for f in [
            "age", "balance", "joined", "ref", "active", "score", "status",
        ] {
            assert_eq!(s.get(f), original.get(f), "{f} untouched");
        }
    }
}

#[test]
fn a_filtered_sample_to_a_file_and_what_it_refuses() {
    let t = TestDb::new("sample_filter");
    seed(&t);
    let file = t.dir.path().join("inactive.jsonl");
    let out = t
        .cmd()
        .args([
            "sample",
            "users",
            "--count",
            "100",
            "--filter",
            r#"{"status": "inactive"}"#,
            "-o",
        ])
        .arg(&file)
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(
        text(&out).1.contains("10 document(s) of users written to"),
        "{}",
        text(&out).1
    );
    let sampled = lines_of(&std::fs::read(&file).expect("file"));
    assert_eq!(sampled.len(), 10);
    assert!(sampled
        .iter()
        .all(|d| d.get_str("status") == Ok("inactive")));
    // Canonical: an int32 stays one.
    let first = std::fs::read_to_string(&file).expect("file");
    assert!(first.starts_with(r#"{"_id":{"$numberInt":"#), "{first}");

    // A misspelt path is said, not silently ignored.
    let out = t
        .cmd()
        .args(["sample", "users", "--count", "3", "--redact", "nmae"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(
        text(&out).1.contains("--redact nmae matched no field"),
        "{}",
        text(&out).1
    );
    // Bad input.
    t.cmd()
        .args(["sample", "users", "--count", "0"])
        .assert()
        .code(2);
    let out = t
        .cmd()
        .args(["sample", "users", "--filter", "{status"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(text(&out)
        .1
        .contains("--filter {status is not a filter in Extended JSON"));
    let out = t
        .cmd()
        .args(["sample", "nothing_here"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    assert!(
        text(&out).1.contains(&format!(
            "no document of nothing_here in database {}",
            t.name
        )),
        "{}",
        text(&out).1
    );
}
