//! The compiled-module cache is trusted native code: an artifact runs only if
//! this user's mongoshift wrote it for exactly this module. A swapped or
//! altered artifact is compiled again (and said so), a cache directory others
//! can write to or a key others can read is not used at all.
//!
//! Each test gives the CLI its own cache (`MONGOSHIFT_CACHE`) and key
//! (`XDG_CONFIG_HOME`), so nothing here touches the user's own.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use bson::doc;
use sha2::{Digest, Sha256};

use crate::util::{text, TestDb};
use crate::wat::{for_each, guest, keep_all};

/// Deletes every document it is given.
fn delete_all() -> String {
    guest(1, true, "", &for_each("(call $emit_tag (i32.const 2))"))
}

/// A private cache root and config home for the CLI.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        Home {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn cache_root(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// Where the artifacts are: `$MONGOSHIFT_CACHE/wasm`.
    fn wasm(&self) -> PathBuf {
        self.cache_root().join("wasm")
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    fn key(&self) -> PathBuf {
        self.config().join("mongoshift/cache-key")
    }

    /// `mongoshift up` on `t` with this cache and key.
    fn up(&self, t: &TestDb) -> Output {
        t.cmd()
            .env("MONGOSHIFT_CACHE", self.cache_root())
            .env("XDG_CONFIG_HOME", self.config())
            .env_remove("MONGOSHIFT_WASM_CACHE")
            .arg("up")
            .output()
            .expect("run up")
    }

    /// The cache's files with their length and modification time: a load
    /// marks an artifact used, a store adds or replaces one.
    fn listing(&self) -> Vec<(String, u64, std::time::SystemTime)> {
        let mut out: Vec<_> = std::fs::read_dir(self.wasm())
            .map(|d| {
                d.flatten()
                    .map(|e| {
                        let m = e.metadata().expect("metadata");
                        (
                            e.file_name().to_string_lossy().into_owned(),
                            m.len(),
                            m.modified().expect("mtime"),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    /// The cache files of the module with this SHA-256.
    fn files_of(&self, sha: &str) -> Vec<PathBuf> {
        self.listing()
            .into_iter()
            .filter(|(n, ..)| n.starts_with(sha))
            .map(|(n, ..)| self.wasm().join(n))
            .collect()
    }
}

const ID: &str = "20260301000000_guest";

/// A project with 50 users and one wasm migration running `wat`.
fn project(name: &str, wat: &str) -> TestDb {
    let t = TestDb::new(name);
    t.seed_users(50);
    t.write(&format!("{ID}/guest.wat"), wat);
    t.write(
        &format!("{ID}/migration.toml"),
        "kind = \"wasm\"\ncollection = \"users\"\nmodule = \"guest.wat\"\nstrategy = \"in-place\"\n",
    );
    t
}

/// The SHA-256 the host keys a module's artifact by: that of its binary.
fn module_sha(wat: &str) -> String {
    hex::encode(Sha256::digest(wat::parse_str(wat).expect("wat")))
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Runs `up` and checks it succeeded; returns stderr.
fn up_ok(home: &Home, t: &TestDb) -> String {
    let out = home.up(t);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(t.ledger()[0].get_str("state"), Ok("applied"));
    stderr
}

/// Finding 5: copying the artifact of a module that deletes every document
/// over the artifact of a `keep` module made the `keep` migration delete every
/// document. Now the artifact does not authenticate for the `keep` module: it is
/// not run, the module is compiled again, the copy replaced, and the run says so.
#[test]
fn a_swapped_artifact_is_not_run_the_module_is_recompiled_and_every_document_kept() {
    let home = Home::new();
    let deleter = project("cache_swap_d", &delete_all());
    up_ok(&home, &deleter);
    assert_eq!(deleter.count("users", doc! {}), 0, "the deleter deletes");
    let (d_sha, k_sha) = (module_sha(&delete_all()), module_sha(&keep_all()));
    let planted = home.files_of(&d_sha);
    assert!(!planted.is_empty(), "the deleter's artifact is cached");
    for f in &planted {
        let name = f.file_name().expect("name").to_string_lossy();
        std::fs::copy(f, home.wasm().join(name.replace(&d_sha, &k_sha))).expect("copy");
    }

    let keeper = project("cache_swap_k", &keep_all());
    let before = keeper.find("users", doc! {});
    let stderr = up_ok(&home, &keeper);
    assert_eq!(keeper.find("users", doc! {}), before, "every document kept");
    for says in [
        &format!("warning: {ID}:"),
        "guest.wat",
        "was not run",
        "compiled again",
    ] {
        assert!(stderr.contains(says), "expected {says:?} in: {stderr}");
    }
    // The copy was replaced: another project with the same module loads it
    // without a word.
    let planted_bytes = std::fs::read(&planted[0]).expect("read");
    for f in home.files_of(&k_sha) {
        assert_ne!(std::fs::read(&f).expect("read"), planted_bytes, "{f:?}");
    }
    let again = project("cache_swap_k2", &keep_all());
    let stderr = up_ok(&home, &again);
    assert!(!stderr.contains("warning"), "{stderr}");
}

/// An artifact altered in place (and, where the old format kept one, its
/// checksum file rewritten to match) is not run either; `--progress json`
/// carries the warning as an event.
#[test]
fn a_tampered_artifact_is_recompiled_and_the_run_says_so() {
    let home = Home::new();
    let first = project("cache_tamper_1", &keep_all());
    up_ok(&home, &first);
    let sha = module_sha(&keep_all());
    let files = home.files_of(&sha);
    let artifact = files
        .iter()
        .find(|f| f.extension().is_some_and(|e| e == "cwasm"))
        .expect("artifact");
    let mut bytes = std::fs::read(artifact).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    std::fs::write(artifact, &bytes).expect("tamper");
    for f in &files {
        if f.extension().is_some_and(|e| e == "sha256") {
            std::fs::write(f, hex::encode(Sha256::digest(&bytes))).expect("forge checksum");
        }
    }

    let second = project("cache_tamper_2", &keep_all());
    let before = second.find("users", doc! {});
    let out = second
        .cmd()
        .env("MONGOSHIFT_CACHE", home.cache_root())
        .env("XDG_CONFIG_HOME", home.config())
        .env("MONGOSHIFT_PROGRESS", "json")
        .arg("up")
        .output()
        .expect("up");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(second.find("users", doc! {}), before);
    let warning: serde_json::Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "warning")
        .unwrap_or_else(|| panic!("no warning event in: {stdout}"));
    assert_eq!(warning["id"], ID, "{warning}");
    let message = warning["message"].as_str().expect("message");
    assert!(
        message.contains("guest.wat") && message.contains("compiled again"),
        "{message}"
    );
    assert_ne!(std::fs::read(artifact).expect("read"), bytes, "replaced");
}

/// A cache directory others can write to is not used: nothing is loaded from
/// it or written to it, the module is compiled in memory, and the user is told
/// what to fix.
#[test]
fn a_cache_directory_others_can_write_to_is_not_used() {
    let home = Home::new();
    up_ok(&home, &project("cache_open_1", &keep_all()));
    assert!(!home.listing().is_empty());
    chmod(&home.wasm(), 0o777);
    let listing = home.listing();
    // Modification times have a coarse grain on some file systems: make a
    // load's mark visible.
    std::thread::sleep(std::time::Duration::from_millis(1100));

    let second = project("cache_open_2", &keep_all());
    let stderr = up_ok(&home, &second);
    let dir = home.wasm().display().to_string();
    for says in [
        &format!("warning: {ID}:"),
        &dir,
        "can be written by other users",
        &format!("chmod go-w {dir}"),
        "compiled in memory",
    ] {
        assert!(stderr.contains(says), "expected {says:?} in: {stderr}");
    }
    assert_eq!(home.listing(), listing, "nothing loaded or written");
}

/// The key is made on first use, readable by its owner only; a key others
/// can read is refused (the cache is not used) with what to do, and once
/// fixed the cache is used again without a word.
#[test]
fn the_cache_key_is_private_and_a_key_others_can_read_is_refused() {
    let home = Home::new();
    up_ok(&home, &project("cache_key_1", &keep_all()));
    assert_eq!(mode(&home.key()), 0o600, "{:?}", home.key());
    assert_eq!(mode(home.key().parent().expect("dir")), 0o700);

    chmod(&home.key(), 0o644);
    let listing = home.listing();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let stderr = up_ok(&home, &project("cache_key_2", &keep_all()));
    let key = home.key().display().to_string();
    for says in [
        &format!("warning: {ID}:"),
        &key,
        "can be read by other users",
        &format!("chmod 600 {key}"),
        "compiled in memory",
    ] {
        assert!(stderr.contains(says), "expected {says:?} in: {stderr}");
    }
    assert_eq!(home.listing(), listing, "nothing loaded or written");

    chmod(&home.key(), 0o600);
    let stderr = up_ok(&home, &project("cache_key_3", &keep_all()));
    assert!(!stderr.contains("warning"), "{stderr}");
    let names = |l: Vec<(String, u64, std::time::SystemTime)>| -> Vec<String> {
        l.into_iter().map(|(n, ..)| n).collect()
    };
    assert_eq!(names(home.listing()), names(listing), "loaded, not stored");
}

/// `MONGOSHIFT_WASM_CACHE` is `off` or the directory to keep artifacts in;
/// anything else is refused before anything is written.
#[test]
fn mongoshift_wasm_cache_is_off_or_an_absolute_directory() {
    let home = Home::new();
    let elsewhere = home.dir.path().join("elsewhere");
    let t = project("cache_env_dir", &keep_all());
    let out = t
        .cmd()
        .env("XDG_CONFIG_HOME", home.config())
        .env("MONGOSHIFT_WASM_CACHE", &elsewhere)
        .arg("up")
        .output()
        .expect("up");
    assert!(out.status.success(), "{:?}", text(&out));
    let sha = module_sha(&keep_all());
    let names: Vec<String> = std::fs::read_dir(&elsewhere)
        .expect("the cache directory was made")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n.starts_with(&sha)), "{names:?}");

    let off = project("cache_env_off", &keep_all());
    let out = off
        .cmd()
        .env("MONGOSHIFT_CACHE", home.cache_root())
        .env("XDG_CONFIG_HOME", home.dir.path().join("config-off"))
        .env("MONGOSHIFT_WASM_CACHE", "off")
        .arg("up")
        .output()
        .expect("up");
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(home.listing().is_empty(), "nothing cached");
    assert!(!home.dir.path().join("config-off").exists(), "no key made");

    let bad = project("cache_env_bad", &keep_all());
    let before = bad.find("users", doc! {});
    let out = bad
        .cmd()
        .env("XDG_CONFIG_HOME", home.config())
        .env("MONGOSHIFT_WASM_CACHE", "false")
        .arg("up")
        .output()
        .expect("up");
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for says in [
        &format!("migration {ID}"),
        "MONGOSHIFT_WASM_CACHE=`false`",
        "`off`",
        "absolute",
    ] {
        assert!(stderr.contains(says), "expected {says:?} in: {stderr}");
    }
    assert_eq!(bad.find("users", doc! {}), before, "nothing written");
}
