//! What the ledger records about a rewrite: its phase, its collections and
//! where its change stream stands, and its write. The steps live in
//! [`crate::rewrite`].

use bson::oid::ObjectId;
use bson::{doc, Binary, Bson, DateTime, Document};
use serde::{Deserialize, Serialize};

use super::collection::LEDGER_COLLECTION;
use crate::error::{MigrateError, Result};
use crate::target::Target;

/// Where a rewrite stands. Each phase is recorded before its step is taken,
/// and each has a way forward (`up`) and back (`down`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Phase {
    /// Copying through the transform into the shadow (and the originals into
    /// the backup). Up: resume from the checkpoint. Down: drop the copies.
    Copy,
    /// Applying the changes the stream reported. Up: go on from the recorded
    /// position. Down: drop the copies.
    CatchUp,
    /// The window: the source is (or is about to be) fenced, drained, and
    /// the shadow renamed over it. Up: fence again, drain, rename (or go on
    /// if the rename happened). Down: lift the fence and drop the copies (or,
    /// renamed, as `Swapped`).
    Fenced,
    /// The shadow is the collection; deletes that landed in the window are
    /// still to apply. Up and down: apply them, then go on from `Done`.
    Swapped,
    /// Applied. Down: the backward transform in place, or the backup back
    /// over the collection.
    Done,
    /// `down` is putting the backup back over the collection. Down: go on.
    /// Up: lift the fence (back to `Done`), or, renamed back, finish the
    /// rollback.
    Restoring,
    /// A window recorded by versions that swapped with two renames (source
    /// to backup, then shadow to source); settled into one of the phases
    /// above before anything else.
    #[serde(rename = "swap")]
    LegacySwap,
}

impl Phase {
    /// The name the ledger uses.
    pub fn as_str(&self) -> &'static str {
        match self {
            Phase::Copy => "copy",
            Phase::CatchUp => "catch-up",
            Phase::Fenced => "fenced",
            Phase::Swapped => "swapped",
            Phase::Done => "done",
            Phase::Restoring => "restoring",
            Phase::LegacySwap => "swap",
        }
    }

    /// Whether a run that stops in this phase may leave the collection
    /// fenced or swapped half-way: the window.
    pub fn in_window(&self) -> bool {
        matches!(
            self,
            Phase::Fenced | Phase::Swapped | Phase::Restoring | Phase::LegacySwap
        )
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of a rewrite, kept in the migration's ledger entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RewriteState {
    /// The collection rewritten.
    pub collection: String,
    /// The shadow collection the copy goes into.
    pub shadow: String,
    /// The collection holding the originals, byte for byte.
    pub backup: String,
    /// Whether the originals are kept in `backup` (no backward transform, or
    /// pre-images asked for). Entries of earlier versions kept them.
    #[serde(default = "kept_by_earlier_versions")]
    pub keep: bool,
    /// Where it stands.
    pub phase: Phase,
    /// Where the change stream stands.
    pub token: Option<Bson>,
    /// The source's validator settings before the rewrite, to put back.
    #[serde(default)]
    pub validation: Option<Document>,
    /// The source's secondary indexes, to build on the copies.
    #[serde(default)]
    pub indexes: Vec<Document>,
    /// The collection UUIDs of the source, the shadow and the backup: which
    /// one a name stands for after a rename, and whose history an event is.
    #[serde(default)]
    pub source_uuid: Option<Binary>,
    /// See `source_uuid`.
    #[serde(default)]
    pub shadow_uuid: Option<Binary>,
    /// See `source_uuid`.
    #[serde(default)]
    pub backup_uuid: Option<Binary>,
    /// The stream position just before the shadow was renamed over the
    /// collection: what the application did since is read from there.
    #[serde(default)]
    pub swap_token: Option<Bson>,
    /// When the window was first opened.
    #[serde(default)]
    pub fenced_at: Option<DateTime>,
    /// Tells this rewrite's records apart from an earlier one's.
    #[serde(default)]
    pub run: Option<ObjectId>,
    /// The cut-over waits for `mongoshift swap` (or `swap_at`) after the
    /// catch-up (`up --postpone-swap`): recorded, so a plain `up` that
    /// resumes the rewrite waits too.
    #[serde(default)]
    pub postponed: bool,
    /// When a postponed cut-over goes ahead by itself (`up --swap-at`).
    #[serde(default)]
    pub swap_at: Option<DateTime>,
    /// Set while a run follows the stream waiting for the cut-over: since
    /// when, and how far behind the copy is.
    #[serde(default)]
    pub waiting: Option<SwapWait>,
    /// How long writes to the collection were refused at the swap, from the
    /// fence to the rename, in milliseconds.
    #[serde(default)]
    pub swap_window_ms: Option<i64>,
}

