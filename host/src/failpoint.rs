//! Fail points: named steps at which a test stops the process outright.
//!
//! `MONGOSHIFT_FAILPOINT=swap.after_fence` makes the process SIGKILL itself
//! (as `kill -9` would: no destructor, no flush, no lease release) the first
//! time it reaches the step of that name; `NAME:N` waits for the `N`th time
//! (`batch.after_commit:3`: after the third batch committed); several steps
//! are separated by commas. With `MONGOSHIFT_FAILPOINT_PAUSE_MS=M` the
//! process sleeps M ms there instead and goes on: a test widens a race
//! window to act inside it; `NAME:*` pauses at every hit. Compiled into
//! every build so tests exercise the binary users run; inert unless the
//! variable is set, and then a few string comparisons per step.
//!
//! A test stops a run at each step and checks that `up` finishes it and
//! `down` undoes it (`tests/integration/swap/`); random kills find what the
//! names missed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The environment variable naming the steps to stop at.
pub const ENV: &str = "MONGOSHIFT_FAILPOINT";
/// The environment variable making them pause instead (milliseconds).
pub const PAUSE_ENV: &str = "MONGOSHIFT_FAILPOINT_PAUSE_MS";

/// Every named step of a batch and of a rewrite, in the order a run reaches
/// them (the swap matrix stops at each); `down` from pre-images has its own
/// ([`RESTORE_MID_OUTPUTS`]).
pub const STEPS: &[&str] = &[
    // The commit of a batch (writer).
    BATCH_BEFORE_TRANSACTION,
    BATCH_BEFORE_COMMIT,
    BATCH_BEFORE_CHECKPOINT,
    BATCH_AFTER_COMMIT,
    // A rewrite's `up`.
    REWRITE_AFTER_CREATE,
    REWRITE_AFTER_COPY,
    REWRITE_AFTER_INDEXES,
    REWRITE_MID_CATCH_UP,
    SWAP_AFTER_FENCE,
    SWAP_MID_DRAIN,
    SWAP_BEFORE_RENAME,
    SWAP_AFTER_RENAME,
    SWAP_AFTER_WINDOW_DELETES,
    SWAP_BEFORE_DONE,
    // A rewrite's `down`.
    DOWN_AFTER_UNFENCE,
    DOWN_AFTER_BACKWARD,
    DOWN_AFTER_FENCE,
    DOWN_BEFORE_RENAME,
    DOWN_AFTER_RENAME,
    DOWN_BEFORE_DONE,
];

