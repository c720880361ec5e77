//! Choosing what runs, as pure functions over the migrations on disk and the
//! ledger's entries: what `up` applies (in id order; an id older than one
//! already applied, arrived out of order from another branch, only when
//! allowed), what `down` rolls back (newest applied first, in the order they
//! were applied), and the order of ids.

use std::path::Path;

use super::options::{DownTarget, UpOptions};
use super::resume;
use crate::error::{MigrateError, Result};
use crate::ledger::{LedgerEntry, State};
use crate::manifest::Body;
use crate::options::Strategy;
use crate::source::Migration;

/// Checks the ledger against disk and returns the migrations `up` applies.
pub(crate) fn pending<'a>(
    migrations: &'a [Migration],
    dir: &Path,
    entries: &[LedgerEntry],
    opts: &UpOptions,
) -> Result<Vec<&'a Migration>> {
    for e in entries {
        let on_disk = migrations.iter().find(|m| m.id == e.id);
        match on_disk {
            None if e.state != State::RolledBack => {
                return Err(MigrateError::MissingOnDisk {
                    id: e.id.clone(),
                    state: e.state.to_string(),
                    path: dir.to_path_buf(),
                })
            }
            Some(m)
                if matches!(e.state, State::Applied | State::Baselined)
                    && m.checksum != e.checksum
                    && !opts.dangerously_allow_changed.contains(&e.id) =>
            {
                return Err(MigrateError::ChecksumMismatch {
                    id: e.id.clone(),
                    recorded: e.checksum.clone(),
                    on_disk: m.checksum.clone(),
                })
            }
            Some(m) => resume::check_up(e, m, opts)?,
            None => {}
        }
    }
    resume::check_named(&opts.dangerously_resume_changed, migrations, dir)?;
    let end = match &opts.to {
        Some(to) => migrations.iter().position(|m| &m.id == to).ok_or_else(|| {
            MigrateError::UnknownMigration {
                id: to.clone(),
                path: dir.to_path_buf(),
            }
        })?,
        None => migrations.len().saturating_sub(1),
    };
    let todo: Vec<&Migration> = migrations
        .iter()
        .take(end + 1)
        .filter(|m| {
            entries
                .iter()
                .find(|e| e.id == m.id)
                .is_none_or(|e| !matches!(e.state, State::Applied | State::Baselined))
        })
        .collect();
    check_strategy(&todo, opts)?;
    if !opts.allow_out_of_order {
        if let Some((m, newest)) = out_of_order(&todo, entries).first() {
            return Err(MigrateError::OutOfOrder {
                id: m.id.clone(),
                newest: newest.clone(),
            });
        }
    }
    Ok(todo)
}

/// The migrations of `todo` whose id sorts before the newest applied (or
/// baselined) one, each with that id.
pub(crate) fn out_of_order<'a>(
    todo: &[&'a Migration],
    entries: &[LedgerEntry],
) -> Vec<(&'a Migration, String)> {
    let Some(newest) = entries
        .iter()
        .filter(|e| e.state.is_applied())
        .max_by_key(|e| order_key(&e.id))
    else {
        return Vec::new();
    };
    todo.iter()
        .filter(|m| order_key(&m.id) < order_key(&newest.id))
        .map(|m| (*m, newest.id.clone()))
        .collect()
}

/// `--strategy rewrite` asks a copy-and-swap of every document transform in
/// the run; a Python migration can only write in place, so the run is
/// refused before anything is written rather than run another way.
fn check_strategy(todo: &[&Migration], opts: &UpOptions) -> Result<()> {
    if opts.strategy != Some(Strategy::Rewrite) {
        return Ok(());
    }
    let Some(i) = todo
        .iter()
        .position(|m| matches!(m.manifest.body, Body::Python(_)))
    else {
        return Ok(());
    };
    let before = match i.checked_sub(1).map(|j| todo[j]) {
        Some(prev) => format!(", or stop before it with --to {}", prev.id),
        None => String::new(),
    };
    Err(MigrateError::Refused {
        reason: format!(
            "{} is a Python migration, which writes in place; --strategy rewrite applies to \
             Wasm migrations. Nothing was run: run without --strategy{before}",
            todo[i].id
        ),
    })
}

