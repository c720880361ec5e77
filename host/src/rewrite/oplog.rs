//! How far back the deployment's oplog reaches: whether a rewrite's change
//! stream can still resume from where its copy started, and whether a copy
//! of a given size fits in it.

use bson::{doc, Bson, Document};
use std::time::Duration;

use mongodb::options::Hint;

use crate::target::Target;

/// What the oplog holds now.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reach {
    /// Seconds since the epoch of the oldest entry.
    pub oldest: u32,
    /// Seconds since the epoch of the newest entry.
    pub newest: u32,
    /// Entries it holds.
    pub entries: u64,
    /// Whether it has dropped entries (it is full, so what it holds is its
    /// capacity): its first entry ever is gone, or it is at its size limit.
    pub full: bool,
    /// Its size limit in bytes, where the server says (MongoDB).
    pub max_bytes: Option<i64>,
}

impl Reach {
    /// How long a span of writes it keeps.
    pub(crate) fn span_secs(&self) -> u32 {
        self.newest.saturating_sub(self.oldest)
    }

    /// For messages: "it reaches back 3m 12s (to 18:40:49 UTC), 2000 entries".
    pub(crate) fn describe(&self) -> String {
        let when = chrono::DateTime::from_timestamp(i64::from(self.oldest), 0).map_or_else(
            || "?".into(),
            |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        );
        format!(
            "the oplog reaches back {} (to {when}), {} entries",
            span(self.span_secs()),
            self.entries
        )
    }
}

fn span(secs: u32) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

/// What the oplog holds, or `None` when it cannot be read (no replica set,
/// a user not allowed to read `local`) or not within `within`: servers that
/// do not keep the oplog in natural order (secantusd-rs) answer even the
/// cheapest query about a large oplog slowly, and a plan must not wait.
pub(crate) async fn reach(target: &Target, within: Duration) -> Option<Reach> {
    tokio::time::timeout(within, read(target))
        .await
        .ok()
        .flatten()
}

async fn read(target: &Target) -> Option<Reach> {
    let local = target.client().database("local");
    let oplog = local.collection::<Document>("oplog.rs");
    // The first entry in natural order is the oldest, read without a sort
    // (a sort over the oplog is a full scan held in memory on servers
    // without natural order); the newest is the server's last write.
    let first = oplog
        .find_one(doc! {})
        .hint(Hint::Keys(doc! { "$natural": 1 }))
        .projection(doc! { "ts": 1, "op": 1, "ns": 1, "o.msg": 1, "o.create": 1 })
        .await
        .ok()
        .flatten()?;
    let oldest = first.get_timestamp("ts").ok()?.time;
    let admin = target.client().database("admin");
    let hello = admin.run_command(doc! { "hello": 1 });
    let (hello, entries, stats) = tokio::join!(
        hello,
        oplog.estimated_document_count(),
        local.run_command(doc! { "collStats": "oplog.rs" })
    );
    let newest = hello
        .ok()
        .and_then(|h| {
            h.get_document("lastWrite")
                .ok()?
                .get_document("opTime")
                .ok()?
                .get_timestamp("ts")
                .ok()
        })
        .map_or_else(|| chrono::Utc::now().timestamp() as u32, |t| t.time);
    let stats = stats.ok();
    let number = |d: &Document, k: &str| match d.get(k) {
        Some(Bson::Int32(n)) => Some(i64::from(*n)),
        Some(Bson::Int64(n)) => Some(*n),
        Some(Bson::Double(n)) => Some(*n as i64),
        _ => None,
    };
    let max_bytes = stats
        .as_ref()
        .and_then(|s| number(s, "maxSize"))
        .filter(|n| *n > 0);
    let bytes = stats.as_ref().and_then(|s| number(s, "size"));
    let at_limit = matches!((bytes, max_bytes), (Some(b), Some(m)) if b * 10 >= m * 9);
    Some(Reach {
        oldest,
        newest: newest.max(oldest),
        entries: entries.ok()?,
        full: !is_first_ever(&first) || at_limit,
        max_bytes,
    })
}