/// A postponed cut-over's wait, as its run last recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwapWait {
    /// When the run started waiting.
    pub since: DateTime,
    /// Seconds between the last change applied to the copy and now (0 when
    /// the copy has applied every change the stream holds).
    pub lag_s: f64,
    /// Changes read from the stream and not yet applied to the copy when
    /// last measured.
    pub pending: i64,
    /// Changes applied to the copy while waiting.
    pub applied: i64,
    /// When this was measured.
    pub at: DateTime,
}

fn kept_by_earlier_versions() -> bool {
    true
}

impl RewriteState {
    /// A rewrite of `collection` by migration `id`, about to copy; `keep`:
    /// whether the originals are kept.
    pub fn new(id: &str, collection: &str, keep: bool) -> RewriteState {
        RewriteState {
            collection: collection.into(),
            shadow: format!("mongoshift_shadow_{id}"),
            backup: format!("mongoshift_backup_{id}"),
            keep,
            phase: Phase::Copy,
            token: None,
            validation: None,
            indexes: Vec::new(),
            source_uuid: None,
            shadow_uuid: None,
            backup_uuid: None,
            swap_token: None,
            fenced_at: None,
            run: Some(ObjectId::new()),
            postponed: false,
            swap_at: None,
            waiting: None,
            swap_window_ms: None,
        }
    }
}

/// The collection where `down --set-aside-writes-since-swap` keeps the
/// application's versions of what it changed since the swap.
pub fn conflicts_collection(id: &str) -> String {
    format!("mongoshift_conflicts_{id}")
}

/// Records the rewrite's state in the ledger, fenced by the run's token.
pub(crate) async fn save_rewrite_state(
    target: &Target,
    migration: &str,
    fence: i64,
    state: &RewriteState,
) -> Result<()> {
    let s = bson::to_bson(state).map_err(|e| MigrateError::Encoding {
        context: "cannot encode the rewrite state".into(),
        message: e.to_string(),
    })?;
    let r = target
        .db()
        .collection::<Document>(LEDGER_COLLECTION)
        .update_one(
            doc! { "_id": migration, "fence": fence },
            doc! { "$set": { "rewrite": s } },
        )
        .await
        .map_err(|e| MigrateError::db(format!("cannot record the rewrite of {migration}"), e))?;
    if r.matched_count != 1 {
        return Err(MigrateError::LockLost {
            what: format!("the rewrite state of {migration}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_of_earlier_versions_still_read() {
        for (old, phase) in [
            ("copy", Phase::Copy),
            ("catch-up", Phase::CatchUp),
            ("swap", Phase::LegacySwap),
            ("done", Phase::Done),
        ] {
            let d = bson::doc! {
                "collection": "users",
                "shadow": "mongoshift_shadow_x",
                "backup": "mongoshift_backup_x",
                "phase": old,
                "token": null,
                "validation": { "validator": {} },
            };
            let s: RewriteState = bson::from_document(d).expect("an earlier entry reads");
            assert_eq!(s.phase, phase);
            assert!(s.keep, "earlier versions kept the original");
            assert_eq!(s.swap_token, None);
        }
    }

    #[test]
    fn phases_round_trip_by_name() {
        for p in [
            Phase::Copy,
            Phase::CatchUp,
            Phase::Fenced,
            Phase::Swapped,
            Phase::Done,
            Phase::Restoring,
            Phase::LegacySwap,
        ] {
            let b = bson::to_bson(&p).expect("encode");
            assert_eq!(b, Bson::String(p.as_str().into()));
            assert_eq!(bson::from_bson::<Phase>(b).expect("decode"), p);
        }
    }
}
