//! [`Cutover`]: when a rewrite swaps its copy in.

use bson::DateTime;

/// When a rewrite's shadow replaces the collection. By default right after
/// the catch-up; postponed, the run keeps the copy up to date from the
/// change stream until `mongoshift swap` asks for the swap, or until
/// `swap_at`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cutover {
    /// Wait for `mongoshift swap` after the catch-up (`up --postpone-swap`).
    pub postpone: bool,
    /// Swap by itself at this time, unless asked earlier (`up --swap-at`);
    /// it postpones the swap until then.
    pub swap_at: Option<DateTime>,
}

impl Cutover {
    /// Whether the swap waits for a request or a time.
    pub fn postponed(&self) -> bool {
        self.postpone || self.swap_at.is_some()
    }
}
