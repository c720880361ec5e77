//! The on-disk cache of compiled modules, and why it can be trusted.
//!
//! A compiled artifact is native code: wasmtime maps it and runs it without
//! checking it (`deserialize` is `unsafe`). So an artifact is loaded only when
//! both hold:
//!
//! - the cache directory is this user's (or root's) and no one else can write
//!   to it; otherwise the cache is not used at all (compiled in memory);
//! - its HMAC-SHA256 under this user's secret key ([`super::cache_key`]) binds
//!   its bytes to the SHA-256 of the module it was compiled from and to the
//!   engine fingerprint. A copy of another module's artifact, an altered one,
//!   or one made by someone else does not authenticate: it is compiled again
//!   and replaced.
//!
//! What happened is returned as a [`CacheOutcome`] so the front end can say so;
//! the library never prints.

use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wasmtime::Engine;

use super::cache_key::{self, CacheKey};
use super::engine::engine_fingerprint;
use crate::error::WasmError;

/// What the compiled-module cache did when a module was loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheOutcome {
    /// The cache is off (`MONGOSHIFT_WASM_CACHE=off`): compiled in memory.
    Off,
    /// An authenticated artifact was loaded; nothing was compiled.
    Loaded,
    /// Compiled and stored for the next load.
    Stored,
    /// An artifact was there but not run; the module was compiled again.
    Recompiled {
        /// The artifact.
        artifact: PathBuf,
        /// Why it was not run.
        reason: String,
        /// Why the new artifact could not take its place, if it could not.
        not_replaced: Option<String>,
    },
    /// The cache cannot be trusted or used: compiled in memory, nothing
    /// loaded from or written to it.
    Bypassed {
        /// Why, and what to do.
        reason: String,
    },
    /// Compiled, but the artifact could not be stored.
    NotStored {
        /// Why.
        reason: String,
    },
}

impl CacheOutcome {
    /// What to tell the user about loading `module`, when there is something.
    pub fn warning(&self, module: &Path) -> Option<String> {
        let m = module.display();
        match self {
            CacheOutcome::Off | CacheOutcome::Loaded | CacheOutcome::Stored => None,
            CacheOutcome::Recompiled {
                artifact,
                reason,
                not_replaced,
            } => Some(format!(
                "the cached compiled code of module {m} ({}) {reason}, so it was not run; the module was compiled again{}",
                artifact.display(),
                match not_replaced {
                    None => " and the cached copy replaced".to_string(),
                    Some(e) => format!(", but the cached copy could not be replaced ({e}); delete it"),
                }
            )),
            CacheOutcome::Bypassed { reason } => Some(format!(
                "{reason}; module {m} was compiled in memory, and nothing was loaded from or written to the cache"
            )),
            CacheOutcome::NotStored { reason } => Some(format!(
                "module {m} was compiled, but its compiled code could not be cached ({reason}); it will be compiled again on the next run"
            )),
        }
    }
}

/// The cache as this process may use it.
#[derive(Debug)]
pub(crate) enum Cache {
    Off,
    Bypassed(String),
    Trusted { dir: PathBuf, key: CacheKey },
}

/// The file name's mark of the format (artifact then HMAC tag), so artifacts
/// of earlier versions (a SHA-256 file beside them) are never read as this one.
const FORMAT: &str = "hmac";

const TAG_LEN: usize = 32;

impl Cache {
    /// Resolves where the cache is and whether it can be trusted. Only a
    /// `MONGOSHIFT_WASM_CACHE` that means nothing is an error.
    pub(crate) fn open() -> Result<Cache, WasmError> {
        let Some(dir) = location()? else {
            return Ok(Cache::Off);
        };
        if let Err(e) = cache_key::make_private_dir(&dir) {
            return Ok(Cache::Bypassed(format!(
                "cannot make the module cache {}: {e}",
                dir.display()
            )));
        }
        if let Err(why) = cache_key::private_dir(&dir) {
            return Ok(Cache::Bypassed(format!(
                "the module cache {why} (or choose another with MONGOSHIFT_WASM_CACHE=<dir>)"
            )));
        }
        Ok(match cache_key::load() {
            Ok(key) => Cache::Trusted { dir, key },
            Err(why) => Cache::Bypassed(why),
        })
    }

