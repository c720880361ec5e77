//! Running `update` migrations: operations the server executes, so documents
//! never leave it.

use bson::{doc, Document};

use crate::error::{MigrateError, Result};
use crate::manifest::{rename_filter, UpdateSpec, UpdateStep};
use crate::progress::{Event, Progress};
use crate::target::Target;

/// Documents matched and modified by a run of steps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Documents matched.
    pub matched: u64,
    /// Documents modified or deleted.
    pub modified: u64,
}

/// Runs `steps` in order, reporting each.
pub(crate) async fn run_steps(
    target: &Target,
    id: &str,
    steps: &[UpdateStep],
    progress: &Progress,
) -> Result<Counts> {
    let mut total = Counts::default();
    for (i, step) in steps.iter().enumerate() {
        progress.event(&Event::StepStarted {
            id: id.into(),
            step: i + 1,
            description: step.describe(),
        });
        let c = run_step(target, step)
            .await
            .map_err(|e| MigrateError::db(format!("step {} ({})", i + 1, step.describe()), e))?;
        progress.event(&Event::StepFinished {
            id: id.into(),
            step: i + 1,
            matched: c.matched,
            modified: c.modified,
        });
        total.matched += c.matched;
        total.modified += c.modified;
    }
    Ok(total)
}

async fn run_step(target: &Target, step: &UpdateStep) -> Result<Counts, mongodb::error::Error> {
    let coll = target.db().collection::<Document>(step.collection());
    match step {
        UpdateStep::UpdateMany { filter, update, .. } => {
            let r = match update {
                UpdateSpec::Document(d) => coll.update_many(filter.clone(), d.clone()).await?,
                UpdateSpec::Pipeline(p) => coll.update_many(filter.clone(), p.clone()).await?,
            };
            Ok(Counts {
                matched: r.matched_count,
                modified: r.modified_count,
            })
        }
        UpdateStep::DeleteMany { filter, .. } => {
            let r = coll.delete_many(filter.clone()).await?;
            Ok(Counts {
                matched: r.deleted_count,
                modified: r.deleted_count,
            })
        }
        UpdateStep::RenameField {
            filter, from, to, ..
        } => {
            let r = coll
                .update_many(
                    rename_filter(filter, from),
                    doc! { "$rename": { from: to } },
                )
                .await?;
            Ok(Counts {
                matched: r.matched_count,
                modified: r.modified_count,
            })
        }
        UpdateStep::CreateIndex {
            collection,
            keys,
            name,
            options,
        } => {
            let mut index = doc! { "key": keys.clone(), "name": name };
            index.extend(options.clone());
            target
                .db()
                .run_command(doc! { "createIndexes": collection, "indexes": [index] })
                .await?;
            Ok(Counts::default())
        }
        UpdateStep::DropIndex {
            collection, name, ..
        } => {
            match target
                .db()
                .run_command(doc! { "dropIndexes": collection, "index": name })
                .await
            {
                Ok(_) => {}
                // Already gone (a rerun after a failure): the step's goal holds.
                Err(e) if matches!(&*e.kind, mongodb::error::ErrorKind::Command(c) if c.code == 27 || c.code == 26) =>
                    {}
                Err(e) => return Err(e),
            }
            Ok(Counts::default())
        }
    }
}

/// How many documents each step would touch now (`None` for index steps).
pub(crate) async fn count_steps(target: &Target, steps: &[UpdateStep]) -> Result<Vec<Option<u64>>> {
    let mut out = Vec::with_capacity(steps.len());
    for step in steps {
        let n = match step.count_filter() {
            Some(filter) => Some(
                target
                    .db()
                    .collection::<Document>(step.collection())
                    .count_documents(filter)
                    .await
                    .map_err(|e| {
                        MigrateError::db(
                            format!("cannot count documents for {}", step.describe()),
                            e,
                        )
                    })?,
            ),
            None => None,
        };
        out.push(n);
    }
    Ok(out)
}
