//! Committing one batch (or part of one): one transaction per attempt in
//! batch mode, attempts again after a transient failure, and halves a batch
//! the server refuses as too large or too slow.

use std::collections::BTreeMap;
use std::time::Duration;

use mongodb::error::{TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT};
use mongodb::ClientSession;

use super::apply::apply;
use super::options::WriteOptions;
use super::pre_images;
use super::retry::{is_too_large, is_transient, retry_cause};
use super::scope::Scope;
use super::too_large;
use crate::batch::{Outcome, Transformed};
use crate::error::{MigrateError, Result};
use crate::ledger::Checkpoint;
use crate::options::TxMode;
use crate::pre_image::BatchRecords;
use crate::target::Target;
use crate::transform::Retransform;

/// `WriteConflict`: another client wrote a document of the batch after the
/// batch's transaction read it.
const WRITE_CONFLICT: i32 = 112;

/// Write conflicts in a row after which a range of several documents is
/// split in halves rather than attempted whole again: under an application
/// writing all over the collection, a long transaction over many documents
/// can lose every attempt, where halves commit sooner and meet fewer writes.
const CONFLICTS_BEFORE_SPLIT: u32 = 3;

/// How the attempts at a range of a batch ended, short of an error.
enum Range {
    Committed,
    /// It met write conflicts [`CONFLICTS_BEFORE_SPLIT`] times in a row.
    Conflicting,
}

/// What a writer writes for: the migration, its collection and how.
pub(crate) struct WriterContext<'a> {
    pub(crate) target: &'a Target,
    pub(crate) collection: String,
    pub(crate) migration: String,
    pub(crate) options: WriteOptions,
}

/// Commits a migration's batches in order, keeping its checkpoint.
pub(crate) struct BatchWriter<'a> {
    target: &'a Target,
    collection: String,
    migration: String,
    opts: WriteOptions,
    session: Option<ClientSession>,
    cp: Checkpoint,
    /// The checkpoint this run started from: the policy's ceilings count
    /// what this run does.
    base: Checkpoint,
    retransform: Option<Box<dyn Retransform>>,
    /// The pre-image collection held something as the run started.
    pre_images_kept: bool,
    /// A document whose outputs no transaction can hold, failed with this
    /// outcome (under `--on-error quarantine`) for the next attempt.
    set_aside: Option<(usize, Outcome)>,
    /// Commits attempted again, by cause (for progress and metrics).
    retries: BTreeMap<String, u64>,
}

