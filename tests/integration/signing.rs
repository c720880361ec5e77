//! Signed migrations: `keygen`, `sign`, `verify --signatures` and `up` with
//! trusted keys. Each refusal names the migration (and the file that
//! changed, or the key), exits with its documented code, and writes nothing.

use bson::doc;

use crate::util::{text, TestDb};

const UPDATE: &str = "kind = \"update\"\ncollection = \"users\"\n[[forward]]\nop = \"update_many\"\nfilter = {}\nupdate = { \"$set\" = { a = 1 } }\n";
const ID_UPDATE: &str = "20260101000000_set_a";
const ID_WASM: &str = "20260102000000_guest";
const ID_PY: &str = "20260103000000_py";
const MODULE: &str = "(module (memory (export \"memory\") 1))\n";

/// A key made by `keygen` in the project directory.
struct Key {
    /// The private key file, relative to the project.
    file: String,
    /// `<name>:<base64>`.
    public: String,
    /// The key id.
    id: String,
}

fn keygen(t: &TestDb, name: &str) -> Key {
    let file = format!("{name}.pem");
    let out = t
        .cmd()
        .args(["keygen", "--out", &file])
        .assert()
        .success()
        .get_output()
        .clone();
    let (stdout, stderr) = text(&out);
    assert!(stderr.contains(&file), "says where the key went: {stderr}");
    let mut lines = stdout.lines();
    let id = lines
        .next()
        .and_then(|l| l.strip_prefix("# key id "))
        .unwrap_or_else(|| panic!("a key id line first: {stdout}"))
        .to_string();
    let public = lines.next().expect("the public key line").to_string();
    assert!(public.starts_with(&format!("{name}:")), "{public}");
    assert!(
        !stdout.contains("PRIVATE"),
        "the private key is never printed"
    );
    Key { file, public, id }
}

/// Three entries: a TOML file, a directory with a module, a Python file.
fn three_entries(t: &TestDb) {
    t.write(&format!("{ID_UPDATE}.toml"), UPDATE);
    t.write(&format!("{ID_WASM}/guest.wat"), MODULE);
    t.write(
        &format!("{ID_WASM}/migration.toml"),
        "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\n",
    );
    t.write(&format!("{ID_PY}.py"), "\"\"\"a python migration\"\"\"\n");
}

fn sign(t: &TestDb, key: &Key, ids: &[&str]) {
    let out = t
        .cmd()
        .args(["sign", "--key", &key.file])
        .args(ids)
        .assert()
        .success()
        .get_output()
        .clone();
    let (stdout, _) = text(&out);
    assert!(stdout.contains(&format!("with key {}", key.id)), "{stdout}");
}

/// `verify --signatures` trusting `keys`: its exit code, stdout, stderr.
fn verify(t: &TestDb, keys: &[&Key]) -> (i32, String, String) {
    let mut cmd = t.cmd();
    cmd.args(["verify", "--signatures"]);
    for k in keys {
        cmd.args(["--trusted-key", &k.public]);
    }
    let out = cmd.output().expect("verify");
    let (stdout, stderr) = text(&out);
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

#[test]
fn signed_entries_verify_and_one_altered_byte_is_refused_naming_the_file() {
    let t = TestDb::new("sig_alter");
    three_entries(&t);
    let key = keygen(&t, "ops");
    sign(&t, &key, &[]);
    for id in [ID_UPDATE, ID_WASM, ID_PY] {
        assert!(
            t.migrations().join(format!("{id}.sig")).is_file(),
            "{id}.sig"
        );
    }
    let (code, stdout, stderr) = verify(&t, &[&key]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        stdout.matches(&format!("ops ({})", key.id)).count(),
        3,
        "{stdout}"
    );
    assert!(
        !stdout.contains("ALTERED") && !stdout.contains("UNSIGNED"),
        "{stdout}"
    );
    // `status` and the rest still see three migrations: signatures are not
    // migrations.
    let (code, stdout, _) = verify(&t, &[&key]);
    assert_eq!((code, stdout.lines().count()), (0, 4), "{stdout}");

    // One byte of the module.
    t.write(
        &format!("{ID_WASM}/guest.wat"),
        &MODULE.replace("1))", "2))"),
    );
    let (code, stdout, stderr) = verify(&t, &[&key]);
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "migration {ID_WASM} does not match its signature by key {}: {ID_WASM}/guest.wat changed since it was signed",
            key.id
        )),
        "{stderr}"
    );
    assert!(stdout.contains("ALTERED"), "{stdout}");
    assert!(
        stderr.contains("1 migration(s) refused"),
        "only that one: {stderr}"
    );

    // Renaming the module (and the manifest to match) is refused too.
    std::fs::rename(
        t.migrations().join(format!("{ID_WASM}/guest.wat")),
        t.migrations().join(format!("{ID_WASM}/other.wat")),
    )
    .expect("rename");
    t.write(
        &format!("{ID_WASM}/migration.toml"),
        "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"other.wat\"\n",
    );
    let (code, _, stderr) = verify(&t, &[&key]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains(&format!("migration {ID_WASM} does not match")),
        "{stderr}"
    );

    // A changed Python file, by one byte.
    t.write(&format!("{ID_PY}.py"), "\"\"\"a python migration!\"\"\"\n");
    let (code, _, stderr) = verify(&t, &[&key]);
    assert_eq!(code, 3);
    assert!(
        stderr.contains(&format!("{ID_PY}.py changed since it was signed")),
        "{stderr}"
    );
}

