//! Transforms in other languages than Rust: each language's `split_name`
//! (examples/guests/<lang>/split_name) is built from source by `mongoshift
//! build` and must give, byte for byte, what the Rust guest gives on the same
//! documents, forward and backward. The compilers come from
//! `scripts/install-guest-tools` (which `scripts/test` runs first); a missing
//! one fails the test with the message a user would see.

use std::path::{Path, PathBuf};

use bson::oid::ObjectId;
use bson::spec::BinarySubtype;
use bson::{
    doc, Binary, Bson, DateTime, Decimal128, Document, JavaScriptCodeWithScope, RawDocumentBuf,
    Regex, Timestamp,
};
use mongoshift::progress::Direction;
use mongoshift::wasm::{Outcome, SandboxLimits, TransformModule};
use predicates::prelude::*;

use crate::guest_examples::{built_example, example};
use crate::guests::{built, install, seed_people, SPLIT_NAME};
use crate::util::{bin, text, TestDb};

/// The languages with an example guest besides Rust.
pub const LANGUAGES: [&str; 4] = ["c", "assemblyscript", "js", "python"];

/// Each `mongoshift new --kind wasm --lang <lang>` scaffold builds with
/// `mongoshift build` as it is, and its transform does what it says: set
/// `status` where it is missing (forward) and remove it (backward).
#[test]
fn every_language_scaffold_builds_and_runs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for lang in LANGUAGES {
        let migrations = tmp.path().join(lang);
        let out = bin_cmd()
            .arg("--path")
            .arg(&migrations)
            .args(["new", "add status", "--kind", "wasm", "--lang", lang])
            .assert()
            .success()
            .get_output()
            .clone();
        let (stdout, _) = text(&out);
        assert!(
            stdout.contains("created ") && stdout.contains("then run `mongoshift build`"),
            "{stdout}"
        );
        let entry = std::fs::read_dir(&migrations)
            .expect("read")
            .flatten()
            .map(|e| e.path())
            .find(|p| p.is_dir())
            .expect("the migration's directory");
        let readme = std::fs::read_to_string(entry.join("guest/README.md")).expect("README");
        assert!(readme.contains("mongoshift build"), "{readme}");
        let built = bin_cmd()
            .arg("--path")
            .arg(&migrations)
            .arg("build")
            .assert()
            .success()
            .get_output()
            .clone();
        let (stdout, stderr) = text(&built);
        assert!(
            stdout.contains(&format!("bytes, {lang}) for")),
            "{lang}: {stdout}{stderr}"
        );
        let module =
            TransformModule::load(&entry.join("add_status.wasm"), SandboxLimits::default())
                .unwrap_or_else(|e| panic!("{lang}: {e}"));
        let docs = [
            raw(doc! { "_id": 1, "name": "a" }),
            raw(doc! { "_id": 2, "status": "trial" }),
        ];
        let fwd = run(&module, Direction::Up, &docs, 2);
        assert_eq!(
            fwd[0],
            Outcome::Replace(raw(doc! { "_id": 1, "name": "a", "status": "active" }).into_bytes()),
            "{lang}"
        );
        assert_eq!(fwd[1], Outcome::Keep, "{lang}");
        let back = run(&module, Direction::Down, &docs, 2);
        assert_eq!(back[0], Outcome::Keep, "{lang}");
        assert_eq!(
            back[1],
            Outcome::Replace(raw(doc! { "_id": 2 }).into_bytes()),
            "{lang}"
        );
    }
    bin_cmd()
        .arg("--path")
        .arg(tmp.path().join("other"))
        .args(["new", "x", "--kind", "wasm", "--lang", "cobol"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "unknown guest language `cobol`; known: rust, c, assemblyscript, js, python",
        ));
}

fn rust_module() -> PathBuf {
    built().join(SPLIT_NAME).join("split_name.wasm")
}

pub fn raw(d: Document) -> RawDocumentBuf {
    RawDocumentBuf::from_document(&d).expect("raw")
}