impl<'a> BatchWriter<'a> {
    /// A writer resuming from `cp`, in `session` when given (a new one
    /// otherwise, in transaction modes); `retransform` transforms again the
    /// documents that changed while their batch was in flight.
    pub(crate) async fn start(
        context: WriterContext<'a>,
        cp: Checkpoint,
        session: Option<ClientSession>,
        retransform: Box<dyn Retransform>,
    ) -> Result<BatchWriter<'a>> {
        let WriterContext {
            target,
            collection,
            migration,
            options: opts,
        } = context;
        let session = match (opts.tx, session) {
            (TxMode::None, _) => None,
            (_, Some(s)) => Some(s),
            (_, None) => Some(
                target
                    .client()
                    .start_session()
                    .await
                    .map_err(|e| MigrateError::db("cannot start a session", e))?,
            ),
        };
        let mut session = session;
        if opts.tx == TxMode::Migration {
            if let Some(s) = session.as_mut() {
                s.start_transaction()
                    .await
                    .map_err(|e| MigrateError::db("cannot start a transaction", e))?;
            }
        }
        let pre_images_kept = pre_images::prepare(target, &opts).await?;
        Ok(BatchWriter {
            target,
            collection,
            migration,
            opts,
            session,
            base: cp.clone(),
            cp,
            retransform: Some(retransform),
            pre_images_kept,
            set_aside: None,
            retries: BTreeMap::new(),
        })
    }

    pub(crate) fn checkpoint(&self) -> &Checkpoint {
        &self.cp
    }

    /// Commits attempted again so far, by cause.
    pub(crate) fn retries(&self) -> &BTreeMap<String, u64> {
        &self.retries
    }

    fn count_retry(&mut self, cause: &str) {
        *self.retries.entry(cause.to_string()).or_default() += 1;
    }

    /// Commits a batch, with the pre-image records a worker built for it if
    /// any. Returns the smaller batch size it had to use when the server
    /// refused the whole batch as too large or too slow.
    pub(crate) async fn write(
        &mut self,
        t: &Transformed,
        records: Option<&BatchRecords>,
    ) -> Result<Option<usize>> {
        // The transform's outcomes bound what the batch writes; a batch
        // that would cross a ceiling is refused before anything of it is.
        let (mut changed, mut deleted) = (0, 0);
        for o in &t.outcomes {
            match o {
                Outcome::Replace(_) => changed += 1,
                Outcome::Delete => (changed, deleted) = (changed + 1, deleted + 1),
                Outcome::Keep | Outcome::Fail(_) => {}
            }
        }
        within_limits(
            &self.opts,
            &self.migration,
            &self.base,
            &self.cp,
            (changed, deleted),
        )?;
        let mut stack = vec![(0, t.batch.len())];
        let mut shrunk = None;
        while let Some((lo, hi)) = stack.pop() {
            match self.commit_range(t, records, lo, hi).await {
                Ok(Range::Committed) => self.set_aside = None,
                // Halves commit sooner and conflict less.
                Ok(Range::Conflicting) => {
                    self.count_retry("conflict_split");
                    shrunk = Some(halve(&mut stack, (lo, hi)));
                }
                Err(e)
                    if (is_too_large(&e)
                        || matches!(e, MigrateError::TooLargeForTransaction { .. }))
                        && hi - lo > 1
                        && self.opts.tx != TxMode::Migration =>
                {
                    self.count_retry("too_large");
                    shrunk = Some(halve(&mut stack, (lo, hi)));
                }
                Err(e) if hi - lo == 1 => {
                    let Some(refused) = too_large::of_outputs(&e, t, lo, &self.migration) else {
                        return Err(e);
                    };
                    if !self.opts.quarantine || self.set_aside.is_some() {
                        return Err(refused);
                    }
                    // Set aside with none of its outputs, as a document the
                    // transform failed: the rest of the run goes on.
                    let why = match &refused {
                        MigrateError::Output { message, .. } => message.clone(),
                        other => other.to_string(),
                    };
                    self.set_aside = Some((lo, Outcome::Fail(why)));
                    stack.push((lo, hi));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(shrunk)
    }

    async fn commit_range(
        &mut self,
        t: &Transformed,
        records: Option<&BatchRecords>,
        lo: usize,
        hi: usize,
    ) -> Result<Range> {
        let mut backoff = Duration::from_millis(20);
        let mut attempt = 0;
        let mut conflicts = 0;
        loop {
            attempt += 1;
            crate::failpoint::hit(crate::failpoint::BATCH_BEFORE_TRANSACTION);
            let tx = self.opts.tx;
            let mut session = match tx {
                TxMode::None => None,
                _ => Some(
                    self.session
                        .as_mut()
                        .expect("a session in transaction modes"),
                ),
            };
            if let (TxMode::Batch, Some(s)) = (tx, session.as_mut()) {
                s.start_transaction()
                    .await
                    .map_err(|e| MigrateError::db("cannot start a transaction", e))?;
            }
            let scope = Scope {
                target: self.target,
                collection: &self.collection,
                migration: &self.migration,
                opts: &self.opts,
                t,
                set_aside: self.set_aside.as_ref().map(|(i, o)| (*i, o)),
                records,
            };
            let res = apply(
                scope,
                &mut self.retransform,
                &self.cp,
                (lo, hi),
                self.pre_images_kept,
                session.as_deref_mut(),
            )
            .await;
            // Documents changed in flight are transformed again inside the
            // transaction: their outcomes count too, before the commit
            // (without transactions the count before the writes stands).
            let res = match res {
                Ok(next) if tx == TxMode::Batch => {
                    let run = (&self.opts, self.migration.as_str(), &self.base);
                    within_limits_after(run, &self.cp, next)
                }
                other => other,
            };
            let res = match (tx, session) {
                (TxMode::Batch, Some(s)) => match res {
                    Ok(next) => {
                        crate::failpoint::hit(crate::failpoint::BATCH_BEFORE_COMMIT);
                        commit(s).await.map(|()| next)
                    }
                    Err(e) => {
                        let _ = s.abort_transaction().await;
                        Err(e)
                    }
                },
                // No retry inside the migration's transaction: it is aborted as a whole.
                (TxMode::Migration, _) => {
                    self.cp = res.map_err(|e| {
                        too_large::refusal(&e, t, &self.opts, (lo, hi), attempt, true).unwrap_or(e)
                    })?;
                    return Ok(Range::Committed);
                }
                _ => res,
            };
            match res {
                Ok(next) => {
                    self.cp = next;
                    crate::failpoint::hit(crate::failpoint::BATCH_AFTER_COMMIT);
                    return Ok(Range::Committed);
                }
                Err(e) if tx != TxMode::None => {
                    let last = !is_transient(&e) || attempt >= self.opts.max_attempts;
                    if let Some(refused) =
                        too_large::refusal(&e, t, &self.opts, (lo, hi), attempt, last)
                    {
                        return Err(refused);
                    }
                    if last {
                        return Err(e);
                    }
                    // Counted while they come in a row.
                    conflicts = (conflicts + 1) * u32::from(e.code() == Some(WRITE_CONFLICT));
                    if conflicts >= CONFLICTS_BEFORE_SPLIT && hi - lo > 1 && tx == TxMode::Batch {
                        return Ok(Range::Conflicting);
                    }
                    self.count_retry(retry_cause(&e));
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
                Err(e) if is_transient(&e) && attempt < self.opts.max_attempts => {
                    self.count_retry(retry_cause(&e));
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Commits the migration's transaction (in that mode) and returns the final
    /// checkpoint.
    pub(crate) async fn finish(mut self) -> Result<Checkpoint> {
        if self.opts.tx == TxMode::Migration {
            if let Some(s) = self.session.as_mut() {
                commit(s).await?;
            }
        }
        Ok(self.cp)
    }

    /// Aborts an open transaction after an error.
    pub(crate) async fn abandon(mut self) {
        if let Some(s) = self.session.as_mut() {
            if self.opts.tx == TxMode::Migration {
                let _ = s.abort_transaction().await;
            }
        }
    }
}

/// What the run did from `base` to `now`: (changed, deleted).
fn done(base: &Checkpoint, now: &Checkpoint) -> (u64, u64) {
    let deleted = (now.deleted - base.deleted).max(0) as u64;
    let replaced = (now.replaced - base.replaced).max(0) as u64;
    (replaced + deleted, deleted)
}

/// Refuses a batch that would take the run from `base` past a ceiling of
/// the policy: `cp` is where the run stands before the batch, `batch` what
/// the batch adds, (changed, deleted).
fn within_limits(
    opts: &WriteOptions,
    migration: &str,
    base: &Checkpoint,
    cp: &Checkpoint,
    batch: (u64, u64),
) -> Result<()> {
    if !opts.limits.any() {
        return Ok(());
    }
    opts.limits
        .check(migration, done(base, cp), batch)
        .map_err(Into::into)
}

async fn commit(s: &mut ClientSession) -> Result<()> {
    for _ in 0..5 {
        match s.commit_transaction().await {
            Ok(()) => return Ok(()),
            Err(e) if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => return Err(MigrateError::db("cannot commit the batch", e)),
        }
    }
    Err(MigrateError::Database {
        context: "cannot commit the batch".into(),
        message: "the commit result stayed unknown after 5 tries".into(),
        labels: vec![TRANSIENT_TRANSACTION_ERROR.into()],
        cause: crate::error::DbCause::Other,
    })
}

/// `next` when what the batch changed and deleted, counted again after its
/// documents were transformed again in the transaction, keeps the run within
/// its ceilings.
fn within_limits_after(
    (opts, migration, base): (&WriteOptions, &str, &Checkpoint),
    cp: &Checkpoint,
    next: Checkpoint,
) -> Result<Checkpoint> {
    let (before, after) = (done(base, cp), done(base, &next));
    let batch = (
        after.0 - before.0.min(after.0),
        after.1 - before.1.min(after.1),
    );
    within_limits(opts, migration, base, cp, batch).map(|()| next)
}

/// Puts the halves of the range on `stack`, the first on top, and gives the
/// size of the first.
fn halve(stack: &mut Vec<(usize, usize)>, (lo, hi): (usize, usize)) -> usize {
    let mid = lo + (hi - lo) / 2;
    stack.push((mid, hi));
    stack.push((lo, mid));
    mid - lo
}
