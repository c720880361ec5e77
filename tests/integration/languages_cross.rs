//! Contract version 2 in other languages than Rust: each language's
//! `move_addresses` (examples/guests/<lang>/move_addresses) is built from
//! source by `mongoshift build` and must give, byte for byte, the Rust
//! guest's outcomes and outputs (op, collection, document) on the same users
//! and lookups, forward and backward; and it runs up and down through the CLI
//! like the Rust guest.

use std::path::PathBuf;

use bson::oid::ObjectId;
use bson::{doc, Bson, DateTime, Decimal128, Document, RawDocumentBuf};
use mongoshift::progress::Direction;
use mongoshift::wasm::{interleave, Outcome, Output, OutputOp, SandboxLimits, TransformModule};

use crate::cross_examples::MOVE_ADDRESSES;
use crate::guest_examples::{built_example_named, example_named};
use crate::guests::{built, install};
use crate::util::{block_on, TestDb};

const NAME: &str = "move_addresses";

fn raw(d: Document) -> RawDocumentBuf {
    RawDocumentBuf::from_document(&d).expect("raw")
}

fn rust_module() -> PathBuf {
    built().join(MOVE_ADDRESSES).join("move_addresses.wasm")
}

/// Users for the forward direction: the demo's, and every odd case the Rust
/// guest handles (nothing to move, addresses that are not an array or hold
/// something else than documents, an address using the move's own names,
/// `_id`s of every type that can or cannot name the moved documents).
fn forward_fixtures() -> Vec<RawDocumentBuf> {
    let oid = ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").expect("oid");
    let mut users = vec![
        doc! { "_id": 1, "name": "No Addresses" },
        doc! { "_id": 2, "addresses": [], "name": "Empty" },
        doc! { "_id": 3, "addresses": "x" },
        doc! { "_id": 4, "addresses": { "city": "Paris" } },
        doc! { "_id": 5, "addresses": Bson::Null },
        doc! { "_id": 6, "addresses": [{ "city": "Paris" }, 5] },
        doc! { "_id": 7, "addresses": [{ "city": "Paris" }, { "zip": 1, "i": 1 }] },
        doc! { "_id": 8, "addresses": [{ "user_id": 1, "_id": 2 }] },
        doc! { "_id": 1.5, "addresses": [{ "a": 1 }] },
        doc! { "_id": DateTime::from_millis(5), "addresses": [{ "a": 1 }] },
        doc! { "addresses": [{ "a": 1 }], "name": "No Id" },
        doc! { "_id": oid, "addresses": [
            { "city": "Zoë 名", "nested": { "b": 1, "1": 2.5, "deep": [1, "s", Bson::Null] } },
            { "dec": "12.50".parse::<Decimal128>().expect("decimal"), "neg": -0.0, "t": true },
        ], "after": "kept in place" },
        doc! { "name": "Id Not First", "_id": "user \"q\" é", "addresses": [{ "a": 1 }] },
        doc! { "_id": i64::MIN, "addresses": [{}, {}] },
        doc! { "_id": -5, "addresses": [{ "a": Bson::Null }] },
    ];
    users.extend((0..1200).map(mongoshift::sample::cross_user));
    users.into_iter().map(raw).collect()
}

/// Each document's outcome and outputs.
type Results = Vec<(Outcome, Vec<Output>)>;

/// Runs `docs` (with `lookups[i]` for document `i`) through the module in
/// batches of `size` on one instance.
fn run(
    module: &TransformModule,
    dir: Direction,
    docs: &[RawDocumentBuf],
    lookups: &[Vec<u8>],
    size: usize,
) -> Results {
    let mut inst = module.instantiate().expect("instantiate");
    let mut out = Vec::new();
    for (c, l) in docs.chunks(size).zip(lookups.chunks(size)) {
        let batch: Vec<u8> = c.iter().flat_map(|d| d.as_bytes().to_vec()).collect();
        let (outcomes, outputs) = inst
            .transform_with_outputs(dir, &interleave(&batch, Some(l)), c.len())
            .expect("transform");
        out.extend(outcomes.into_iter().zip(outputs));
    }
    out
}