/// Documents for the forward direction: ordinary ones, and every odd case the
/// Rust guest handles (no name, a name that is not a string, one-word and
/// empty names, an existing status, bad dates, quotes and control characters
/// in the failing value, every BSON type copied through untouched).
fn forward_fixtures() -> Vec<RawDocumentBuf> {
    let mut docs = vec![
        doc! { "_id": 7_i64, "name": "Ada Lovelace", "email": "ada@example.com", "age": 36, "signup": "2015-12-10", "address": { "city": "London" }, "tags": ["vip"] },
        doc! { "_id": 1, "name": "Cher", "signup": "2000-02-29" },
        doc! { "_id": 2, "name": "Jean Claude Van Damme", "x": Bson::Null },
        doc! { "name": "Grace Hopper", "_id": 4, "age": 85_i64 },
        doc! { "_id": 5, "status": "trial", "name": "Cher" },
        doc! { "_id": 6 },
        doc! { "_id": 7, "signup": "soon" },
        doc! { "_id": 8, "name": "A B", "signup": "2015-02-30" },
        doc! { "_id": 9, "name": "Q \"uote\"", "signup": "tab\there \\ \"q\" \u{1}\u{7f}\u{85} é 名\n\r\0'" },
        doc! { "_id": 10, "name": 42, "signup": "nonsense" },
        doc! { "_id": 11, "name": "", "signup": "1969-07-20" },
        doc! { "_id": 12, "name": " leading", "signup": DateTime::from_millis(5) },
        doc! { "_id": 13, "name": "Trailing ", "signup": "0000-01-01", "status": Bson::Null },
        doc! { "_id": 14, "name": "Mo Month", "signup": "2024-13-01" },
        doc! { "_id": 15, "name": "Short Date", "signup": "2024-1-01" },
        doc! { "_id": 16, "name": "Zoë Ünicode 名前", "signup": "9999-12-31", "名": "値" },
        doc! { "_id": 17, "signup": "2015-02-30", "name": Bson::Null },
        doc! {
            "_id": ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").expect("oid"),
            "name": "All Types",
            "double": 36.0,
            "neg": -0.0,
            "nested": { "b": 1, "1": 2.5, "deep": { "x": [1, 2.5, "s", Bson::Null] } },
            "dec": "12.50".parse::<Decimal128>().expect("decimal"),
            "bin": Binary { subtype: BinarySubtype::Generic, bytes: vec![0, 1, 2, 255] },
            "uuid": Binary { subtype: BinarySubtype::Uuid, bytes: vec![7; 16] },
            "re": Regex { pattern: "^a.*b$".into(), options: "i".into() },
            "ts": Timestamp { time: 1, increment: 2 },
            "code": Bson::JavaScriptCode("function() {}".into()),
            "scoped": JavaScriptCodeWithScope { code: "x".into(), scope: doc! { "x": 1 } },
            "min": Bson::MinKey,
            "max": Bson::MaxKey,
            "undef": Bson::Undefined,
            "t": true,
            "signup": "2024-02-29",
            "i64": i64::MIN,
        },
    ];
    // Enough ordinary users that a batch is much larger than one page.
    docs.extend((0..1500).map(mongoshift::sample::user));
    docs.into_iter().map(raw).collect()
}

/// Documents for the backward direction besides what forward produced.
fn backward_extras() -> Vec<RawDocumentBuf> {
    [
        doc! { "_id": 30, "name": "Not Migrated" },
        doc! { "_id": 31, "first_name": "A", "last_name": 5 },
        doc! { "_id": 32, "last_name": "Only" },
        doc! { "_id": 33, "first_name": "Solo", "last_name": "", "status": "active", "signup": DateTime::from_millis(-62_198_755_200_000) },
        doc! { "_id": 34, "first_name": "Max", "last_name": "Date", "signup": DateTime::MAX },
        doc! { "_id": 35, "first_name": "Min", "last_name": "Date", "signup": DateTime::MIN },
        doc! { "_id": 36, "first_name": "Pre", "last_name": "Epoch", "signup": DateTime::from_millis(-1) },
        doc! { "_id": 37, "first_name": "Far", "last_name": "Future", "signup": DateTime::from_millis(253_402_300_800_000) },
        doc! { "_id": 38, "first_name": "Str", "last_name": "Signup", "signup": "2020-01-01", "first_name_2": 1 },
    ]
    .into_iter()
    .map(raw)
    .collect()
}

fn batch(docs: &[RawDocumentBuf]) -> Vec<u8> {
    docs.iter()
        .flat_map(|d| d.as_bytes().iter().copied())
        .collect()
}

/// Runs `docs` through the module in batches of `size` on one instance (so
/// memory reuse across batches is exercised too).
pub fn run(
    module: &TransformModule,
    dir: Direction,
    docs: &[RawDocumentBuf],
    size: usize,
) -> Vec<Outcome> {
    let mut inst = module.instantiate().expect("instantiate");
    docs.chunks(size)
        .flat_map(|c| inst.transform(dir, &batch(c), c.len()).expect("transform"))
        .collect()
}

pub fn show(o: &Outcome) -> String {
    match o {
        Outcome::Replace(b) => format!(
            "replace {:?}",
            bson::RawDocument::from_bytes(b).map(|d| d.to_raw_document_buf().to_document())
        ),
        other => format!("{other:?}"),
    }
}

