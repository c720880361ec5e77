//! The per-user secret that authenticates cached compiled modules, and the
//! ownership rules for it and for the cache directory.
//!
//! The key lives outside the cache (`$XDG_CONFIG_HOME/mongoshift/cache-key`,
//! else `~/.config/mongoshift/cache-key`): a cache that is shared, restored
//! from a CI cache or copied from another machine carries no key, so none of
//! its artifacts authenticates and none is run. It is made on first use,
//! readable by its owner only. A key others could read (and so forge
//! artifacts with) or replace is refused.

use std::fs::Metadata;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The key: 32 random bytes, stored as 64 hex digits.
pub(crate) struct CacheKey(pub(crate) [u8; 32]);

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CacheKey(..)")
    }
}

/// Where the key is kept.
pub(crate) fn key_path() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| Path::new(p).is_absolute())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(config.join("mongoshift").join("cache-key"))
}

/// Reads the key, making it on first use. `Err` says why it cannot be used
/// and what to do.
pub(crate) fn load() -> Result<CacheKey, String> {
    let path = key_path().ok_or_else(|| {
        "there is no place for the cache key (neither XDG_CONFIG_HOME nor HOME is set); set one"
            .to_string()
    })?;
    let dir = path.parent().expect("the key path has a directory");
    make_private_dir(dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    private_dir(dir).map_err(|why| format!("the directory of the cache key {why}"))?;
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(&path)?,
        Err(e) => return Err(format!("cannot read the cache key {}: {e}", path.display())),
        Ok(_) => {}
    }
    read(&path)
}

fn read(path: &Path) -> Result<CacheKey, String> {
    let shown = path.display();
    let remake =
        "delete it and mongoshift makes a new one (cached modules are compiled again once)";
    let meta = std::fs::symlink_metadata(path)
        .map_err(|e| format!("cannot read the cache key {shown}: {e}"))?;
    if !meta.file_type().is_file() {
        return Err(format!(
            "the cache key {shown} is not a regular file; {remake}"
        ));
    }
    match exposure(&meta, 0o077) {
        Some(Exposure::Foreign(uid)) => {
            return Err(format!(
                "the cache key {shown} belongs to another user (uid {uid}); {remake}"
            ))
        }
        Some(Exposure::Open(mode)) => {
            let (can, who) = if mode & 0o044 != 0 {
                ("read", "anyone who read it")
            } else {
                ("changed", "anyone who changed it")
            };
            return Err(format!(
                "the cache key {shown} can be {can} by other users (mode {mode:03o}), so {who} could forge compiled modules; run `chmod 600 {shown}`, or if others may have had it, {remake}"
            ));
        }
        None => {}
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the cache key {shown}: {e}"))?;
    let bytes = hex::decode(text.trim()).ok().filter(|b| b.len() == 32);
    let bytes = bytes.ok_or_else(|| {
        format!("the cache key {shown} is not a key mongoshift made (64 hex digits); {remake}")
    })?;
    let mut key = [0; 32];
    key.copy_from_slice(&bytes);
    Ok(CacheKey(key))
}

/// Writes a new key beside its place, then links it there: two processes
/// making one at once agree on whichever link came first.
fn create(path: &Path) -> Result<(), String> {
    let err =
        |e: &dyn std::fmt::Display| format!("cannot make the cache key {}: {e}", path.display());
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| err(&e))?;
    let tmp = temp_beside(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut f| {
        f.write_all(hex::encode(key).as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()
    });
    let linked = written.and_then(|()| match std::fs::hard_link(&tmp, path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    });
    let _ = std::fs::remove_file(&tmp);
    linked.map_err(|e| err(&e))
}

/// A fresh name beside `path` for writing it atomically: unique per process
/// and per call, so neither two processes nor two threads share one.
pub(crate) fn temp_beside(path: &Path) -> PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    path.with_extension(format!("tmp{}-{n}", std::process::id()))
}

/// Makes `dir` (and missing parents) readable by its owner only.
pub(crate) fn make_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Checks that only this user (or root) can change the directory `dir`; `Err`
/// completes "the ... {dir} ..." with why and what to do.
pub(crate) fn private_dir(dir: &Path) -> Result<(), String> {
    let shown = dir.display();
    let meta = std::fs::metadata(dir).map_err(|e| format!("{shown} cannot be read: {e}"))?;
    match exposure(&meta, 0o022) {
        Some(Exposure::Foreign(uid)) => Err(format!(
            "{shown} belongs to another user (uid {uid}), so what is in it cannot be trusted; use a directory of your own"
        )),
        Some(Exposure::Open(mode)) => Err(format!(
            "{shown} can be written by other users (mode {mode:03o}), so what is in it cannot be trusted; run `chmod go-w {shown}`"
        )),
        None => Ok(()),
    }
}

/// How a file or directory is open to others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exposure {
    /// Owned by this user id (neither this user nor root).
    Foreign(u32),
    /// Its mode grants others a `forbidden` permission.
    Open(u32),
}

#[cfg(unix)]
fn exposure(meta: &Metadata, forbidden: u32) -> Option<Exposure> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    judge(meta.uid(), meta.mode() & 0o7777, me, forbidden)
}

#[cfg(not(unix))]
fn exposure(_meta: &Metadata, _forbidden: u32) -> Option<Exposure> {
    None
}

/// Root may own a directory this user trusts (it can change anything anyway);
/// the key must be this user's own.
fn judge(owner: u32, mode: u32, me: u32, forbidden: u32) -> Option<Exposure> {
    let key = forbidden & 0o044 != 0;
    if owner != me && (key || owner != 0) {
        return Some(Exposure::Foreign(owner));
    }
    (mode & forbidden != 0).then_some(Exposure::Open(mode & 0o777))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{judge, Exposure};

    #[test]
    fn ownership_and_modes() {
        // Directories: this user's or root's, not writable by others.
        assert_eq!(judge(1000, 0o755, 1000, 0o022), None);
        assert_eq!(judge(0, 0o755, 1000, 0o022), None);
        assert_eq!(
            judge(1001, 0o700, 1000, 0o022),
            Some(Exposure::Foreign(1001))
        );
        assert_eq!(judge(1000, 0o775, 1000, 0o022), Some(Exposure::Open(0o775)));
        assert_eq!(
            judge(1000, 0o1777, 1000, 0o022),
            Some(Exposure::Open(0o777))
        );
        // The key: this user's only, nothing for others.
        assert_eq!(judge(1000, 0o600, 1000, 0o077), None);
        assert_eq!(judge(0, 0o600, 1000, 0o077), Some(Exposure::Foreign(0)));
        assert_eq!(judge(1000, 0o640, 1000, 0o077), Some(Exposure::Open(0o640)));
    }
}