#[test]
fn a_signature_copied_from_another_entry_is_refused() {
    let t = TestDb::new("sig_copy");
    three_entries(&t);
    let key = keygen(&t, "ops");
    sign(&t, &key, &[ID_UPDATE]);
    // The same bytes as the signed entry, under another id: the signature
    // binds the id and the paths too.
    t.write("20260104000000_twin.toml", UPDATE);
    std::fs::copy(
        t.migrations().join(format!("{ID_UPDATE}.sig")),
        t.migrations().join("20260104000000_twin.sig"),
    )
    .expect("copy");
    std::fs::remove_file(t.migrations().join(format!("{ID_WASM}/migration.toml"))).ok();
    std::fs::remove_dir_all(t.migrations().join(ID_WASM)).expect("rm");
    std::fs::remove_file(t.migrations().join(format!("{ID_PY}.py"))).expect("rm");
    let (code, stdout, stderr) = verify(&t, &[&key]);
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "migration 20260104000000_twin does not match its signature by key {}: the signature was made for migration {ID_UPDATE}",
            key.id
        )),
        "{stderr}"
    );
    // Its `migration` field edited to match: still refused.
    let sig = t.migrations().join("20260104000000_twin.sig");
    let edited = std::fs::read_to_string(&sig)
        .expect("read")
        .replace(ID_UPDATE, "20260104000000_twin");
    std::fs::write(&sig, edited).expect("write");
    let (code, _, stderr) = verify(&t, &[&key]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("migration 20260104000000_twin does not match"),
        "{stderr}"
    );
}

#[test]
fn an_untrusted_key_and_an_unsigned_entry_are_refused() {
    let t = TestDb::new("sig_untrusted");
    three_entries(&t);
    let ops = keygen(&t, "ops");
    let other = keygen(&t, "other");
    sign(&t, &other, &[ID_UPDATE, ID_WASM]);
    let (code, stdout, stderr) = verify(&t, &[&ops]);
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "migration {ID_UPDATE} is signed by key {}, which is not trusted",
            other.id
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("migration {ID_PY} is not signed")),
        "{stderr}"
    );
    assert!(
        stdout.contains("UNTRUSTED") && stdout.contains("UNSIGNED"),
        "{stdout}"
    );
    assert!(stderr.contains("3 migration(s) refused"), "{stderr}");
}

#[test]
fn rotation_trusts_both_keys_then_only_the_new_one() {
    let t = TestDb::new("sig_rotate");
    three_entries(&t);
    let old = keygen(&t, "ops-2025");
    let new = keygen(&t, "ops-2026");
    sign(&t, &old, &[]);
    let keys_file = t.dir.path().join("trusted-keys");
    std::fs::write(
        &keys_file,
        format!("# old\n{}\n{}\n", old.public, new.public),
    )
    .expect("write");
    let by_file = |t: &TestDb| {
        t.cmd()
            .args(["verify", "--signatures", "--trusted-keys", "trusted-keys"])
            .output()
            .expect("verify")
    };
    assert_eq!(by_file(&t).status.code(), Some(0));
    // Re-signing replaces the old signature.
    sign(&t, &new, &[]);
    std::fs::write(&keys_file, format!("{}\n", new.public)).expect("write");
    let out = by_file(&t);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert_eq!(stdout.matches(&new.id).count(), 3, "{stdout}");
    let (code, _, stderr) = verify(&t, &[&old]);
    assert_eq!(code, 3, "the old key alone no longer verifies: {stderr}");
}

#[test]
fn keygen_writes_an_owner_only_file_never_overwrites_and_checks_the_name() {
    let t = TestDb::new("sig_keygen");
    let key = keygen(&t, "ops");
    let before = std::fs::read(t.dir.path().join(&key.file)).expect("read");
    let out = t
        .cmd()
        .args(["keygen", "--out", &key.file])
        .output()
        .expect("keygen");
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("ops.pem already exists"), "{stderr}");
    assert_eq!(
        std::fs::read(t.dir.path().join(&key.file)).expect("read"),
        before
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(t.dir.path().join(&key.file))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "readable by its owner only");
    }
    // A name that cannot go in a public key line.
    let out = t
        .cmd()
        .args(["keygen", "--out", "k.pem", "--name", "a:b"])
        .output()
        .expect("keygen");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out).1);
    assert!(
        text(&out).1.contains("invalid key name `a:b`"),
        "{}",
        text(&out).1
    );
    assert!(!t.dir.path().join("k.pem").exists(), "no key written");
}