fn no_lookups(n: usize) -> Vec<Vec<u8>> {
    vec![raw(doc! {}).into_bytes(); n]
}

/// What the backward direction reads: the Rust guest's forward replacements
/// with their moved addresses as the lookup gives them (in reverse order, so
/// the guest must sort), and odd cases besides.
fn backward_fixtures(
    forward_docs: &[RawDocumentBuf],
    forward: &Results,
) -> (Vec<RawDocumentBuf>, Vec<Vec<u8>>) {
    let mut docs = Vec::new();
    let mut lookups = Vec::new();
    for (input, (outcome, outputs)) in forward_docs.iter().zip(forward) {
        let Outcome::Replace(b) = outcome else {
            continue;
        };
        assert!(outputs.iter().all(|o| o.op == OutputOp::Insert));
        let mut moved: Vec<Bson> = outputs
            .iter()
            .map(|o| Bson::Document(Document::from_reader(&o.document[..]).expect("bson")))
            .collect();
        moved.reverse();
        assert!(!moved.is_empty(), "{:?}", input.to_document());
        docs.push(RawDocumentBuf::from_bytes(b.clone()).expect("bson"));
        lookups.push(raw(doc! { "addresses": moved }).into_bytes());
    }
    let a = |i: Bson, city: &str| doc! { "_id": format!("x-{city}"), "user_id": 90, "i": i, "city": city };
    for (user, found) in [
        (doc! { "_id": 90, "name": "No Lookups" }, vec![]),
        (
            doc! { "_id": 91, "addresses": [{ "city": "Paris" }] },
            vec![a(Bson::Int32(0), "Lyon")],
        ),
        (
            doc! { "_id": 92, "name": "Odd Orders" },
            vec![
                a(Bson::Int64(0), "Int64 sorts last"),
                a(Bson::Int32(1), "second of the ones"),
                doc! { "city": "No i", "_id": "x-no-i" },
                a(Bson::Int32(1), "third of the ones"),
                a(Bson::Int32(-3), "first"),
            ],
        ),
        (
            doc! { "_id": 93 },
            vec![a(Bson::Int32(0), "fine"), doc! { "user_id": 93, "i": 1 }],
        ),
    ] {
        docs.push(raw(user));
        let found: Vec<Bson> = found.into_iter().map(Bson::Document).collect();
        lookups.push(raw(doc! { "addresses": found }).into_bytes());
    }
    (docs, lookups)
}

fn show((outcome, outputs): &(Outcome, Vec<Output>)) -> String {
    let outcome = match outcome {
        Outcome::Replace(b) => format!("replace {:?}", Document::from_reader(&b[..])),
        other => format!("{other:?}"),
    };
    let outputs: Vec<String> = outputs
        .iter()
        .map(|o| {
            format!(
                "{} {} {:?}",
                o.op.as_str(),
                o.collection,
                Document::from_reader(&o.document[..])
            )
        })
        .collect();
    format!("{outcome} with {outputs:?}")
}

fn assert_same(lang: &str, what: &str, docs: &[RawDocumentBuf], got: &Results, want: &Results) {
    assert_eq!(got.len(), want.len(), "{lang} {what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g == w,
            "{lang} {what}, document {i} {:?}:\n  {lang}: {}\n  rust: {}",
            docs[i].to_document(),
            show(g),
            show(w)
        );
    }
}

