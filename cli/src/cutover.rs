//! When `up` swaps a rewrite's copy in: the flags `--postpone-swap` and
//! `--swap-at`; see docs/operations.md ("Choosing the cut-over").

use clap::Args;
use mongoshift::Cutover;

/// The cut-over flags of `up`.
#[derive(Debug, Args)]
pub(crate) struct CutoverArgs {
    /// Rewrites: after the copy and the catch-up, keep the copy up to date
    /// from the change stream and wait for `mongoshift swap ID` before
    /// swapping (refused for a migration that runs in place)
    #[arg(long, conflicts_with_all = ["dry_run", "distributed"])]
    pub(crate) postpone_swap: bool,
    /// Rewrites: postpone the swap until this time (RFC 3339, e.g.
    /// 2030-01-15T02:00:00Z), or an earlier `mongoshift swap ID`
    #[arg(long, value_name = "TIME", value_parser = swap_at, conflicts_with_all = ["dry_run", "distributed"])]
    pub(crate) swap_at: Option<bson::DateTime>,
}

impl CutoverArgs {
    /// What the flags ask of the engine.
    pub(crate) fn options(&self) -> Cutover {
        Cutover {
            postpone: self.postpone_swap,
            swap_at: self.swap_at,
        }
    }
}

/// `--swap-at`: an RFC 3339 time, in the future.
fn swap_at(s: &str) -> Result<bson::DateTime, String> {
    let t = bson::DateTime::parse_rfc3339_str(s).map_err(|_| {
        format!(
            "{s:?} is not an RFC 3339 time with its offset (e.g. 2030-01-15T02:00:00Z or \
             2030-01-15T04:00:00+02:00)"
        )
    })?;
    if t <= bson::DateTime::now() {
        return Err(format!(
            "{s} is in the past: give a time to come, or use --postpone-swap and run \
             `mongoshift swap ID` when ready"
        ));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_at_takes_a_future_rfc3339_time_only() {
        assert!(swap_at("2999-01-01T00:00:00Z").is_ok());
        assert!(swap_at("2999-01-01T02:00:00+02:00").is_ok());
        let past = swap_at("2001-01-01T00:00:00Z").expect_err("past");
        assert!(past.contains("in the past"), "{past}");
        let bad = swap_at("02:00").expect_err("not RFC 3339");
        assert!(bad.contains("not an RFC 3339 time"), "{bad}");
    }
}