/// The whole comparison for one language.
fn matches_the_rust_guest(lang: &str) {
    let path = built_example(lang);
    let limits = SandboxLimits::default();
    let guest = TransformModule::load(&path, limits).unwrap_or_else(|e| panic!("{lang}: {e}"));
    let rust = TransformModule::load(&rust_module(), limits).expect("rust guest");
    assert_eq!(guest.info().name, "split_name");
    assert!(
        guest.info().backward,
        "{lang} guest has a backward transform"
    );

    let docs = forward_fixtures();
    let want = run(&rust, Direction::Up, &docs, 1000);
    // The comparison must cover every kind of outcome.
    assert!(want.iter().any(|o| matches!(o, Outcome::Keep)));
    assert!(want.iter().any(|o| matches!(o, Outcome::Fail(_))));
    assert!(
        want.iter()
            .filter(|o| matches!(o, Outcome::Replace(_)))
            .count()
            > 1500
    );
    for size in [1000, 7] {
        let got = run(&guest, Direction::Up, &docs, size);
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                g == w,
                "{lang} forward, document {i} {:?}:\n  {lang}: {}\n  rust: {}",
                docs[i].to_document(),
                show(g),
                show(w)
            );
        }
    }

    let mut back_in: Vec<RawDocumentBuf> = want
        .iter()
        .filter_map(|o| match o {
            Outcome::Replace(b) => Some(RawDocumentBuf::from_bytes(b.clone()).expect("bson")),
            _ => None,
        })
        .collect();
    back_in.extend(backward_extras());
    let want_back = run(&rust, Direction::Down, &back_in, 1000);
    let got_back = run(&guest, Direction::Down, &back_in, 1000);
    assert_eq!(got_back.len(), want_back.len());
    for (i, (g, w)) in got_back.iter().zip(&want_back).enumerate() {
        assert!(
            g == w,
            "{lang} backward, document {i} {:?}:\n  {lang}: {}\n  rust: {}",
            back_in[i].to_document(),
            show(g),
            show(w)
        );
    }
}

#[test]
fn the_c_guest_matches_the_rust_guest_byte_for_byte() {
    matches_the_rust_guest("c");
}

#[test]
fn the_assemblyscript_guest_matches_the_rust_guest_byte_for_byte() {
    matches_the_rust_guest("assemblyscript");
}

#[test]
fn the_js_guest_matches_the_rust_guest_byte_for_byte() {
    matches_the_rust_guest("js");
}

#[test]
fn the_python_guest_matches_the_rust_guest_byte_for_byte() {
    matches_the_rust_guest("python");
}

/// Copies an example's sources (not its module) into a fresh directory.
fn copy_example(lang: &str, into: &Path) -> PathBuf {
    let dst = into.join("split_name");
    std::fs::create_dir_all(&dst).expect("mkdir");
    for e in std::fs::read_dir(example(lang))
        .expect("read example")
        .flatten()
    {
        let name = e.file_name();
        if !name.to_string_lossy().ends_with(".wasm") && e.path().is_file() {
            std::fs::copy(e.path(), dst.join(&name)).expect("copy");
        }
    }
    dst
}

#[test]
fn a_missing_compiler_is_named_with_how_to_install_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let no_tools = tmp.path().join("no-tools");
    let empty_path = tmp.path().join("bin");
    std::fs::create_dir_all(&empty_path).expect("mkdir");
    for (lang, tool) in [
        ("c", "zig"),
        ("assemblyscript", "asc"),
        ("js", "esbuild"),
        ("python", "componentize-py"),
    ] {
        let dir = copy_example(lang, &tmp.path().join(lang));
        let out = std::process::Command::new(bin())
            .arg("build")
            .arg(&dir)
            .env("MONGOSHIFT_GUEST_TOOLS", &no_tools)
            .env("PATH", &empty_path)
            .output()
            .expect("run mongoshift build");
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{lang}: {stderr}");
        assert!(
            stderr.contains(&format!("needs `{tool}`, which is not installed"))
                && stderr.contains("run `scripts/install-guest-tools`"),
            "{lang}: {stderr}"
        );
        assert!(!dir.join("split_name.wasm").exists(), "no module written");
    }
}

