//! [`PipelineOptions`]: how big the batches are and how many run at once.

/// How a pipeline runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineOptions {
    /// Documents per batch (one Wasm call each).
    pub batch_size: usize,
    /// Worker threads, each with its own instance.
    pub threads: usize,
    /// Batches read but not yet written, at most.
    pub max_in_flight: usize,
}

impl PipelineOptions {
    /// `batch_size` documents per batch; `threads` workers (0: one per core).
    pub fn new(batch_size: usize, threads: usize) -> Self {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(2, usize::from)
        } else {
            threads
        };
        PipelineOptions {
            batch_size: batch_size.max(1),
            threads,
            max_in_flight: threads * 2 + 2,
        }
    }
}
