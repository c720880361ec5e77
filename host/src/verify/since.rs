//! The documents the application wrote since a migration was applied, read
//! from the change stream: a difference on one of them is the application's
//! doing, not the migration's.
//!
//! The rule: a document is "changed since" when the collection's change
//! stream, read from the position a rewrite recorded just before its swap
//! (across the swap's rename) up to now, holds a write to its `_id`. An
//! in-place run records no stream position, and a time is not enough (a
//! server may accept a start time it cannot honour and answer nothing);
//! when the stream cannot reach back (the oplog rolled over, too many
//! writes to hold), nothing is told apart: every difference counts, with a
//! note that some may be application writes.

use super::compare::Touched;
use super::report::Since;
use crate::batch::id_key;
use crate::ledger::RewriteState;
use crate::rewrite::written_since_swap;
use crate::target::Target;

/// The `_id` keys written to a rewritten collection since its swap, and how
/// they were told; no keys, with [`Since::Unknown`], when the stream cannot
/// say.
pub(crate) async fn touched(target: &Target, state: &RewriteState) -> (Touched, Since) {
    let unknown = |reason: String| (Touched::new(), Since::Unknown { reason });
    match written_since_swap(target, state).await {
        Ok(Some(ids)) => (
            ids.iter().map(id_key).collect(),
            Since::ChangeStream {
                from: "the swap".into(),
            },
        ),
        Ok(None) => unknown(
            "the change stream no longer reaches back to the swap (or the swap recorded no \
             position), or it holds too many writes since"
                .into(),
        ),
        Err(e) => unknown(format!(
            "the change stream cannot be read back to the swap ({})",
            crate::text::bounded(e.to_string().as_bytes(), 200)
        )),
    }
}
