//! Progress events as bars, plain lines or JSON lines.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use mongoshift::{Direction, Event, ProgressSink};

use super::duration::ms;
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
                let bar = match total {
                    Some(n) => {
                        let b = self.multi.add(ProgressBar::new(*n));
                        b.set_style(
                            ProgressStyle::with_template(
                                "{prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} docs, eta {eta} {msg}",
                            )
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                        );
                        b
                    }
                    None => {
                        let b = self.multi.add(ProgressBar::new_spinner());
                        b.set_style(
                            ProgressStyle::with_template(
                                "{spinner} {prefix:.bold} {elapsed} {msg}",
                            )
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                        );
                        b.enable_steady_tick(Duration::from_millis(120));
                        b
                    }
                };
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
                replaced,
                deleted,
                failed,
                ..
            } => {
                if let Some(b) = bars.get(id) {
                    b.set_position(*done);
                    b.set_message(format!(
                        "{:.0} docs/s, replaced {replaced} deleted {deleted} failed {failed}",
                        b.per_sec()
                    ));
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
                plain(e)
            }
            ProgressMode::Json => {
                if let Ok(line) = serde_json::to_string(e) {
                    // A reader that went away (`| head`) does not stop the
                    // migration: progress is only reported.
                    let _ = writeln!(std::io::stdout().lock(), "{line}");
                }
            }
            ProgressMode::None | ProgressMode::Auto => {}
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

fn plain(e: &Event) {
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
        Event::Documents {
            id,
            done,
            total,
            replaced,
            deleted,
            failed,
        } => say!(
            "  {id}: {done}/{} docs, replaced {replaced} deleted {deleted} failed {failed}",
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
