//! Resuming honestly: what a run carries over from the one before it, and
//! what `up` and `down` refuse when a migration's files changed since it ran.
//!
//! A forward run that stopped part-way (`running` or `failed`, with a
//! checkpoint) has committed the documents up to its checkpoint's `_id`. Run
//! from the start, changed files would do those documents a second time, so
//! `up` refuses and offers the two honest ways on: `down`, which undoes
//! exactly what was committed (pre-images, or the backward transform on the
//! committed `_id`s only), or `up --dangerously-resume-changed`, which goes
//! on from the checkpoint with the new files and records both checksums.
//! A backward way that lives in changed files (a backward transform, backward
//! steps) may not undo what the earlier files did, so `down` asks for
//! `--dangerously-allow-changed` before using it; pre-images and a rewrite's
//! backup do not depend on the files and need no consent.

use std::path::Path;

use bson::{Bson, DateTime};

use super::UpOptions;
use crate::error::{MigrateError, PartWay, Result};
use crate::ledger::{AcceptedChange, Checkpoint, LedgerEntry, State};
use crate::manifest::Kind;
use crate::progress::Direction;
use crate::source::Migration;

fn part_way(e: &LedgerEntry) -> bool {
    matches!(e.state, State::Running | State::Failed)
}

/// Entries written before the ledger recorded directions were forward runs.
fn direction(e: &LedgerEntry) -> Direction {
    e.direction.unwrap_or(Direction::Up)
}

/// What a forward run that stopped part-way committed, if anything.
fn committed(e: &LedgerEntry) -> Option<&Checkpoint> {
    e.checkpoint.as_ref().filter(|c| c.last_id.is_some())
}

/// Whether the run of `entry` goes on from documents already done. Such a run
/// keeps the earlier run's choice of pre-images: kept from the middle on,
/// they would not cover what was done before, and `down` would undo half.
pub(super) fn resumes(entry: &LedgerEntry) -> bool {
    committed(entry).is_some()
}

/// Refuses to apply `m` over what a run that stopped part-way left: a
/// rollback that did not finish, or documents done by files that changed.
pub(super) fn check_up(e: &LedgerEntry, m: &Migration, opts: &UpOptions) -> Result<()> {
    if !part_way(e) {
        return Ok(());
    }
    // Update steps are written to be rerun; document-by-document work is not.
    if direction(e) == Direction::Down && m.manifest.kind != Kind::Update {
        return Err(MigrateError::Dirty {
            id: e.id.clone(),
            state: e.state.to_string(),
            detail: "its rollback (`mongoshift down`) stopped part-way, so some documents are undone and some are not; run `mongoshift down` to finish it (it goes on where it stopped), then `mongoshift up`".into(),
        });
    }
    if e.checksum == m.checksum || opts.dangerously_resume_changed.contains(&e.id) {
        return Ok(());
    }
    let Some(cp) = committed(e) else {
        // Nothing committed: the changed files start from the beginning.
        return Ok(());
    };
    let way_back = if e.pre_images.is_some() {
        "it restores their pre-images".to_string()
    } else if e.rewrite.is_some() {
        "it drops the partial copy; the collection itself was not changed".to_string()
    } else {
        format!(
            "it runs the backward transform on those documents only; with changed files that needs `mongoshift down --dangerously-allow-changed {}`",
            e.id
        )
    };
    Err(MigrateError::ChangedPartWay {
        id: e.id.clone(),
        part: Box::new(PartWay {
            state: e.state.to_string(),
            recorded: e.checksum.clone(),
            on_disk: m.checksum.clone(),
            done: cp.read,
            changed: cp.replaced + cp.deleted,
            last_id: cp
                .last_id
                .as_ref()
                .map_or_else(String::new, ToString::to_string),
            way_back,
        }),
    })
}

/// Refuses consent (`--dangerously-…`) given for a migration that is not in
/// `dir`: a mistyped id would otherwise be ignored.
pub(super) fn check_named(ids: &[String], migrations: &[Migration], dir: &Path) -> Result<()> {
    match ids
        .iter()
        .find(|id| !migrations.iter().any(|m| &m.id == *id))
    {
        Some(id) => Err(MigrateError::UnknownMigration {
            id: id.clone(),
            path: dir.to_path_buf(),
        }),
        None => Ok(()),
    }
}

/// Refuses to roll `m` back by a way that lives in its files (`how`) when
/// those changed since it ran, unless `allowed`.
pub(super) fn check_way_back(
    e: &LedgerEntry,
    m: &Migration,
    how: &str,
    allowed: &[String],
) -> Result<()> {
    if e.checksum == m.checksum || allowed.contains(&e.id) {
        return Ok(());
    }
    Err(MigrateError::ChangedWayBack {
        id: e.id.clone(),
        recorded: e.checksum.clone(),
        on_disk: m.checksum.clone(),
        how: how.into(),
    })
}

/// Fills `entry`, the ledger entry of a run of `m` in `direction`, from
/// `previous`: a run of the same direction that stopped part-way goes on
/// from its checkpoint (with changed files only when told to, recorded); a
/// rollback takes over where the forward run kept its originals and, when
/// that run stopped part-way, how far it got. `uses_files`: the run's work
/// comes from the files (not pre-images or a rewrite's backup).
pub(super) fn carry_over(
    entry: &mut LedgerEntry,
    previous: Option<&LedgerEntry>,
    m: &Migration,
    direction: Direction,
    opts: &UpOptions,
    uses_files: bool,
) {
    let Some(p) = previous else {
        return;
    };
    let changed = p.checksum != m.checksum;
    let accepted = match direction {
        Direction::Up => opts.dangerously_resume_changed.contains(&m.id),
        Direction::Down => opts.dangerously_allow_changed.contains(&m.id),
    };
    let record = |entry: &mut LedgerEntry, last_id: Option<Bson>, done: i64| {
        entry.accepted_changes.push(AcceptedChange {
            direction,
            from: p.checksum.clone(),
            to: m.checksum.clone(),
            last_id,
            done,
            at: DateTime::now(),
        });
    };
    if part_way(p) && self::direction(p) == direction && (!changed || accepted) {
        entry.checkpoint = p.checkpoint.clone();
        entry.pre_images = p.pre_images.clone();
        entry.rewrite = p.rewrite.clone();
        entry.collection = p.collection.clone();
        entry.undo_through = p.undo_through.clone();
        entry.accepted_changes = p.accepted_changes.clone();
        if let Some(cp) = &p.checkpoint {
            entry.matched = cp.read;
            entry.modified = cp.replaced + cp.deleted;
            entry.quarantined = cp.failed;
        }
        if changed && uses_files {
            let cp = p.checkpoint.clone().unwrap_or_default();
            record(entry, cp.last_id, cp.read);
        }
    } else if direction == Direction::Down {
        entry.pre_images = p.pre_images.clone();
        entry.rewrite = p.rewrite.clone();
        entry.collection = p.collection.clone();
        entry.accepted_changes = p.accepted_changes.clone();
        if part_way(p) && self::direction(p) == Direction::Up {
            entry.undo_through = Some(
                committed(p)
                    .and_then(|c| c.last_id.clone())
                    .unwrap_or(Bson::MinKey),
            );
        }
        if changed && uses_files {
            let done = committed(p).map_or(p.matched, |c| c.read);
            record(entry, entry.undo_through.clone(), done);
        }
    }
}
