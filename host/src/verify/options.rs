//! [`VerifyOptions`]: how much `verify --data` shows and reads at once.

/// How much `verify --data` shows and reads at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyOptions {
    /// How many differences the report lists (all are counted).
    pub show: usize,
    /// Documents per range: each range is read, transformed and hashed as
    /// one, so this bounds memory.
    pub range_docs: usize,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            show: 10,
            range_docs: 1000,
        }
    }
}

impl VerifyOptions {
    /// List up to `n` differences.
    pub fn show(mut self, n: usize) -> Self {
        self.show = n;
        self
    }

    /// Read, transform and hash `n` documents at a time (at least 1).
    pub fn range_docs(mut self, n: usize) -> Self {
        self.range_docs = n.max(1);
        self
    }
}
