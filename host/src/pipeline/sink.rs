//! Where transformed batches go, in read order: the writer, or a dry run's
//! counter.

use std::time::Instant;

use super::batch_size::BatchSize;
use super::dry_run::{self, DryRunSink};
use super::workers::Done;
use crate::error::Result;
use crate::ledger::Checkpoint;
use crate::throttle::Gate;
use crate::writer::BatchWriter;

/// The end of the pipeline.
pub(crate) enum Sink<'a> {
    /// Commit each batch.
    Write(Box<BatchWriter<'a>>),
    /// Count each batch and show it to the caller; write nothing.
    DryRun {
        counted: Box<Checkpoint>,
        sink: &'a mut DryRunSink<'a>,
    },
}

impl Sink<'_> {
    /// Commits attempted again so far, by cause (none in a dry run).
    pub(crate) fn retries(&self) -> std::collections::BTreeMap<String, u64> {
        match self {
            Sink::Write(w) => w.retries().clone(),
            Sink::DryRun { .. } => Default::default(),
        }
    }

    /// Takes the next batch in read order, through `gate` when given (the
    /// throttle and the pause flag); the checkpoint after it.
    pub(crate) async fn take(
        &mut self,
        done: Done,
        size: &BatchSize,
        gate: Option<&mut Gate>,
    ) -> Result<Checkpoint> {
        let Done { t, records } = done;
        match self {
            Sink::Write(w) => {
                let docs = t.batch.len() as u64;
                let mut gate = gate;
                if let Some(g) = gate.as_deref_mut() {
                    g.before_commit(w.checkpoint().read as u64, docs).await?;
                }
                let started = Instant::now();
                let shrunk = w.write(&t, records.as_ref()).await?;
                let took = started.elapsed();
                size.after_write(shrunk, took);
                if let Some(g) = gate {
                    g.after_commit(docs, took);
                }
                Ok(w.checkpoint().clone())
            }
            Sink::DryRun { counted, sink } => {
                dry_run::count(counted, &t, &mut **sink);
                Ok((**counted).clone())
            }
        }
    }

    /// After the last batch (`outcome`: how the run went): the final
    /// checkpoint, or the run's error once the writer let go.
    pub(crate) async fn finish(self, outcome: Result<()>) -> Result<Checkpoint> {
        match (outcome, self) {
            (Ok(()), Sink::Write(w)) => w.finish().await,
            (Ok(()), Sink::DryRun { counted, .. }) => Ok(*counted),
            (Err(e), Sink::Write(w)) => {
                w.abandon().await;
                Err(e)
            }
            (Err(e), Sink::DryRun { .. }) => Err(e),
        }
    }
}
