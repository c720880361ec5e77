//! Property tests of the parsers that read untrusted bytes: a core module's
//! outcomes and description, a replacement document, a manifest, and the
//! text a transform sends back. Each property runs a few hundred random cases
//! (seconds in all); a case that ever fails is kept below as a named test.

use std::collections::HashSet;
use std::path::Path;

use bson::spec::BinarySubtype;
use bson::{rawdoc, Binary, RawArrayBuf, RawBson, RawDocument, RawDocumentBuf};
use proptest::collection::vec;
use proptest::prelude::*;

use crate::text;
use crate::wasm::{check_replacement, parse_info, parse_outcomes, Outcome};

/// 300 cases per property, or `PROPTEST_CASES` for a longer search.
fn config() -> ProptestConfig {
    let defaults = ProptestConfig::default();
    ProptestConfig {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            defaults.cases
        } else {
            300
        },
        // Failures become named tests here, not files beside the sources.
        failure_persistence: None,
        ..defaults
    }
}

/// A value tree whose documents may repeat keys (arrays cannot: their keys
/// are their positions).
#[derive(Debug, Clone)]
enum Tree {
    Scalar(RawBson),
    Doc(Vec<(String, Tree)>),
    Array(Vec<Tree>),
}

fn scalar() -> impl Strategy<Value = RawBson> {
    prop_oneof![
        any::<i32>().prop_map(RawBson::Int32),
        any::<i64>().prop_map(RawBson::Int64),
        any::<f64>().prop_map(RawBson::Double),
        "\\PC{0,6}".prop_map(RawBson::String),
        any::<bool>().prop_map(RawBson::Boolean),
        Just(RawBson::Null),
        any::<[u8; 12]>().prop_map(|b| RawBson::ObjectId(bson::oid::ObjectId::from_bytes(b))),
        vec(any::<u8>(), 0..6).prop_map(|bytes| RawBson::Binary(Binary {
            subtype: BinarySubtype::Generic,
            bytes
        })),
        any::<i64>().prop_map(|ms| RawBson::DateTime(bson::DateTime::from_millis(ms))),
        Just(RawBson::MinKey),
    ]
}

/// Few distinct keys, so that repeats are common; `_id` among them.
fn key() -> impl Strategy<Value = String> {
    prop_oneof!["[ab]{1,2}", Just("_id".to_string()), "\\PC{1,3}",]
}

fn tree() -> impl Strategy<Value = Tree> {
    scalar()
        .prop_map(Tree::Scalar)
        .prop_recursive(4, 48, 5, |inner| {
            prop_oneof![
                vec((key(), inner.clone()), 0..5).prop_map(Tree::Doc),
                vec(inner, 0..5).prop_map(Tree::Array),
            ]
        })
}

fn raw(t: &Tree) -> RawBson {
    match t {
        Tree::Scalar(v) => v.clone(),
        Tree::Doc(fields) => RawBson::Document(doc_of(fields)),
        Tree::Array(items) => {
            let mut a = RawArrayBuf::new();
            for i in items {
                a.push(raw(i));
            }
            RawBson::Array(a)
        }
    }
}

fn doc_of(fields: &[(String, Tree)]) -> RawDocumentBuf {
    let mut d = RawDocumentBuf::new();
    for (k, v) in fields {
        d.append(k, raw(v));
    }
    d
}

/// Whether some document in the tree has a key twice: the reference answer.
fn repeats(fields: &[(String, Tree)]) -> bool {
    let mut seen = HashSet::new();
    fields.iter().any(|(k, _)| !seen.insert(k)) || fields.iter().any(|(_, v)| nested_repeats(v))
}

fn nested_repeats(t: &Tree) -> bool {
    match t {
        Tree::Scalar(_) => false,
        Tree::Doc(fields) => repeats(fields),
        Tree::Array(items) => items.iter().any(nested_repeats),
    }
}

/// A replacement of `{_id: 7}`: `_id` first, then `fields`.
fn replacement(fields: &[(String, Tree)]) -> (Vec<(String, Tree)>, Vec<u8>) {
    let mut all = vec![("_id".to_string(), Tree::Scalar(RawBson::Int32(7)))];
    all.extend(fields.iter().cloned());
    let bytes = doc_of(&all).into_bytes();
    (all, bytes)
}

fn input() -> RawDocumentBuf {
    rawdoc! { "_id": 7, "x": 1 }
}