#[test]
fn a_guest_that_does_not_compile_shows_the_compiler_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for (lang, file, broken, tool, says) in [
        (
            "c",
            "split_name.c",
            "int oops( {\n",
            "zig cc failed",
            "error:",
        ),
        (
            "assemblyscript",
            "index.ts",
            "let oops: = ;\n",
            "asc failed",
            "ERROR",
        ),
        (
            "js",
            "index.js",
            "export const = ;\n",
            "esbuild failed",
            "ERROR",
        ),
        (
            "python",
            "app.py",
            "def oops(:\n",
            "componentize-py failed",
            "SyntaxError",
        ),
    ] {
        let dir = copy_example(lang, &tmp.path().join(lang));
        let path = dir.join(file);
        let source = std::fs::read_to_string(&path).expect("read");
        std::fs::write(&path, format!("{source}\n{broken}")).expect("write");
        let out = std::process::Command::new(bin())
            .arg("build")
            .arg(&dir)
            .output()
            .expect("run mongoshift build");
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{lang}: {stderr}");
        assert!(
            stderr.contains("migration split_name: building")
                && stderr.contains(tool)
                && stderr.contains(says),
            "{lang}: {stderr}"
        );
    }
}

#[test]
fn a_guest_in_no_known_language_is_refused_naming_what_is_expected() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("mystery");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("migration.toml"), "description = \"?\"\nkind = \"wasm\"\ncollection = \"users\"\nmodule = \"m.wasm\"\nbuild = \".\"\n").expect("write");
    std::fs::write(dir.join("transform.go"), "package main\n").expect("write");
    bin_cmd().arg("build").arg(&dir).assert().code(1).stderr(
        predicate::str::contains("cannot tell which language")
            .and(predicate::str::contains("app.py (Python)")),
    );
}

pub fn bin_cmd() -> assert_cmd::Command {
    assert_cmd::Command::new(bin())
}

/// Installs a language's example into the test's project as the split_name
/// migration (manifest and module).
fn install_example(t: &TestDb, lang: &str) {
    let module = built_example(lang);
    let dst = t.migrations().join(SPLIT_NAME);
    std::fs::create_dir_all(&dst).expect("mkdir");
    std::fs::copy(&module, dst.join("split_name.wasm")).expect("copy module");
    std::fs::copy(
        example(lang).join("migration.toml"),
        dst.join("migration.toml"),
    )
    .expect("copy manifest");
}

/// `up` with a guest gives the same documents as `up` with the Rust guest,
/// and `down` restores the originals byte for byte.
fn up_and_down_like_the_rust_guest(lang: &str, n: i64) {
    let rust = TestDb::new(&format!("lang_rust_{lang}"));
    seed_people(&rust, n);
    install(&rust, SPLIT_NAME);
    rust.cmd().arg("up").assert().success();
    let want = rust.raw_users();

    let t = TestDb::new(&format!("lang_{lang}"));
    seed_people(&t, n);
    let original = t.raw_users();
    install_example(&t, lang);
    t.cmd()
        .arg("up")
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "{n}/{n} docs, replaced {n}"
        )));
    let got = t.raw_users();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(
            g.as_bytes(),
            w.as_bytes(),
            "{lang}: same documents as the Rust guest"
        );
    }
    t.cmd().arg("down").assert().success();
    let restored = t.raw_users();
    assert_eq!(restored.len(), original.len());
    for (a, b) in original.iter().zip(&restored) {
        assert_eq!(
            a.as_bytes(),
            b.as_bytes(),
            "{lang}: byte-identical after down"
        );
    }
}

#[test]
fn the_c_guest_runs_up_and_down_through_the_cli() {
    up_and_down_like_the_rust_guest("c", 3_000);
}

#[test]
fn the_python_guest_runs_up_and_down_through_the_cli() {
    up_and_down_like_the_rust_guest("python", 1_200);
}

#[test]
fn a_python_guest_that_opens_a_socket_gets_an_error_and_reaches_nothing() {
    // A real listener the guest is told to connect to.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();

    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("net");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("app.py"),
        r#"import socket
from mongoshift import export, fail, keep


def probe(doc):
    try:
        socket.create_connection(("127.0.0.1", doc.get("port").as_int()), timeout=1)
    except Exception as e:
        return fail(f"refused: {type(e).__name__}")
    return keep()


WitWorld = export("net", probe)
"#,
    )
    .expect("write");
    std::fs::write(
        dir.join("migration.toml"),
        "description = \"net\"\nkind = \"wasm\"\ncollection = \"users\"\nmodule = \"net.wasm\"\nbuild = \".\"\n",
    )
    .expect("write");
    bin_cmd().arg("build").arg(&dir).assert().success();
    let module =
        TransformModule::load(&dir.join("net.wasm"), SandboxLimits::default()).expect("load");
    let docs = [raw(doc! { "_id": 1, "port": i32::from(port) })];
    let out = run(&module, Direction::Up, &docs, 1);
    assert!(
        matches!(&out[0], Outcome::Fail(m) if m.starts_with("refused: ")),
        "{out:?}"
    );
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "no connection reached the listener"
    );
}
