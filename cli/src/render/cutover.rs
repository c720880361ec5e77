//! A rewrite's cut-over in words: how far behind a copy waiting for
//! `mongoshift swap` is, and how long an applied rewrite's swap refused
//! writes.

use mongoshift::StatusRow;

use super::duration::ms;

/// How far behind the copy is: the lag of the last change applied, the
/// changes still to apply, and those applied while waiting.
pub(super) fn behind(lag_s: f64, pending: i64, applied: i64) -> String {
    let lag = if lag_s <= 0.0 && pending == 0 {
        "caught up".to_string()
    } else {
        format!("{lag_s:.0} s behind, {pending} change(s) to apply")
    };
    format!("{lag}; {applied} change(s) applied while waiting")
}

/// The lines `status` prints under its table about `r`'s cut-over.
pub(super) fn status_lines(r: &StatusRow) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(w) = &r.waiting_for_swap {
        let since = w
            .since
            .try_to_rfc3339_string()
            .unwrap_or_else(|_| "?".into());
        let at = r
            .swap_at
            .as_ref()
            .map_or(String::new(), |t| format!(", or by itself at {t}"));
        let asked = match &r.swap_requested_by {
            Some(by) => format!("; swap asked for by {by}"),
            None => format!("; `mongoshift swap {}` swaps{at}", r.id),
        };
        lines.push(format!(
            "{}: waiting for its swap since {since}: {}{asked}",
            r.id,
            behind(w.lag_s, w.pending, w.applied)
        ));
    }
    if let Some(w) = r.swap_window_ms {
        lines.push(format!(
            "{}: swap window: writes refused for {}",
            r.id,
            ms(w.max(0) as u64)
        ));
    }
    lines
}