/// One outcome as ABI.md lays it out.
fn record(out: &mut Vec<u8>, tag: u8, payload: &[u8]) {
    out.push(tag);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
}

fn outcome() -> impl Strategy<Value = (u8, Vec<u8>)> {
    prop_oneof![
        Just((0, vec![])),
        Just((2, vec![])),
        vec(any::<u8>(), 0..40).prop_map(|b| (1, b)),
        "[ -~]{0,40}".prop_map(|s| (3, s.into_bytes())),
    ]
}

fn encode(records: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = (records.len() as u32).to_le_bytes().to_vec();
    for (tag, payload) in records {
        record(&mut out, *tag, payload);
    }
    out
}

/// Where a well-formed payload of `count` records ends, by ABI.md: the
/// reference the parser is held to.
fn layout_end(p: &[u8], count: usize) -> Option<usize> {
    let mut at = 4;
    for _ in 0..count {
        let tag = *p.get(at)?;
        let n = u32::from_le_bytes(p.get(at + 1..at + 5)?.try_into().ok()?) as usize;
        if tag > 3 || (n != 0 && (tag == 0 || tag == 2)) {
            return None;
        }
        at += 5 + n;
    }
    Some(at)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn outcomes_round_trip(records in vec(outcome(), 0..12)) {
        let parsed = parse_outcomes(&encode(&records), records.len()).expect("well formed");
        for ((tag, payload), o) in records.iter().zip(&parsed) {
            let expected = match tag {
                0 => Outcome::Keep,
                1 => Outcome::Replace(payload.clone()),
                2 => Outcome::Delete,
                _ => Outcome::Fail(text::message(payload)),
            };
            prop_assert_eq!(o, &expected);
        }
    }

    #[test]
    fn outcomes_parse_only_the_exact_layout(
        records in vec(outcome(), 0..8),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        tail in vec(any::<u8>(), 0..3),
        how in 0u8..3,
        expected in 0usize..10,
    ) {
        let mut p = encode(&records);
        match how {
            0 => p.truncate(cut.index(p.len() + 1)),
            1 => { let i = flip.index(p.len()); p[i] = byte; }
            _ => p.extend_from_slice(&tail),
        }
        let count = u32::from_le_bytes(p.get(..4).map_or([0xff; 4], |c| c.try_into().expect("4"))) as usize;
        match parse_outcomes(&p, expected) {
            Ok(parsed) => {
                prop_assert_eq!(parsed.len(), expected);
                prop_assert_eq!(count, expected);
                prop_assert_eq!(layout_end(&p, count), Some(p.len()));
            }
            Err(e) => {
                prop_assert!(
                    count != expected || layout_end(&p, count) != Some(p.len()),
                    "refused a well-formed payload: {}", e
                );
                prop_assert!(e.index.is_none_or(|i| i < expected));
            }
        }
    }

    #[test]
    fn outcomes_never_panic(p in vec(any::<u8>(), 0..64), expected in 0usize..4) {
        let _ = parse_outcomes(&p, expected);
    }

    #[test]
    fn a_replacement_passes_exactly_when_no_document_repeats_a_key(
        fields in vec((key(), tree()), 0..6),
    ) {
        let (all, bytes) = replacement(&fields);
        let res = check_replacement(&input(), &bytes);
        prop_assert_eq!(res.is_ok(), !repeats(&all), "{:?}", res);
        if let Err(e) = res {
            prop_assert!(e.contains("twice"), "{}", e);
        }
    }

    #[test]
    fn a_wide_replacement_passes_exactly_when_no_key_repeats(
        fields in vec(("[a-z]{1,2}", scalar().prop_map(Tree::Scalar)), 17..48),
    ) {
        // Past 16 keys the checker sorts them instead of comparing each pair.
        let (all, bytes) = replacement(&fields);
        prop_assert_eq!(check_replacement(&input(), &bytes).is_ok(), !repeats(&all));
    }

    #[test]
    fn a_replacement_the_checker_passes_is_one_bson_reads_the_same(
        fields in vec(("[a-z]{1,3}", tree()), 0..5),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        how in 0u8..3,
    ) {
        let (_, mut bytes) = replacement(&fields);
        match how {
            0 => { let i = at.index(bytes.len()); bytes[i] = byte; }
            1 => bytes.truncate(at.index(bytes.len() + 1)),
            _ => bytes.insert(at.index(bytes.len() + 1), byte),
        }
        if check_replacement(&input(), &bytes).is_ok() {
            let doc = RawDocument::from_bytes(&bytes).expect("a document");
            let decoded = bson::Document::try_from(doc);
            prop_assert!(decoded.is_ok(), "{:?}", decoded);
            prop_assert_eq!(doc.get_i32("_id").ok(), Some(7));
        }
    }

    #[test]
    fn an_id_that_differs_in_type_or_value_is_refused(id in scalar()) {
        let bytes = rawdoc! { "_id": id.clone(), "x": 1 }.into_bytes();
        let same = id == RawBson::Int32(7);
        prop_assert_eq!(check_replacement(&input(), &bytes).is_ok(), same);
    }

    #[test]
    fn descriptions_never_panic(p in vec(any::<u8>(), 0..64), exported in any::<i32>()) {
        let _ = parse_info(Path::new("g.wat"), exported, &p);
    }

    #[test]
    fn messages_are_bounded_escaped_and_stable(s in vec(any::<u8>(), 0..6000)) {
        let m = text::message(&s);
        prop_assert!(m.len() <= text::MAX_MESSAGE_BYTES);
        prop_assert!(!m.chars().any(char::is_control), "{:?}", m);
        prop_assert_eq!(text::message(&m), m.clone());
        if let Ok(plain) = std::str::from_utf8(&s) {
            let plain = plain.trim_end();
            if plain.len() <= 4000 && !plain.chars().any(char::is_control) {
                prop_assert_eq!(m, plain);
            }
        }
    }

    #[test]
    fn manifests_never_panic_and_errors_name_the_file(text in "\\PC{0,200}") {
        check_manifest(&text);
    }

    #[test]
    fn edited_manifests_never_panic_and_errors_name_the_file(
        which in 0usize..MANIFESTS.len(),
        at in any::<prop::sample::Index>(),
        insert in "[\\PC\n]{0,6}",
        remove in 0usize..8,
    ) {
        let base = MANIFESTS[which];
        let mut cut = at.index(base.len() + 1);
        while !base.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut end = (cut + remove).min(base.len());
        while !base.is_char_boundary(end) {
            end += 1;
        }
        check_manifest(&format!("{}{insert}{}", &base[..cut], &base[end..]));
    }
}