/// The whole comparison for one language.
fn moves_addresses_like_the_rust_guest(lang: &str) {
    let limits = SandboxLimits::default();
    let path = built_example_named(lang, NAME);
    let guest = TransformModule::load(&path, limits).unwrap_or_else(|e| panic!("{lang}: {e}"));
    let rust = TransformModule::load(&rust_module(), limits).expect("rust guest");
    assert_eq!(
        (
            guest.info().name.as_str(),
            guest.info().contract_version,
            guest.info().backward
        ),
        (NAME, 2, true),
        "{lang}"
    );

    let docs = forward_fixtures();
    let lookups = no_lookups(docs.len());
    let want = run(&rust, Direction::Up, &docs, &lookups, 500);
    // The comparison must cover every kind of outcome.
    assert!(want.iter().any(|(o, _)| matches!(o, Outcome::Keep)));
    assert!(want.iter().any(|(o, _)| matches!(o, Outcome::Fail(_))));
    assert!(want.iter().filter(|(_, outs)| outs.len() == 3).count() >= 1200);
    for size in [500, 7] {
        let got = run(&guest, Direction::Up, &docs, &lookups, size);
        assert_same(lang, "forward", &docs, &got, &want);
    }

    let (back, back_lookups) = backward_fixtures(&docs, &want);
    let want_back = run(&rust, Direction::Down, &back, &back_lookups, 500);
    assert!(want_back.iter().any(|(o, _)| matches!(o, Outcome::Fail(_))));
    assert!(want_back
        .iter()
        .any(|(_, outs)| outs.iter().any(|o| o.op == OutputOp::Delete)));
    let got_back = run(&guest, Direction::Down, &back, &back_lookups, 500);
    assert_same(lang, "backward", &back, &got_back, &want_back);
}

#[test]
fn the_c_move_addresses_matches_the_rust_guest_byte_for_byte() {
    moves_addresses_like_the_rust_guest("c");
}

#[test]
fn the_assemblyscript_move_addresses_matches_the_rust_guest_byte_for_byte() {
    moves_addresses_like_the_rust_guest("assemblyscript");
}

#[test]
fn the_js_move_addresses_matches_the_rust_guest_byte_for_byte() {
    moves_addresses_like_the_rust_guest("js");
}

#[test]
fn the_python_move_addresses_matches_the_rust_guest_byte_for_byte() {
    moves_addresses_like_the_rust_guest("python");
}

/// Users as the demo seeds them with `--cross`.
fn seed(t: &TestDb, n: u64) {
    let users = t.db().collection::<Document>("users");
    block_on(users.insert_many((0..n).map(mongoshift::sample::cross_user))).expect("seed");
}

fn addresses(t: &TestDb) -> Vec<Document> {
    t.find("addresses", doc! {})
}

/// `up` with a language's guest writes the users and addresses the Rust guest
/// writes; `down` gives back the users byte for byte and no addresses.
fn up_and_down_like_the_rust_guest(lang: &str, n: u64) {
    let rust = TestDb::new(&format!("move_rust_{lang}"));
    seed(&rust, n);
    install(&rust, MOVE_ADDRESSES);
    rust.cmd().arg("up").assert().success();
    let (want_users, want_addresses) = (rust.raw_users(), addresses(&rust));
    assert_eq!(want_addresses.len() as u64, 3 * n);

    let t = TestDb::new(&format!("move_{lang}"));
    seed(&t, n);
    let original = t.raw_users();
    let dst = t.migrations().join(MOVE_ADDRESSES);
    std::fs::create_dir_all(&dst).expect("mkdir");
    std::fs::copy(
        built_example_named(lang, NAME),
        dst.join("move_addresses.wasm"),
    )
    .expect("copy");
    std::fs::copy(
        example_named(lang, NAME).join("migration.toml"),
        dst.join("migration.toml"),
    )
    .expect("copy manifest");
    t.cmd().arg("up").assert().success();
    assert!(
        t.raw_users() == want_users,
        "{lang}: the same users as the Rust guest"
    );
    let got = addresses(&t);
    assert_eq!(got.len(), want_addresses.len(), "{lang}");
    for (g, w) in got.iter().zip(&want_addresses) {
        assert_eq!(
            raw(g.clone()).as_bytes(),
            raw(w.clone()).as_bytes(),
            "{lang}: same addresses"
        );
    }
    t.cmd().arg("down").assert().success();
    assert!(
        t.raw_users() == original,
        "{lang}: users byte-identical after down"
    );
    assert_eq!(
        t.count("addresses", doc! {}),
        0,
        "{lang}: every address deleted"
    );
}

#[test]
fn the_c_move_addresses_runs_up_and_down_through_the_cli() {
    up_and_down_like_the_rust_guest("c", 1_500);
}

#[test]
fn the_js_move_addresses_runs_up_and_down_through_the_cli() {
    up_and_down_like_the_rust_guest("js", 600);
}
