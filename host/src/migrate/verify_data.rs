//! `verify --data`: which source of truth an applied migration kept, and
//! the check made against it (see [`crate::verify`]). Reads only: no lock,
//! no write.

use crate::error::{MigrateError, Result, VerifyError};
use crate::ledger::{LedgerEntry, State};
use crate::local::{LocalTransform, Opened};
use crate::manifest::Body;
use crate::progress::Direction;
use crate::rewrite::collection_exists;
use crate::source::Migration;
use crate::verify::{touched, Check, DataReport, Since, Subject, VerifyOptions};

use super::migrator::Migrator;

impl Migrator {
    /// Checks the documents of the applied migration `id` against what it
    /// kept: a rewrite's backup, transformed again; else, for a module with
    /// a backward transform, a round trip of every document (and the
    /// pre-images where kept); else its pre-images, transformed again.
    /// Refused, naming what cannot be checked, when it kept none of these,
    /// or when it is unknown, not applied, or its files changed since.
    pub async fn verify_data(&self, id: &str, options: VerifyOptions) -> Result<DataReport> {
        let (m, entry) = self.applied(id).await?;
        let refuse = |reason: String| {
            MigrateError::from(VerifyError::NothingToCheck {
                id: id.to_string(),
                reason,
            })
        };
        if entry.checksum != m.checksum {
            return Err(refuse(
                "its files changed since it was applied, so its transform is not the one that \
                 ran; `mongoshift verify` shows the checksums (put the files back as they were \
                 to check the data)"
                    .into(),
            ));
        }
        let python = self.python.as_deref();
        let forward = match LocalTransform::open(m, Direction::Up, python)? {
            Opened::Transform(t) => t,
            Opened::NoTransform(why) => {
                return Err(refuse(format!(
                    "{why}, so there is nothing to run again and its documents cannot be checked"
                )))
            }
        };
        if !forward.lookups().is_empty() {
            return Err(refuse(
                "its transform looks up other collections, whose contents at the time of the \
                 run were not kept, so what it wrote cannot be computed again"
                    .into(),
            ));
        }
        let backward = match LocalTransform::open(m, Direction::Down, python)? {
            Opened::Transform(t) => Some(t),
            Opened::NoTransform(_) => None,
        };
        let check = self.source_of_truth(&entry, backward.is_some()).await?;
        let Some(check) = check else {
            return Err(refuse(nothing_kept(&entry)));
        };
        let collection = collection_of(m, &entry);
        let (touched, since) = match &entry.rewrite {
            Some(state) => touched(&self.target, state).await,
            None => (
                Default::default(),
                Since::Unknown {
                    reason: "an in-place run records no change stream position".into(),
                },
            ),
        };
        let subject = Subject {
            target: &self.target,
            migration: id.to_string(),
            collection,
            filter: match &m.manifest.body {
                Body::Wasm(spec) => spec.filter.clone(),
                _ => bson::Document::new(),
            },
            forward,
            backward,
            touched,
            options,
        };
        let mut report = subject.run(check).await?;
        report.since = since;
        Ok(report)
    }

    /// The migration `id` on disk and its ledger entry, when it is applied.
    async fn applied(&self, id: &str) -> Result<(&Migration, LedgerEntry)> {
        let entry = self.ledger.get(id).await?;
        let m = self.migrations.iter().find(|m| m.id == id);
        let not_applied = |state: String| VerifyError::NotApplied {
            id: id.to_string(),
            state,
        };
        match (m, entry) {
            (None, None) => Err(VerifyError::Unknown {
                id: id.to_string(),
                path: self.dir.clone(),
            }
            .into()),
            (None, Some(_)) => Err(VerifyError::NothingToCheck {
                id: id.to_string(),
                reason: format!(
                    "its files are no longer in {}, so its transform cannot be run again",
                    self.dir.display()
                ),
            }
            .into()),
            (Some(_), None) => Err(not_applied("pending".into()).into()),
            (Some(m), Some(e)) if matches!(e.state, State::Applied | State::AppliedWithErrors) => {
                Ok((m, e))
            }
            (Some(_), Some(e)) => Err(not_applied(e.state.to_string()).into()),
        }
    }

    /// What `entry`'s run kept that its documents can be checked against.
    async fn source_of_truth(&self, entry: &LedgerEntry, backward: bool) -> Result<Option<Check>> {
        if let Some(rw) = entry.rewrite.as_ref().filter(|rw| rw.keep) {
            if collection_exists(&self.target, &rw.backup).await? {
                return Ok(Some(Check::Rewrite {
                    backup: rw.backup.clone(),
                }));
            }
        }
        let pre_images = match &entry.pre_images {
            Some(p) if collection_exists(&self.target, p).await? => Some(p.clone()),
            _ => None,
        };
        Ok(match (backward, pre_images) {
            (true, pre_images) => Some(Check::RoundTrip { pre_images }),
            (false, Some(pre_images)) => Some(Check::PreImages { pre_images }),
            (false, None) => None,
        })
    }
}

/// Why nothing can be checked: what the run did not keep.
fn nothing_kept(entry: &LedgerEntry) -> String {
    let kept = match (&entry.rewrite, &entry.pre_images) {
        (Some(rw), _) if rw.keep => format!("its backup {} is gone (pruned)", rw.backup),
        (_, Some(p)) => format!("its pre-images {p} are gone (pruned)"),
        (Some(_), None) => "its rewrite kept no backup".into(),
        (None, None) => "its run kept no pre-images".into(),
    };
    format!(
        "{kept} and its module has no backward transform: no original is left to compare its \
         documents with, so neither their content nor missing or extra documents can be \
         checked. A run with `--pre-images` keeps what `verify --data` needs"
    )
}

/// The collection the migration changed.
fn collection_of(m: &Migration, entry: &LedgerEntry) -> String {
    entry
        .rewrite
        .as_ref()
        .map(|rw| rw.collection.clone())
        .or_else(|| entry.collection.clone())
        .or_else(|| m.manifest.collection.clone())
        .unwrap_or_default()
}
