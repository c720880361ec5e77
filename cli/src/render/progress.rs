//! Progress events as bars, plain lines or JSON lines.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use mongoshift::{Direction, Event, ProgressSink};

use super::duration::ms;
use super::pace::Pace;
use crate::args::ProgressMode;

/// Renders progress events as bars, plain lines or JSON.
pub(crate) struct ProgressRenderer {
    mode: ProgressMode,
    /// Show transforms' log lines (`-v`); JSON lines always carry them.
    verbose: bool,
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    /// When each migration last printed a plain progress line.
    last_line: Mutex<HashMap<String, std::time::Instant>>,
    /// Each migration's rate and ETA, paused time left out.
    paces: Mutex<HashMap<String, Pace>>,
}

impl ProgressRenderer {
    pub(crate) fn new(mode: ProgressMode, verbose: bool) -> Self {
        let (mode, multi) = resolve(mode);
        ProgressRenderer {
            mode,
            verbose,
            multi,
            bars: Mutex::new(HashMap::new()),
            last_line: Mutex::new(HashMap::new()),
            paces: Mutex::new(HashMap::new()),
        }
    }

    /// How progress is shown (`auto` resolved for this terminal).
    pub(crate) fn mode(&self) -> ProgressMode {
        self.mode
    }

    /// Clears any bars left after a failure.
    pub(crate) fn finish(&self) {
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        for (_, b) in bars.drain() {
            b.abandon();
        }
    }

    /// The rate and ETA of migration `id` at `done`, in words.
    fn pace(&self, id: &str, done: u64, total: Option<u64>, paused_ms: u64) -> String {
        let mut paces = self.paces.lock().unwrap_or_else(|p| p.into_inner());
        paces
            .entry(id.to_string())
            .or_insert_with(Pace::new)
            .describe(done, total, paused_ms)
    }