#[test]
fn bad_keys_and_key_files_are_named() {
    let t = TestDb::new("sig_badkeys");
    three_entries(&t);
    let key = keygen(&t, "ops");
    // Trusted keys without --signatures mean nothing to `verify`.
    let out = t
        .cmd()
        .args(["verify", "--trusted-key", &key.public])
        .output()
        .expect("verify");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out).1);
    // A key file that is not one, or is missing.
    std::fs::write(t.dir.path().join("notakey.pem"), "hello\n").expect("write");
    for (file, why) in [
        ("notakey.pem", "no `-----BEGIN PRIVATE KEY-----` block"),
        ("missing.pem", "cannot read it"),
    ] {
        let out = t
            .cmd()
            .args(["sign", "--key", file])
            .output()
            .expect("sign");
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!("invalid private key file {file}: {why}")),
            "{stderr}"
        );
    }
    assert!(
        !t.migrations().join(format!("{ID_UPDATE}.sig")).exists(),
        "nothing signed"
    );
    // A public key that is not base64, or not a key.
    for (arg, why) in [
        ("ops:not-base64!", "not standard base64"),
        ("ops:AAAA", "3 bytes, not 32"),
        ("AAAA", "no `:`"),
    ] {
        let out = t
            .cmd()
            .args(["verify", "--signatures", "--trusted-key", arg])
            .output()
            .expect("verify");
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!("invalid public key `{arg}`: ")) && stderr.contains(why),
            "{stderr}"
        );
    }
    // A trusted keys file: the file and the line.
    std::fs::write(
        t.dir.path().join("keys"),
        format!("{}\n\nops2:AAAA\n", key.public),
    )
    .expect("write");
    let out = t
        .cmd()
        .args(["verify", "--signatures", "--trusted-keys", "keys"])
        .output()
        .expect("verify");
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("invalid trusted keys file keys, line 3: the key is 3 bytes"),
        "{stderr}"
    );
    // No key at all.
    let out = t
        .cmd()
        .args(["verify", "--signatures"])
        .output()
        .expect("verify");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("no trusted key"), "{}", text(&out).1);
}

/// `up` with signatures required: `extra` flags besides the key.
fn up_signed(t: &TestDb, key: &Key, extra: &[&str]) -> (i32, String) {
    let out = t
        .cmd()
        .args(["up", "--trusted-key", &key.public])
        .args(extra)
        .output()
        .expect("up");
    (out.status.code().unwrap_or(-1), text(&out).1)
}

fn nothing_written(t: &TestDb) {
    assert_eq!(t.ledger().len(), 0, "no ledger entry");
    assert_eq!(
        t.count("users", doc! { "a": 1 }),
        0,
        "the collection unchanged"
    );
}