/// Whether `entry` is the one a replica set's oplog starts with (so it has
/// dropped nothing yet): MongoDB's "initiating set" no-op, secantusd-rs's
/// creation of `admin.system.version`.
fn is_first_ever(entry: &Document) -> bool {
    let o = |k: &str| {
        entry
            .get_document("o")
            .ok()
            .and_then(|o| o.get_str(k).ok())
            .map(str::to_owned)
    };
    (entry.get_str("op") == Ok("n") && o("msg").as_deref() == Some("initiating set"))
        || (entry.get_str("ns") == Ok("admin.$cmd")
            && o("create").as_deref() == Some("system.version"))
}

/// A warning for `plan` when a rewrite's copy of `documents` documents
/// (`bytes` in all, when known; `keep`: the originals are copied too) looks
/// too large for the oplog: its own writes alone would push out the
/// position its change stream resumes from.
pub(crate) fn too_short(
    r: &Reach,
    documents: u64,
    bytes: Option<i64>,
    keep: bool,
) -> Option<String> {
    let copies = if keep { 2 } else { 1 };
    let writes = documents * copies;
    let stop = "a run stopped during the copy then starts it over, and a copy that outlasts \
                the oplog cannot catch up; use a larger oplog, or --strategy in-place";
    if let (Some(max), Some(bytes)) = (r.max_bytes, bytes) {
        let copy = bytes * copies as i64;
        return (copy * 2 > max).then(|| {
            format!(
                "the copy writes about {} MB to the oplog, which holds {} MB ({}): {stop}",
                copy >> 20,
                max >> 20,
                r.describe()
            )
        });
    }
    (r.full && writes * 2 > r.entries).then(|| {
        format!(
            "the copy writes about {writes} oplog entries, and {}: {stop}",
            r.describe()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach(entries: u64, full: bool, max_bytes: Option<i64>) -> Reach {
        Reach {
            oldest: 1_796_150_449,
            newest: 1_796_150_449 + 192,
            entries,
            full,
            max_bytes,
        }
    }

    #[test]
    fn knows_an_oplog_that_dropped_nothing_yet() {
        let mongodb = bson::doc! { "op": "n", "ns": "", "o": { "msg": "initiating set" } };
        let secantus =
            bson::doc! { "op": "c", "ns": "admin.$cmd", "o": { "create": "system.version" } };
        let later = bson::doc! { "op": "i", "ns": "t.x", "o": { "_id": 1 } };
        assert!(is_first_ever(&mongodb) && is_first_ever(&secantus));
        assert!(!is_first_ever(&later));
    }

    #[test]
    fn describes_the_span_and_the_oldest_entry() {
        assert_eq!(
            reach(2000, true, None).describe(),
            "the oplog reaches back 3m 12s (to 2026-12-01 18:40:49 UTC), 2000 entries"
        );
        assert_eq!(span(7260), "2h 1m");
    }

    #[test]
    fn warns_when_the_copy_fills_half_a_full_oplog() {
        let w = too_short(&reach(2000, true, None), 1000, None, true).expect("2000 writes");
        assert!(w.contains("about 2000 oplog entries"), "{w}");
        assert!(too_short(&reach(2000, true, None), 999, None, false).is_none());
        // An oplog that has not filled up yet: its capacity is unknown.
        assert!(too_short(&reach(2000, false, None), 100_000, None, true).is_none());
    }

    #[test]
    fn compares_bytes_where_the_server_gives_the_limit() {
        let r = reach(10, false, Some(100 << 20));
        assert!(too_short(&r, 1000, Some(40 << 20), false).is_none());
        let w = too_short(&r, 1000, Some(40 << 20), true).expect("80 MB of 100");
        assert!(
            w.contains("about 80 MB to the oplog, which holds 100 MB"),
            "{w}"
        );
    }
}