    /// A bar for a migration of `total` documents, or a spinner.
    fn new_bar(&self, total: Option<u64>) -> ProgressBar {
        match total {
            Some(n) => {
                let b = self.multi.add(ProgressBar::new(n));
                b.set_style(
                    ProgressStyle::with_template(
                        "{prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} docs {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                b
            }
            None => {
                let b = self.multi.add(ProgressBar::new_spinner());
                b.set_style(
                    ProgressStyle::with_template("{spinner} {prefix:.bold} {elapsed} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                b.enable_steady_tick(Duration::from_millis(120));
                b
            }
        }
    }

    fn bar(&self, e: &Event) {
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        match e {
            Event::MigrationStarted {
                id,
                kind,
                direction,
                total,
                ..
            } => {
                let bar = self.new_bar(*total);
                bar.set_prefix(format!("{} {id} ({kind})", arrow(*direction)));
                bars.insert(id.clone(), bar);
            }
            Event::StepStarted {
                id,
                step,
                description,
            } => {
                if let Some(b) = bars.get(id) {
                    b.set_message(format!("step {step}: {description}"));
                }
            }
            Event::Documents {
                id,
                done,
                total,
                replaced,
                deleted,
                failed,
                paused_ms,
                ..
            } => {
                if let Some(b) = bars.get(id) {
                    b.set_position(*done);
                    let pace = self.pace(id, *done, *total, *paused_ms);
                    b.set_message(format!(
                        "{}replaced {replaced} deleted {deleted} failed {failed}",
                        pace.strip_prefix(", ")
                            .map_or(String::new(), |p| format!("{p}, "))
                    ));
                }
            }
            Event::Throttle { id, .. }
            | Event::Paused { id, .. }
            | Event::Resumed { id, .. }
            | Event::SwapWaiting { id, .. }
            | Event::SwapRequested { id, .. } => {
                if let Some(line) = control_line(e) {
                    let _ = self.multi.println(format!("  {id}: {line}"));
                }
            }
            Event::MigrationFinished {
                id,
                matched,
                modified,
                duration_ms,
                ..
            } => {
                if let Some(b) = bars.remove(id) {
                    b.finish_with_message(format!(
                        "done: {modified} modified of {matched} matched in {}",
                        ms(*duration_ms)
                    ));
                }
            }
            Event::MigrationFailed { id, .. } => {
                if let Some(b) = bars.remove(id) {
                    b.abandon_with_message("FAILED");
                }
            }
            Event::LockWaiting { owner } => {
                let _ = self
                    .multi
                    .println(format!("waiting for the migration lock held by {owner}"));
            }
            Event::Warning { id, message } => {
                let _ = self.multi.println(format!("warning: {id}: {message}"));
            }
            Event::Partitions { id, .. } => {
                if let Some(b) = bars.get(id) {
                    b.set_message(super::distributed::progress_line(e));
                }
            }
            Event::GuestLog { .. } | Event::GuestLogDropped { .. } => {
                if let Some(line) = guest_log(e) {
                    let _ = self.multi.println(line);
                }
            }
            _ => {}
        }
    }
}

impl ProgressSink for ProgressRenderer {
    fn event(&self, e: &Event) {
        let guest = matches!(e, Event::GuestLog { .. } | Event::GuestLogDropped { .. });
        if guest && !self.verbose && self.mode != ProgressMode::Json {
            return;
        }
        match self.mode {
            ProgressMode::Bar => self.bar(e),
            ProgressMode::Plain => {
                // Document counts at most every 2 s (and the last one), so logs stay short.
                if let Event::Documents {
                    id, done, total, ..
                } = e
                {
                    let mut last = self.last_line.lock().unwrap_or_else(|p| p.into_inner());
                    let now = std::time::Instant::now();
                    let due = last
                        .get(id)
                        .is_none_or(|t| now.duration_since(*t) >= Duration::from_secs(2));
                    if !(due || Some(*done) == *total) {
                        return;
                    }
                    last.insert(id.clone(), now);
                }
                if let Event::Documents {
                    id,
                    done,
                    total,
                    paused_ms,
                    ..
                } = e
                {
                    return plain(e, &self.pace(id, *done, *total, *paused_ms));
                }
                plain(e, "")
            }
            ProgressMode::Json => {
                if let Ok(line) = serde_json::to_string(e) {
                    // A reader that went away (`| head`) does not stop the
                    // migration: progress is only reported.
                    let _ = writeln!(std::io::stdout().lock(), "{line}");
                }
                audit_warning(e);
            }
            ProgressMode::None | ProgressMode::Auto => audit_warning(e),
        }
    }
}

/// A run the audit trail could not record is said on stderr whatever the
/// progress mode: an operator relying on the trail must hear of a gap.
fn audit_warning(e: &Event) {
    if let Event::Warning { id, message } = e {
        if id == mongoshift::audit::AUDIT_COLLECTION {
            eprintln!("warning: {id}: {message}");
        }
    }
}

/// `auto` resolved for this terminal (bars on a terminal, plain lines
/// otherwise), and where bars draw: stderr in bar mode, nowhere else.
pub(super) fn resolve(mode: ProgressMode) -> (ProgressMode, MultiProgress) {
    let mode = match mode {
        ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Bar,
        ProgressMode::Auto => ProgressMode::Plain,
        m => m,
    };
    let target = if mode == ProgressMode::Bar {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    (mode, MultiProgress::with_draw_target(target))
}

fn arrow(d: Direction) -> &'static str {
    match d {
        Direction::Up => "up",
        Direction::Down => "down",
    }
}

/// `eprintln!` that ignores a closed stderr: progress is only reported, and a
/// reader that went away must not stop a migration half-way.
macro_rules! say {
    ($($t:tt)*) => {{
        let _ = writeln!(std::io::stderr().lock(), $($t)*);
    }};
}

/// `e` as a plain line; `pace` follows a document count.
fn plain(e: &Event, pace: &str) {
    match e {
        Event::LockWaiting { owner } => say!("waiting for the migration lock held by {owner}"),
        Event::MigrationStarted {
            id,
            kind,
            direction,
            ..
        } => say!("{} {id} ({kind}) ...", arrow(*direction)),
        Event::StepStarted {
            id,
            step,
            description,
        } => say!("  {id} step {step}: {description}"),
        Event::StepFinished {
            id,
            step,
            matched,
            modified,
        } => {
            say!("  {id} step {step}: {modified} modified of {matched} matched")
        }
        Event::Throttle { id, .. }
        | Event::Paused { id, .. }
        | Event::Resumed { id, .. }
        | Event::SwapWaiting { id, .. }
        | Event::SwapRequested { id, .. } => {
            if let Some(line) = control_line(e) {
                say!("  {id}: {line}");
            }
        }
        Event::Documents {
            id,
            done,
            total,
            replaced,
            deleted,
            failed,
            ..
        } => say!(
            "  {id}: {done}/{} docs, replaced {replaced} deleted {deleted} failed {failed}{pace}",
            total.map_or("?".into(), |t| t.to_string())
        ),
        Event::MigrationFinished {
            id,
            direction,
            matched,
            modified,
            duration_ms,
        } => say!(
            "{} {id}: done, {modified} modified of {matched} matched in {}",
            arrow(*direction),
            ms(*duration_ms)
        ),
        // The error itself is printed once, at the end of the run.
        Event::MigrationFailed { id, direction, .. } => {
            say!("{} {id}: FAILED (the error follows)", arrow(*direction))
        }
        Event::Warning { id, message } => say!("warning: {id}: {message}"),
        Event::Partitions { id, .. } => {
            say!("  {id}: {}", super::distributed::progress_line(e))
        }
        Event::GuestLog { .. } | Event::GuestLogDropped { .. } => {
            if let Some(line) = guest_log(e) {
                say!("{line}");
            }
        }
        _ => {}
    }
}

/// A transform's log line as `-v` shows it: `  <id> [batch 3, _id 7] warn: …`.
fn guest_log(e: &Event) -> Option<String> {
    match e {
        Event::GuestLog {
            id,
            batch,
            document,
            level,
            message,
        } => {
            let at = match document {
                Some(d) => format!("batch {batch}, _id {d}"),
                None => format!("batch {batch}"),
            };
            Some(format!("  {id} [{at}] {}: {message}", level.name()))
        }
        Event::GuestLogDropped { id, batch, dropped } => Some(format!(
            "  {id} [batch {batch}] … {dropped} more lines dropped (a batch keeps at most 200 lines, 64 KiB)"
        )),
        _ => None,
    }
}

/// A throttle, pause or cut-over event in words.
fn control_line(e: &Event) -> Option<String> {
    match e {
        Event::Throttle { state, reason, .. } => Some(match reason {
            Some(r) => format!("{state}: {r}"),
            None => format!("{state} (no limit holds it back)"),
        }),
        Event::Paused { by, .. } => Some(format!(
            "paused by {by}; the lock is held; waiting for `mongoshift resume`"
        )),
        Event::Resumed { paused_ms, .. } => {
            Some(format!("resumed after {} paused", ms(*paused_ms)))
        }
        Event::SwapWaiting {
            id,
            lag_s,
            pending,
            applied,
            swap_at,
        } => Some(format!(
            "copy ready, {}; waiting for `mongoshift swap {id}`{}",
            super::cutover::behind(*lag_s, *pending, *applied),
            swap_at
                .as_ref()
                .map_or(String::new(), |t| format!(" (or {t})"))
        )),
        Event::SwapRequested { by, .. } => Some(format!(
            "swap asked for by {by}: draining the change stream and swapping"
        )),
        _ => None,
    }
}