    /// Compiles once per module and engine: loads the artifact when it
    /// authenticates, otherwise compiles and stores it.
    pub(crate) fn compile<T>(
        &self,
        engine: &Engine,
        binary: &[u8],
        sha: &str,
        compile: impl Fn(&Engine, &[u8]) -> wasmtime::Result<T>,
        // SAFETY contract: only called on bytes whose HMAC under this user's
        // key binds them to this module's SHA-256 and this engine's
        // fingerprint, i.e. bytes this program serialized for this module;
        // wasmtime checks the engine compatibility again.
        deserialize: impl Fn(&Engine, &[u8]) -> wasmtime::Result<T>,
        serialize: impl Fn(&T) -> wasmtime::Result<Vec<u8>>,
    ) -> wasmtime::Result<(T, CacheOutcome)> {
        let (dir, key) = match self {
            Cache::Off => return Ok((compile(engine, binary)?, CacheOutcome::Off)),
            Cache::Bypassed(reason) => {
                let reason = reason.clone();
                return Ok((compile(engine, binary)?, CacheOutcome::Bypassed { reason }));
            }
            Cache::Trusted { dir, key } => (dir, key),
        };
        let fingerprint = engine_fingerprint(engine);
        let path = dir.join(format!("{sha}-{fingerprint}-{FORMAT}.cwasm"));
        let seal = |bytes: &[u8]| mac(key, sha, &fingerprint, bytes);
        let rejected = match std::fs::read(&path) {
            Err(_) => None,
            Ok(file) => match authentic(&file, seal) {
                None => Some("was not made by this user's mongoshift for this module (it was altered, copied from another module, or made with another cache key)".to_string()),
                Some(artifact) => match deserialize(engine, artifact) {
                    Ok(c) => {
                        mark_used(&path);
                        return Ok((c, CacheOutcome::Loaded));
                    }
                    Err(e) => Some(format!("could not be loaded ({e})")),
                },
            },
        };
        let c = compile(engine, binary)?;
        let stored = serialize(&c)
            .map_err(|e| e.to_string())
            .and_then(|bytes| store(&path, &bytes, &seal(&bytes)));
        let outcome = match (rejected, stored) {
            (Some(reason), stored) => CacheOutcome::Recompiled {
                artifact: path,
                reason,
                not_replaced: stored.err(),
            },
            (None, Ok(())) => CacheOutcome::Stored,
            (None, Err(reason)) => CacheOutcome::NotStored { reason },
        };
        Ok((c, outcome))
    }
}

/// Where compiled artifacts are kept: `MONGOSHIFT_WASM_CACHE` (`off`, or an
/// absolute directory), else `$MONGOSHIFT_CACHE/wasm`, else
/// `$XDG_CACHE_HOME/mongoshift/wasm`, else `~/.cache/mongoshift/wasm`.
fn location() -> Result<Option<PathBuf>, WasmError> {
    if let Some(value) = std::env::var_os("MONGOSHIFT_WASM_CACHE").filter(|v| !v.is_empty()) {
        if value == "off" {
            return Ok(None);
        }
        let dir = PathBuf::from(&value);
        if !dir.is_absolute() {
            return Err(WasmError::Cache {
                message: format!(
                    "MONGOSHIFT_WASM_CACHE=`{}` is neither `off` nor an absolute directory; set it to `off` to compile modules in memory, or to the absolute path of the directory to keep compiled modules in",
                    value.to_string_lossy()
                ),
            });
        }
        return Ok(Some(dir));
    }
    let root = std::env::var_os("MONGOSHIFT_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .filter(|p| Path::new(p).is_absolute())
                .map(|p| PathBuf::from(p).join("mongoshift"))
        })
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/mongoshift")));
    Ok(root.map(|r| r.join("wasm")))
}

/// HMAC-SHA256 of an artifact, bound to its module and engine.
fn mac(key: &CacheKey, module_sha: &str, fingerprint: &str, artifact: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(&key.0).expect("HMAC takes a key of any length");
    for part in [
        b"mongoshift compiled module".as_slice(),
        module_sha.as_bytes(),
        fingerprint.as_bytes(),
    ] {
        mac.update(&(part.len() as u64).to_le_bytes());
        mac.update(part);
    }
    mac.update(artifact);
    mac
}

