//! Partitions: one migration's `_id` space cut into ranges that any number
//! of worker processes share.
//!
//! The worker that first holds the migration lock splits the collection once
//! (from the chunk table on a sharded cluster, else from `$bucketAuto` on
//! `_id`) and records one document per range in
//! [`PARTITIONS_COLLECTION`](crate::ledger::PARTITIONS_COLLECTION). Every
//! worker then claims a partition with one atomic `findOneAndUpdate` that sets
//! its name, a lease and a new fencing token, runs the usual pipeline over the
//! range from the partition's checkpoint (each batch moves that checkpoint in
//! its own transaction, fenced by the token), and marks it done; the
//! transaction that marks the last one done marks the migration applied.
//! `_id` is immutable, so a document never moves between ranges; the first
//! range starts at `MinKey` and the last ends at `MaxKey`, so documents
//! inserted after the split are covered too. A worker that dies stops
//! renewing its lease; the partition is claimed again after it expires and
//! goes on from its checkpoint.
//!
//! - [`Range`]: an `_id` range and the filter that reads it.
//! - `split`: how many ranges, and where they start; `chunks`: the ranges of
//!   a sharded collection's chunk table ([`ranges_from_chunks`]).
//! - [`Partition`] and its [`PartitionState`]: the recorded document;
//!   `record`: writing the split once, reading it back.
//! - [`Claim`]: a held partition and its heartbeat; `finish`: marking it
//!   done (and the migration applied), or handing it back.
//! - `overview`: how far each migration's partitions are, and which workers
//!   hold them now, for `status` and `workers`.
//! - `withdraw`: a run without `--distributed` meeting a shared migration
//!   (`up` refuses one left part-way, `down` takes its partitions back).
//! - [`DistributedOptions`]: the worker's name, the partition size, a fixed
//!   share.

mod chunks;
mod claim;
mod finish;
mod options;
mod overview;
mod range;
mod record;
mod split;
mod withdraw;

pub use chunks::ranges_from_chunks;
pub use claim::Claim;
pub use options::{DistributedOptions, Pinned, DEFAULT_PARTITION_DOCS};
pub use overview::{all_partitions, counts, live_workers, LiveWorker, PartitionCounts};
pub use range::Range;
pub use record::{Partition, PartitionState};
pub use split::split;

pub(crate) use crate::ledger::AfterLast;
pub(crate) use claim::claim;
pub(crate) use finish::{complete, hand_back};
pub(crate) use record::{collection_uuid, forget, load, record, RecordedBy};
pub(crate) use withdraw::{check_unshared, withdraw};
