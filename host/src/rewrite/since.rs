//! What the application wrote to a rewritten collection since its swap,
//! read from the change stream across the swap's rename: for checks that
//! must tell the application's writes apart from the migration's.

use std::time::Duration;

use bson::Bson;

use super::crossing::Crossing;
use crate::error::Result;
use crate::ledger::RewriteState;
use crate::target::Target;

/// How long the stream must answer nothing to be caught up with now.
const QUIET: Duration = Duration::from_millis(500);
/// How long reading may take before giving up.
const LIMIT: Duration = Duration::from_secs(60);
/// How many written `_id`s are held at most.
const MAX_IDS: usize = 1_000_000;

/// The `_id`s inserted, changed or deleted in `state`'s collection since
/// its swap, up to now. `None` when the swap recorded no stream position,
/// the oplog no longer reaches back to it, or there are too many to hold.
pub(crate) async fn written_since_swap(
    target: &Target,
    state: &RewriteState,
) -> Result<Option<Vec<Bson>>> {
    let Some(mut history) = after_the_swap(target, state).await? else {
        return Ok(None);
    };
    history.new_changes_so_far(QUIET, LIMIT, MAX_IDS).await
}

/// `state`'s collection's history read from the position recorded before
/// its swap, up to the swap's rename (the old collection's end): what
/// follows is what the application did since. `None` when the swap
/// recorded no position or the oplog no longer reaches back to it.
pub(super) async fn after_the_swap<'a>(
    target: &'a Target,
    state: &RewriteState,
) -> Result<Option<Crossing<'a>>> {
    let Some(from) = &state.swap_token else {
        return Ok(None);
    };
    let old = state.source_uuid.clone();
    let new = state.shadow_uuid.clone();
    let Some(mut history) = Crossing::open(target, &state.collection, from, old, new).await? else {
        return Ok(None);
    };
    history.old_history().await?;
    Ok(Some(history))
}
