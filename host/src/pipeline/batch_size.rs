//! The adaptive batch size: the reader cuts batches at the current size; the
//! writer halves it after a batch had to be split, and grows it back while
//! commits are fast.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A commit faster than this lets the batch size grow back.
const FAST_COMMIT: Duration = Duration::from_secs(1);

/// The batch size the reader cuts at, shared by the reader and the writer.
#[derive(Debug, Clone)]
pub(crate) struct BatchSize {
    now: Arc<AtomicUsize>,
    configured: usize,
}

impl BatchSize {
    /// Starts at the configured size, which it never grows beyond.
    pub(crate) fn new(configured: usize) -> BatchSize {
        BatchSize {
            now: Arc::new(AtomicUsize::new(configured)),
            configured,
        }
    }

    /// The size to cut the next batch at.
    pub(crate) fn get(&self) -> usize {
        self.now.load(Ordering::Relaxed)
    }

    /// After a batch was written in `took`: `shrunk` is the size the writer
    /// had to split it to, if it had to.
    pub(crate) fn after_write(&self, shrunk: Option<usize>, took: Duration) {
        let now = self.get();
        if let Some(size) = shrunk {
            self.now.store(size.max(1), Ordering::Relaxed);
        } else if took < FAST_COMMIT && now < self.configured {
            self.now
                .store((now * 2).min(self.configured), Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_on_a_split_and_grows_back_while_fast() {
        let size = BatchSize::new(1000);
        size.after_write(Some(250), Duration::from_millis(10));
        assert_eq!(size.get(), 250);
        size.after_write(None, Duration::from_millis(10));
        assert_eq!(size.get(), 500);
        size.after_write(None, Duration::from_secs(2));
        assert_eq!(size.get(), 500, "a slow commit does not grow it");
        size.after_write(None, Duration::from_millis(10));
        size.after_write(None, Duration::from_millis(10));
        assert_eq!(size.get(), 1000, "never beyond the configured size");
        size.after_write(Some(0), Duration::ZERO);
        assert_eq!(size.get(), 1);
    }
}