/// The ledger entries `down` rolls back for `target`, in the reverse of the
/// order they were applied (an out-of-order migration applied last goes
/// first; entries of one time, like a baseline's, newest id first): of
/// those applied, baselined, failed or running, the last `n`, or all whose
/// id sorts after the id `--to` names (on disk or in the ledger).
pub(crate) fn roll_back_order<'e>(
    migrations: &[Migration],
    dir: &Path,
    entries: &'e [LedgerEntry],
    target: &DownTarget,
) -> Result<Vec<&'e LedgerEntry>> {
    let mut done: Vec<&LedgerEntry> = entries
        .iter()
        .filter(|e| {
            matches!(
                e.state,
                State::Applied | State::Baselined | State::Failed | State::Running
            )
        })
        .collect();
    done.sort_by_key(|e| std::cmp::Reverse((applied_time(e), order_key(&e.id))));
    Ok(match target {
        DownTarget::Steps(n) => done.into_iter().take(*n).collect(),
        DownTarget::To(id) => {
            let known =
                migrations.iter().any(|m| &m.id == id) || entries.iter().any(|e| &e.id == id);
            if !known {
                return Err(MigrateError::UnknownMigration {
                    id: id.clone(),
                    path: dir.to_path_buf(),
                });
            }
            done.into_iter()
                .filter(|e| order_key(&e.id) > order_key(id))
                .collect()
        }
    })
}

/// When an entry was applied, or its last run started (a failed or running
/// one), in milliseconds; `None` sorts first (oldest).
fn applied_time(e: &LedgerEntry) -> Option<i64> {
    match e.state {
        State::Failed | State::Running => e.started_at.or(e.applied_at),
        _ => e.applied_at.or(e.started_at),
    }
    .map(|t| t.timestamp_millis())
}