/// Valid manifests of each kind, for the edits above.
const MANIFESTS: &[&str] = &[
    "description = \"é\"\nkind = \"update\"\ncollection = \"users\"\n[[forward]]\nop = \"update_many\"\nfilter = { status = { \"$exists\" = false } }\nupdate = { \"$set\" = { status = \"active\", at = { \"$date\" = \"2026-01-01T00:00:00Z\" } } }\n[[backward]]\nop = \"rename_field\"\nfrom = \"a\"\nto = \"b\"\n",
    "kind = \"update\"\ncollection = \"users\"\n[[forward]]\nop = \"create_index\"\nkeys = { email = 1 }\noptions = { unique = true }\n",
    "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"m.wasm\"\nfilter = { n = { \"$gt\" = 1 } }\nbatch_size = 10\ndeadline_ms = 5\nschema = { type = \"object\", required = [\"a\"] }\nstrategy = \"rewrite\"\n",
];

fn check_manifest(text: &str) {
    let name = "20260101000000_fuzz.toml";
    if let Err(e) = crate::manifest::parse(Path::new(name), text) {
        assert!(e.to_string().contains(name), "{e}");
    }
}

#[test]
fn a_cut_after_a_multibyte_character_is_a_message() {
    // 4095 ASCII bytes and then "é": the cut must fall on a character boundary.
    let mut s = "a".repeat(text::MAX_MESSAGE_BYTES - 1);
    s.push('é');
    let m = text::message(&s);
    assert!(
        m.len() <= text::MAX_MESSAGE_BYTES && m.ends_with("more bytes cut]"),
        "{m}"
    );
}

/// Found by `a_replacement_the_checker_passes_is_one_bson_reads_the_same`: a
/// document followed by more bytes passed, and the writer, which reads the
/// whole buffer as one document, would have panicked on it.
#[test]
fn a_replacement_with_bytes_after_its_end_is_refused() {
    let mut bytes = rawdoc! { "_id": 7 }.into_bytes();
    bytes.push(0);
    let e = check_replacement(&input(), &bytes).expect_err("trailing byte");
    assert!(e.contains("1 bytes follow the document's 14"), "{e}");
}