/// A batch is transformed and about to be committed (each attempt): its
/// transaction, when it has one, is not started.
pub const BATCH_BEFORE_TRANSACTION: &str = "batch.before_transaction";
/// Inside a batch's transaction, in place: the batch is read again (the
/// transaction's snapshot is fixed), nothing is written yet. Not among
/// [`STEPS`]: a run stopped here is stopped before its commit, as at
/// [`BATCH_BEFORE_COMMIT`]; tests pause here to land writes in the window.
pub const BATCH_AFTER_REREAD: &str = "batch.after_reread";
/// Inside a batch's transaction: its writes and checkpoint are sent, the
/// commit is not.
pub const BATCH_BEFORE_COMMIT: &str = "batch.before_commit";
/// Without transactions: a batch's writes are done, its checkpoint is not.
pub const BATCH_BEFORE_CHECKPOINT: &str = "batch.before_checkpoint";
/// A batch committed with its checkpoint (any transaction mode).
pub const BATCH_AFTER_COMMIT: &str = "batch.after_commit";
/// The shadow (and backup) collections exist, nothing is copied yet.
pub const REWRITE_AFTER_CREATE: &str = "rewrite.after_create";
/// Every document is copied; the indexes are not built.
pub const REWRITE_AFTER_COPY: &str = "rewrite.after_copy";
/// The indexes are built and the catch-up recorded as next.
pub const REWRITE_AFTER_INDEXES: &str = "rewrite.after_indexes";
/// The catch-up applied its first group of changes and saved its position.
pub const REWRITE_MID_CATCH_UP: &str = "rewrite.mid_catch_up";
/// The source is fenced; the stream is not drained.
pub const SWAP_AFTER_FENCE: &str = "swap.after_fence";
/// Part of the fenced drain is applied.
pub const SWAP_MID_DRAIN: &str = "swap.mid_drain";
/// Drained to the fence's marker; the rename is next.
pub const SWAP_BEFORE_RENAME: &str = "swap.before_rename";
/// The shadow is the collection; the swap is not recorded.
pub const SWAP_AFTER_RENAME: &str = "swap.after_rename";
/// Deletes that landed in the window are applied; `done` is not recorded.
pub const SWAP_AFTER_WINDOW_DELETES: &str = "swap.after_window_deletes";
/// Everything is in place; the ledger does not say so yet.
pub const SWAP_BEFORE_DONE: &str = "swap.before_done";
/// `down` of an unfinished rewrite: the fence is lifted, the copies not dropped.
pub const DOWN_AFTER_UNFENCE: &str = "down.after_unfence";
/// `down` by the backward transform: it ran; the backup is not dropped.
pub const DOWN_AFTER_BACKWARD: &str = "down.after_backward";
/// `down` to the backup: the rewritten collection is fenced.
pub const DOWN_AFTER_FENCE: &str = "down.after_fence";
/// `down` to the backup: counted and set aside; the rename is next.
pub const DOWN_BEFORE_RENAME: &str = "down.before_rename";
/// `down` to the backup: the backup is the collection again.
pub const DOWN_AFTER_RENAME: &str = "down.after_rename";
/// `down` is complete; the ledger does not say so yet.
pub const DOWN_BEFORE_DONE: &str = "down.before_done";

/// `down` from pre-images: a group of the outputs of a cross-collection run
/// is put back (restored or deleted), the rest are not.
pub const RESTORE_MID_OUTPUTS: &str = "restore.mid_outputs";
/// A rewrite with a postponed cut-over recorded that it waits for its swap
/// (and at each report after). Only a postponed run reaches it, so it is not
/// one of [`STEPS`].
pub const SWAP_WAITING: &str = "swap.waiting";

struct Armed {
    step: String,
    /// The hit to act at; 0 for every hit (`NAME:*`).
    nth: usize,
    hits: AtomicUsize,
}

struct Points {
    armed: Vec<Armed>,
    pause: Option<std::time::Duration>,
}

fn points() -> Option<&'static Points> {
    static POINTS: OnceLock<Option<Points>> = OnceLock::new();
    POINTS
        .get_or_init(|| {
            let v = std::env::var(ENV).ok()?;
            let armed = v
                .split(',')
                .map(|one| {
                    let (step, nth) = match one.trim().rsplit_once(':') {
                        Some((s, "*")) => (s.to_string(), 0),
                        Some((s, n)) => (s.to_string(), n.parse().unwrap_or(1)),
                        None => (one.trim().to_string(), 1),
                    };
                    Armed {
                        step,
                        nth,
                        hits: AtomicUsize::new(0),
                    }
                })
                .collect();
            let pause = std::env::var(PAUSE_ENV)
                .ok()
                .and_then(|ms| ms.trim().parse().ok())
                .map(std::time::Duration::from_millis);
            Some(Points { armed, pause })
        })
        .as_ref()
}

/// Stops (or pauses) the process here if the fail point `step` is armed
/// (and this is its `N`th hit).
pub(crate) fn hit(step: &str) {
    let Some(p) = points() else {
        return;
    };
    for a in &p.armed {
        if a.step == step && (a.nth == 0 || a.hits.fetch_add(1, Ordering::SeqCst) + 1 == a.nth) {
            if let Some(d) = p.pause {
                std::thread::sleep(d);
                return;
            }
            // SAFETY: signalling our own process; SIGKILL cannot be caught,
            // so nothing runs after it (that is the point).
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
        }
    }
}
