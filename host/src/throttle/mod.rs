//! Holding a run back on a live deployment: what the writer stage checks
//! before each batch commit.
//!
//! - [`Controls`]: the limits (`ThrottleOptions`: `--max-rate`, `--max-lag`,
//!   `--max-latency`) and the pause switches a run obeys.
//! - `pace`: the rate limit, a virtual clock over documents committed (no
//!   bursts); `lag`: the largest replication lag of a secondary;
//!   `latency`: the moving average of this run's commit latency, with
//!   back-off.
//! - [`ThrottleState`]: `running`, or throttled and why.
//! - `gate`: the checks in order before each commit: the pause flag (read
//!   from the ledger about once a second, so `mongoshift pause` works from
//!   any machine and for every worker), replication lag, latency back-off,
//!   the rate.
//!
//! A pause never interrupts a commit: the batch being committed commits,
//! the next one waits, and the lease's heartbeat keeps the lock meanwhile.

mod controls;
mod gate;
mod lag;
mod latency;
mod pace;
mod state;

pub use crate::options::ThrottleOptions;
pub use controls::Controls;
pub(crate) use gate::{Gate, GateRun};
pub(crate) use pace::smooth_batch;
pub use state::{Reason, ThrottleState};
