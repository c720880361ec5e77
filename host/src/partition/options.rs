//! [`DistributedOptions`]: how one worker of a distributed run works.

/// Documents per partition when not told: at the 16–22k replaced documents
/// a second measured on this project's 2-core development machine (see
/// docs/scaling.md), a partition of this size takes about a minute, long
/// enough that claiming it costs nothing and short enough that a worker that
/// dies loses little.
pub const DEFAULT_PARTITION_DOCS: u64 = 1_000_000;

/// A fixed share instead of claiming: `--partition K --of N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pinned {
    /// The partition this worker runs (0-based).
    pub index: u32,
    /// How many partitions the migration is split into.
    pub of: u32,
}

/// How one worker of a distributed run works.
#[derive(Debug, Clone)]
pub struct DistributedOptions {
    /// The worker's name, recorded as the owner of what it claims.
    pub worker: String,
    /// The documents a partition aims at.
    pub partition_docs: u64,
    /// Run one fixed partition of an exact split instead of claiming.
    pub pinned: Option<Pinned>,
}

impl DistributedOptions {
    /// A worker named `worker` (empty: the host name and process id).
    pub fn new(worker: impl Into<String>) -> Self {
        let worker = worker.into();
        let worker = if worker.is_empty() {
            format!("{}-{}", crate::lock::hostname(), std::process::id())
        } else {
            worker
        };
        DistributedOptions {
            worker,
            partition_docs: DEFAULT_PARTITION_DOCS,
            pinned: None,
        }
    }

    /// Sets the documents a partition aims at.
    pub fn partition_docs(mut self, n: u64) -> Self {
        self.partition_docs = n.max(1);
        self
    }

    /// Runs partition `index` of exactly `of` instead of claiming.
    pub fn pinned(mut self, index: u32, of: u32) -> Self {
        self.pinned = Some(Pinned { index, of });
        self
    }
}