/// Orders ids by numeric version, then by name.
pub(crate) fn order_key(id: &str) -> (usize, String, String) {
    let (v, rest) = id.split_once('_').unwrap_or((id, ""));
    let v = v.trim_start_matches('0');
    (v.len(), v.to_string(), rest.to_string())
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::manifest::Manifest;

    fn migration(id: &str) -> Migration {
        let file = PathBuf::from(format!("{id}.py"));
        Migration {
            id: id.into(),
            version: id.split('_').next().unwrap_or(id).into(),
            path: file.clone(),
            manifest_path: file.clone(),
            manifest: Manifest::python(&file, "\"\"\"a migration\"\"\"\n"),
            base_dir: PathBuf::from("."),
            module_path: None,
            checksum: format!("sum-{id}"),
        }
    }

    fn entry(id: &str, state: State) -> LedgerEntry {
        let mut e = LedgerEntry::new(id, "", "python", &format!("sum-{id}"));
        e.state = state;
        e
    }

    fn ids<'a>(ms: impl IntoIterator<Item = &'a Migration>) -> Vec<&'a str> {
        ms.into_iter().map(|m| m.id.as_str()).collect()
    }

    const DIR: &str = "migrations";

    #[test]
    fn pending_is_what_is_not_applied_in_id_order_up_to_to() {
        let ms = [migration("1_a"), migration("2_b"), migration("3_c")];
        let entries = [entry("1_a", State::Applied), entry("2_b", State::Failed)];
        let all = pending(&ms, Path::new(DIR), &entries, &UpOptions::default()).expect("plans");
        assert_eq!(ids(all), ["2_b", "3_c"]);
        let to = UpOptions {
            to: Some("2_b".into()),
            ..UpOptions::default()
        };
        let some = pending(&ms, Path::new(DIR), &entries, &to).expect("plans");
        assert_eq!(ids(some), ["2_b"]);
    }

    #[test]
    fn an_id_older_than_an_applied_one_is_refused_unless_allowed() {
        // 2_b arrived from another branch after 3_c was applied.
        let ms = [migration("1_a"), migration("2_b"), migration("3_c")];
        let entries = [entry("1_a", State::Applied), entry("3_c", State::Baselined)];
        let err =
            pending(&ms, Path::new(DIR), &entries, &UpOptions::default()).expect_err("refused");
        assert!(
            matches!(err, MigrateError::OutOfOrder { ref id, ref newest } if id == "2_b" && newest == "3_c")
        );
        let allowed = UpOptions {
            allow_out_of_order: true,
            ..UpOptions::default()
        };
        let todo = pending(&ms, Path::new(DIR), &entries, &allowed).expect("plans");
        assert_eq!(ids(todo), ["2_b"]);
    }

    #[test]
    fn roll_back_follows_the_order_of_application() {
        let ms = [migration("1_a"), migration("2_b"), migration("3_c")];
        let at = |id: &str, ms: i64| {
            let mut e = entry(id, State::Applied);
            e.applied_at = Some(bson::DateTime::from_millis(ms));
            e
        };
        // 2_b applied out of order, after 3_c.
        let entries = [at("1_a", 1_000), at("2_b", 3_000), at("3_c", 2_000)];
        let chosen =
            roll_back_order(&ms, Path::new(DIR), &entries, &DownTarget::Steps(3)).expect("chooses");
        let order: Vec<&str> = chosen.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(order, ["2_b", "3_c", "1_a"]);
    }

    #[test]
    fn pending_refuses_a_missing_or_changed_applied_migration() {
        let ms = [migration("1_a")];
        let gone = [entry("0_z", State::Applied)];
        let err = pending(&ms, Path::new(DIR), &gone, &UpOptions::default()).expect_err("refused");
        assert!(matches!(err, MigrateError::MissingOnDisk { ref id, .. } if id == "0_z"));
        // Rolled back and then deleted from disk: nothing to refuse.
        let rolled = [entry("0_z", State::RolledBack)];
        assert!(pending(&ms, Path::new(DIR), &rolled, &UpOptions::default()).is_ok());
        let mut changed = entry("1_a", State::Applied);
        changed.checksum = "other".into();
        let err = pending(
            &ms,
            Path::new(DIR),
            &[changed.clone()],
            &UpOptions::default(),
        )
        .expect_err("refused");
        assert!(matches!(err, MigrateError::ChecksumMismatch { .. }));
        let allowed = UpOptions {
            dangerously_allow_changed: vec!["1_a".into()],
            ..UpOptions::default()
        };
        assert!(pending(&ms, Path::new(DIR), &[changed], &allowed).is_ok());
        let unknown = UpOptions {
            to: Some("9_x".into()),
            ..UpOptions::default()
        };
        let err = pending(&ms, Path::new(DIR), &[], &unknown).expect_err("refused");
        assert!(matches!(err, MigrateError::UnknownMigration { .. }));
    }

    #[test]
    fn roll_back_is_newest_first_by_numeric_version() {
        let ms = [migration("9_a"), migration("10_b"), migration("11_c")];
        let entries = [
            entry("9_a", State::Applied),
            entry("11_c", State::Failed),
            entry("10_b", State::Applied),
        ];
        let dir = Path::new(DIR);
        let order = |t: DownTarget| -> Vec<String> {
            roll_back_order(&ms, dir, &entries, &t)
                .expect("chooses")
                .into_iter()
                .map(|e| e.id.clone())
                .collect()
        };
        assert_eq!(order(DownTarget::Steps(2)), ["11_c", "10_b"]);
        assert_eq!(order(DownTarget::Steps(9)), ["11_c", "10_b", "9_a"]);
        assert_eq!(order(DownTarget::To("9_a".into())), ["11_c", "10_b"]);
        assert!(order(DownTarget::To("11_c".into())).is_empty());
        let err = roll_back_order(&ms, dir, &entries, &DownTarget::To("5_x".into()))
            .expect_err("refused");
        assert!(matches!(err, MigrateError::UnknownMigration { .. }));
    }

    #[test]
    fn roll_back_skips_what_is_not_applied() {
        let ms = [migration("1_a"), migration("2_b")];
        let entries = [
            entry("1_a", State::RolledBack),
            entry("2_b", State::Running),
        ];
        let chosen =
            roll_back_order(&ms, Path::new(DIR), &entries, &DownTarget::Steps(5)).expect("chooses");
        assert_eq!(chosen.len(), 1);
        assert_eq!(chosen[0].id, "2_b");
    }

    #[test]
    fn ids_order_by_numeric_version_then_name() {
        let mut v = ["10_a", "9_b", "0009_a", "20260101000000_x", "9_a"];
        v.sort_by_key(|id| order_key(id));
        assert_eq!(v, ["0009_a", "9_a", "9_b", "10_a", "20260101000000_x"]);
    }
}