#[test]
fn up_refuses_before_writing_and_a_signed_run_records_its_signer() {
    let t = TestDb::new("sig_up");
    t.seed_users(20);
    t.write(&format!("{ID_UPDATE}.toml"), UPDATE);
    let key = keygen(&t, "ops");

    // Unsigned, with signatures required.
    let (code, stderr) = up_signed(&t, &key, &["--require-signatures"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains(&format!("migration {ID_UPDATE} is not signed")),
        "{stderr}"
    );
    nothing_written(&t);
    // Required with no key is a usage error.
    let out = t
        .cmd()
        .args(["up", "--require-signatures"])
        .output()
        .expect("up");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out).1);
    nothing_written(&t);

    // Signed, then altered: refused whether signatures are required or not.
    sign(&t, &key, &[]);
    t.write(
        &format!("{ID_UPDATE}.toml"),
        &UPDATE.replace("a = 1", "a = 1 "),
    );
    for extra in [&["--require-signatures"][..], &[]] {
        let (code, stderr) = up_signed(&t, &key, extra);
        assert_eq!(code, 3, "{stderr}");
        assert!(
            stderr.contains(&format!("{ID_UPDATE}.toml changed since it was signed")),
            "{stderr}"
        );
        nothing_written(&t);
    }

    // Signed by another key.
    t.write(&format!("{ID_UPDATE}.toml"), UPDATE);
    let other = keygen(&t, "other");
    sign(&t, &other, &[]);
    let (code, stderr) = up_signed(&t, &key, &["--require-signatures"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains(&format!("signed by key {}", other.id)),
        "{stderr}"
    );
    nothing_written(&t);

    // Signed by the trusted key: it runs and the ledger names the key.
    sign(&t, &key, &[]);
    let (code, stderr) = up_signed(&t, &key, &["--require-signatures"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(t.count("users", doc! { "a": 1 }), 20);
    let ledger = t.ledger();
    assert_eq!(ledger[0].get_str("signer"), Ok(key.id.as_str()));
    let out = t.cmd().args(["status", "--json"]).output().expect("status");
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(rows[0]["signer"], serde_json::json!(key.id), "{rows}");
    let out = t.cmd().arg("status").output().expect("status");
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("SIGNER") && stdout.contains(&key.id),
        "{stdout}"
    );
}

#[test]
fn up_without_signature_flags_records_no_signer_and_optional_lets_unsigned_run() {
    let t = TestDb::new("sig_optional");
    t.seed_users(5);
    t.write(&format!("{ID_UPDATE}.toml"), UPDATE);
    let key = keygen(&t, "ops");
    // Trusted keys without --require-signatures: an unsigned migration runs.
    let (code, stderr) = up_signed(&t, &key, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(t.count("users", doc! { "a": 1 }), 5);
    let ledger = t.ledger();
    assert!(
        ledger[0]
            .get("signer")
            .is_none_or(|s| s == &bson::Bson::Null),
        "{ledger:?}"
    );
    let out = t.cmd().arg("status").output().expect("status");
    assert!(!text(&out).0.contains("SIGNER"), "{}", text(&out).0);
}

/// An operator policy listing the trusted keys and requiring signatures:
/// `up` refuses an unsigned migration before anything is written, the
/// command-line key flags cannot be added beside it, `verify --signatures`
/// uses its keys, and a signed run's audit record names the signer and the
/// policy it ran under.
#[test]
fn a_policys_trusted_keys_and_required_signatures_hold_up_and_are_audited() {
    let t = TestDb::new("sig_policy");
    t.seed_users(20);
    t.write(&format!("{ID_UPDATE}.toml"), UPDATE);
    let key = keygen(&t, "ops");
    let policy = t.dir.path().join("policy.toml");
    let rules = format!(
        "trusted_keys = [\"{}\"]\nsignatures = \"required\"\n",
        key.public
    );
    std::fs::write(&policy, &rules).expect("policy");
    let up = |extra: &[&str]| {
        let out = t
            .cmd()
            .args(["up", "--policy", policy.to_str().expect("utf-8")])
            .args(extra)
            .output()
            .expect("up");
        (out.status.code().unwrap_or(-1), text(&out).1)
    };
    let (code, stderr) = up(&[]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains(&format!("migration {ID_UPDATE} is not signed")),
        "{stderr}"
    );
    nothing_written(&t);
    let (code, stderr) = up(&["--trusted-key", &key.public]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("cannot be given with it"), "{stderr}");
    nothing_written(&t);

    sign(&t, &key, &[]);
    let out = t
        .cmd()
        .args([
            "verify",
            "--signatures",
            "--policy",
            policy.to_str().expect("utf-8"),
        ])
        .output()
        .expect("verify");
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let (code, stderr) = up(&[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(t.count("users", doc! { "a": 1 }), 20);
    assert_eq!(t.ledger()[0].get_str("signer"), Ok(key.id.as_str()));
    let out = t
        .cmd()
        .args(["audit", "--json", "--limit", "1"])
        .output()
        .expect("audit");
    let (stdout, _) = text(&out);
    let record: serde_json::Value = serde_json::from_str(stdout.lines().next().expect("a record"))
        .unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(record["status"], "ok", "{record}");
    assert_eq!(record["signer"], serde_json::json!(key.id), "{record}");
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(rules.as_bytes()))
    };
    assert_eq!(record["policy_hash"], serde_json::json!(sha), "{record}");
}

/// A policy whose trusted key is not a key, or that requires signatures
/// without any key, is refused naming its file and line.
#[test]
fn a_policy_with_a_bad_key_or_required_signatures_without_keys_names_the_line() {
    let t = TestDb::new("sig_policy_bad");
    t.write(&format!("{ID_UPDATE}.toml"), UPDATE);
    let policy = t.dir.path().join("policy.toml");
    for (rules, line, what) in [
        (
            "kinds = [\"update\"]\ntrusted_keys = [\"ops:not-base64!\"]\n",
            2,
            "trusted_keys",
        ),
        ("\nsignatures = \"required\"\n", 2, "needs at least one key"),
    ] {
        std::fs::write(&policy, rules).expect("policy");
        let out = t
            .cmd()
            .args(["up", "--policy", policy.to_str().expect("utf-8")])
            .output()
            .expect("up");
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(9), "{stderr}");
        assert!(
            stderr.contains(&format!("invalid policy {}: line {line}", policy.display()))
                && stderr.contains(what),
            "{stderr}"
        );
        assert!(t.ledger().is_empty());
    }
}