/// The artifact in `file` (artifact, then its tag) if the tag verifies.
fn authentic(file: &[u8], seal: impl Fn(&[u8]) -> Hmac<Sha256>) -> Option<&[u8]> {
    let split = file.len().checked_sub(TAG_LEN)?;
    let (artifact, tag) = file.split_at(split);
    // `verify_slice` compares in constant time.
    seal(artifact).verify_slice(tag).ok().map(|()| artifact)
}

/// Writes an artifact and its tag atomically, then trims the cache.
fn store(path: &Path, artifact: &[u8], mac: &Hmac<Sha256>) -> Result<(), String> {
    let tmp = cache_key::temp_beside(path);
    let written = (|| {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(artifact)?;
        f.write_all(&mac.clone().finalize().into_bytes())?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write {}: {e}", path.display()));
    }
    if let Some(dir) = path.parent() {
        evict(dir, cache_limit());
    }
    Ok(())
}

/// Marks an artifact used, for the eviction order.
fn mark_used(path: &Path) {
    if let Ok(f) = std::fs::File::options().append(true).open(path) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
}

/// The cache's size cap in bytes: `MONGOSHIFT_WASM_CACHE_MB` (default 1024).
fn cache_limit() -> u64 {
    std::env::var("MONGOSHIFT_WASM_CACHE_MB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1024)
        << 20
}

/// Deletes the least recently used artifacts until the cache fits `limit`,
/// and the temporary files of writers that died.
fn evict(dir: &Path, limit: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some((modified, len)) = entry
            .metadata()
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
        else {
            continue;
        };
        let ext = path.extension().unwrap_or_default().to_string_lossy();
        if ext == "cwasm" {
            files.push((modified, len, path));
        } else if ext.starts_with("tmp") && modified < hour_ago {
            let _ = std::fs::remove_file(&path);
        }
    }
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    files.sort();
    for (_, len, path) in files {
        if total <= limit {
            break;
        }
        let _ = std::fs::remove_file(&path);
        // The checksum file earlier versions kept beside an artifact.
        let _ = std::fs::remove_file(path.with_extension("cwasm.sha256"));
        total = total.saturating_sub(len);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(byte: u8) -> CacheKey {
        CacheKey([byte; 32])
    }

    #[test]
    fn an_artifact_authenticates_only_for_its_module_engine_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.cwasm");
        store(
            &path,
            b"native code",
            &mac(&key(1), "aa", "fp", b"native code"),
        )
        .unwrap();
        let file = std::fs::read(&path).unwrap();
        let seal =
            |k: u8, sha: &'static str, fp: &'static str| move |a: &[u8]| mac(&key(k), sha, fp, a);
        assert_eq!(
            authentic(&file, seal(1, "aa", "fp")),
            Some(&b"native code"[..])
        );
        assert_eq!(
            authentic(&file, seal(1, "bb", "fp")),
            None,
            "another module"
        );
        assert_eq!(
            authentic(&file, seal(1, "aa", "fq")),
            None,
            "another engine"
        );
        assert_eq!(authentic(&file, seal(2, "aa", "fp")), None, "another key");
        let mut altered = file.clone();
        altered[3] ^= 1;
        assert_eq!(authentic(&altered, seal(1, "aa", "fp")), None, "altered");
        assert_eq!(authentic(&file[..10], seal(1, "aa", "fp")), None, "torn");
    }

    #[test]
    fn the_cache_keeps_the_most_recently_used_artifacts_under_its_cap() {
        let dir = tempfile::tempdir().unwrap();
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            let p = dir.path().join(format!("{name}.cwasm"));
            store(&p, &vec![i as u8; 1000], &mac(&key(1), name, "fp", b"")).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // Using `a` makes `b` the oldest.
        mark_used(&dir.path().join("a.cwasm"));
        evict(dir.path(), 2100);
        let left: Vec<bool> = ["a", "b", "c"]
            .iter()
            .map(|n| dir.path().join(format!("{n}.cwasm")).exists())
            .collect();
        assert_eq!(left, [true, false, true]);
    }
}
