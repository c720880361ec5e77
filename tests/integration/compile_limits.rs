//! Compiling a module has a bounded cost: a module beyond a limit (size,
//! functions, function size, locals, nesting) is refused before the compiler
//! sees it, naming the migration, the file, the limit and by how much, and
//! nothing is written. The real guests load well within every limit.

use bson::doc;
use mongoshift::wasm::{CompileLimits, SandboxLimits, TransformModule};

use crate::util::{text, TestDb};
use crate::wat::keep_all;

const ID: &str = "20260301000000_costly";

/// Unsigned LEB128, as the binary format writes counts and sizes.
fn leb(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn section(id: u8, content: &[u8], out: &mut Vec<u8>) {
    out.push(id);
    leb(content.len(), out);
    out.extend_from_slice(content);
}

/// A core module of `n` functions of type `() -> ()`, each with `body`
/// (locals declaration, instructions and the final `end`).
fn module(n: usize, body: &[u8]) -> Vec<u8> {
    let mut out = b"\0asm\x01\0\0\0".to_vec();
    section(1, &[1, 0x60, 0, 0], &mut out);
    let mut funcs = Vec::new();
    leb(n, &mut funcs);
    funcs.resize(funcs.len() + n, 0);
    section(3, &funcs, &mut out);
    let mut code = Vec::new();
    leb(n, &mut code);
    for _ in 0..n {
        leb(body.len(), &mut code);
        code.extend_from_slice(body);
    }
    section(10, &code, &mut out);
    out
}

/// The body `(block (block ... ))` nested `depth` deep.
fn nested(depth: usize) -> Vec<u8> {
    let mut body = vec![0];
    for _ in 0..depth {
        body.extend_from_slice(&[0x02, 0x40]);
    }
    body.resize(body.len() + depth + 1, 0x0b);
    body
}

/// A project with 20 users and one wasm migration whose module is `bytes`.
fn project(name: &str, file: &str, bytes: &[u8]) -> TestDb {
    let t = TestDb::new(name);
    t.seed_users(20);
    t.write(&format!("{ID}/{file}"), "");
    std::fs::write(t.migrations().join(ID).join(file), bytes).expect("module");
    t.write(
        &format!("{ID}/migration.toml"),
        &format!("kind = \"wasm\"\ncollection = \"users\"\nmodule = \"{file}\"\n"),
    );
    t
}

/// Runs `up` with `env` and a private cache; checks the refusal names the
/// migration, the file and each of `expected`, and that nothing was written:
/// no document, no ledger entry, nothing compiled into the cache.
fn refused(t: &TestDb, env: &[(&str, &str)], file: &str, expected: &[&str]) {
    let before = t.find("users", doc! {});
    let cache = tempfile::tempdir().expect("tempdir");
    let out = t
        .cmd()
        .env("MONGOSHIFT_WASM_CACHE", cache.path().join("wasm"))
        .env("XDG_CONFIG_HOME", cache.path().join("config"))
        .envs(env.iter().copied())
        .arg("up")
        .output()
        .expect("up");
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for e in [format!("migration {ID}").as_str(), file]
        .into_iter()
        .chain(expected.iter().copied())
    {
        assert!(stderr.contains(e), "expected {e:?} in: {stderr}");
    }
    assert_eq!(t.find("users", doc! {}), before, "no document changed");
    assert_eq!(
        t.ledger(),
        vec![],
        "nothing recorded: the migration is still pending"
    );
    let cached = std::fs::read_dir(cache.path().join("wasm"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(cached, 0, "nothing compiled");
}

/// Finding 12: a module of 200,000 functions took 17.6 s and 1.15 GB to
/// compile. It is refused before compiling.
#[test]
fn a_module_of_200000_functions_is_refused_before_compiling() {
    let t = project("limit_functions", "many.wasm", &module(200_000, &[0, 0x0b]));
    refused(
        &t,
        &[],
        "many.wasm",
        &[
            "refused before compiling",
            "it has 200000 functions, 100000 over the limit of 100000",
            "MONGOSHIFT_WASM_MAX_FUNCTIONS=200000",
        ],
    );
}

/// Finding 12: a function of a million nested blocks took 6 s and 978 MB; it
/// is too large a function. Deep nesting in a smaller one is refused too.
#[test]
fn deep_nesting_and_huge_functions_are_refused_before_compiling() {
    let t = project(
        "limit_nesting_1m",
        "deep.wasm",
        &module(1, &nested(1_000_000)),
    );
    refused(
        &t,
        &[],
        "deep.wasm",
        &[
            "has a body of 3000002 bytes, 902850 bytes over the limit of 2097152 bytes",
            "MONGOSHIFT_WASM_MAX_FUNCTION_KB=2930",
        ],
    );
    let t = project("limit_nesting", "deep.wasm", &module(1, &nested(6_000)));
    refused(
        &t,
        &[],
        "deep.wasm",
        &[
            "nests blocks 6000 deep, 1000 over the limit of 5000",
            "MONGOSHIFT_WASM_MAX_NESTING=6000",
        ],
    );
}

#[test]
fn too_many_locals_and_a_too_large_module_are_refused() {
    // One declaration of 20,000 i64 locals.
    let mut body = vec![1];
    let mut n = Vec::new();
    leb(20_000, &mut n);
    body.extend_from_slice(&n);
    body.extend_from_slice(&[0x7e, 0x0b]);
    let t = project("limit_locals", "locals.wasm", &module(1, &body));
    refused(
        &t,
        &[],
        "locals.wasm",
        &[
            "declares 20000 locals, 10000 over the limit of 10000",
            "MONGOSHIFT_WASM_MAX_LOCALS=20000",
        ],
    );
    // 1,500,000 bytes against a limit set to 1 MiB.
    let mut bytes = module(1, &[0, 0x0b]);
    // A custom section: id, a 3-byte size, then its content.
    section(0, &vec![0; 1_500_000 - bytes.len() - 4], &mut bytes);
    assert_eq!(bytes.len(), 1_500_000);
    let t = project("limit_size", "big.wasm", &bytes);
    refused(
        &t,
        &[("MONGOSHIFT_WASM_MAX_MODULE_MB", "1")],
        "big.wasm",
        &[
            "it is 1500000 bytes, 451424 bytes over the limit of 1048576 bytes",
            "MONGOSHIFT_WASM_MAX_MODULE_MB=2",
        ],
    );
}

/// A limit is raised (or lowered) by its variable; one that is not a number
/// is refused, naming it.
#[test]
fn limits_are_set_by_environment_and_a_bad_setting_is_refused() {
    let wat = keep_all();
    let t = project("limit_env", "guest.wat", wat.as_bytes());
    // The guest's loops nest two deep.
    refused(
        &t,
        &[("MONGOSHIFT_WASM_MAX_NESTING", "1")],
        "guest.wat",
        &[
            "nests blocks 2 deep, 1 over the limit of 1",
            "MONGOSHIFT_WASM_MAX_NESTING=2",
        ],
    );
    refused(
        &t,
        &[("MONGOSHIFT_WASM_MAX_FUNCTIONS", "lots")],
        "",
        &["MONGOSHIFT_WASM_MAX_FUNCTIONS=`lots` is not a positive whole number"],
    );
    let out = t
        .cmd()
        .env("MONGOSHIFT_WASM_MAX_NESTING", "2")
        .arg("up")
        .output()
        .expect("up");
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(t.ledger()[0].get_str("state"), Ok("applied"));
}

/// Every real guest this project builds (the Rust migrations, and the C,
/// AssemblyScript, JavaScript and Python examples, the last two 12–18 MB
/// components) loads with every limit cut to a third of its default: the
/// defaults leave them at least three times their size.
#[test]
fn the_real_guests_load_within_a_third_of_every_limit() {
    let d = CompileLimits::default();
    let third = CompileLimits {
        module_bytes: d.module_bytes / 3,
        code_bytes: d.code_bytes / 3,
        functions: d.functions / 3,
        function_bytes: d.function_bytes / 3,
        locals: d.locals / 3,
        nesting: d.nesting / 3,
    };
    let limits = SandboxLimits::default().compile(third);
    let migrations = crate::guests::built();
    let mut modules = vec![
        migrations.join("20260110090000_split_name/split_name.wasm"),
        migrations.join("20260111090000_purge_trials/purge_trials.wasm"),
    ];
    for lang in ["c", "assemblyscript", "js", "python"] {
        modules.push(crate::guest_examples::built_example(lang));
    }
    for m in modules {
        TransformModule::load(&m, limits).unwrap_or_else(|e| panic!("{}: {e}", m.display()));
    }
}
