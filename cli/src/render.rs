//! Rendering: progress bars, plain progress lines, JSON events, tables.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use mongoshift::{Direction, Event, Plan, ProgressSink, Report, StatusRow, VerifyRow};

use crate::cli::ProgressMode;

/// Renders progress events as bars, plain lines or JSON.
pub(crate) struct ProgressRenderer {
    mode: ProgressMode,
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    /// When each migration last printed a plain progress line.
    last_line: Mutex<HashMap<String, std::time::Instant>>,
}

impl ProgressRenderer {
    pub(crate) fn new(mode: ProgressMode) -> Self {
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
        ProgressRenderer {
            mode,
            multi: MultiProgress::with_draw_target(target),
            bars: Mutex::new(HashMap::new()),
            last_line: Mutex::new(HashMap::new()),
        }
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
            _ => {}
        }
    }
}

impl ProgressSink for ProgressRenderer {
    fn event(&self, e: &Event) {
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
        _ => {}
    }
}

fn ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}

fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let s: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", s.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    for r in rows {
        line(r.clone());
    }
}

pub(crate) fn status_table(rows: &[StatusRow]) {
    if rows.is_empty() {
        println!("no migrations");
        return;
    }
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.kind.clone(),
                r.status.to_string(),
                r.applied_at.clone().unwrap_or_else(|| "-".into()),
                match (r.modified, r.matched) {
                    (Some(m), Some(n)) => format!("{m}/{n}"),
                    _ => "-".into(),
                },
                r.duration_ms.map_or("-".into(), |d| ms(d.max(0) as u64)),
                match r.checksum_ok {
                    Some(true) => "ok".into(),
                    Some(false) => "CHANGED".into(),
                    None => "-".into(),
                },
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "KIND",
            "STATE",
            "APPLIED AT",
            "DOCS (modified/matched)",
            "DURATION",
            "CHECKSUM",
        ],
        &rows,
    );
}

pub(crate) fn plan(plan: &Plan) {
    let verb = match plan.direction {
        Direction::Up => "apply",
        Direction::Down => "roll back",
    };
    if plan.migrations.is_empty() {
        println!("nothing to {verb}");
        return;
    }
    println!("would {verb} {} migration(s):", plan.migrations.len());
    for m in &plan.migrations {
        println!(
            "  {} ({}, now {}){}",
            m.id,
            m.kind,
            m.status,
            if m.description.is_empty() {
                String::new()
            } else {
                format!(": {}", m.description)
            }
        );
        for (i, s) in m.steps.iter().enumerate() {
            match s.matching {
                Some(n) => println!("    {}. {} ({n} documents match)", i + 1, s.description),
                None => println!("    {}. {}", i + 1, s.description),
            }
        }
        println!("    guarantee: {}", m.guarantee);
    }
    println!("guarantee: {}", plan.guarantee);
}

pub(crate) fn report(report: &Report, verb: &str, mode: ProgressMode) {
    if mode == ProgressMode::Json {
        return; // the events already said it
    }
    if report.completed.is_empty() {
        println!("nothing to do: the database is up to date");
    } else {
        println!(
            "{verb} {} migration(s): {}",
            report.completed.len(),
            report.ids().join(", ")
        );
    }
}

pub(crate) fn dry_run(report: &mongoshift::DryRunReport) {
    if report.migrations.is_empty() {
        println!("dry run: nothing to apply");
        return;
    }
    println!("dry run: nothing was written");
    for m in &report.migrations {
        println!("  {} ({})", m.id, m.kind);
        if m.docs_per_sec.is_some() {
            println!(
                "    {} of {} documents transformed: keep {}, replace {}, delete {}, fail {}",
                m.sampled, m.total, m.kept, m.replaced, m.deleted, m.failed
            );
            if let (Some(rate), Some(est)) = (m.docs_per_sec, m.estimated_seconds) {
                println!("    {rate:.0} documents/s read and transformed; all {} in about {est:.1}s plus writing", m.total);
            }
            for d in &m.diffs {
                println!("    _id {} -> {}", d.id, d.outcome);
                println!("      before: {}", d.before);
                if let Some(a) = &d.after {
                    println!("      after:  {a}");
                }
                if let Some(e) = &d.error {
                    println!("      error:  {e}");
                }
            }
        }
        if let Some(n) = &m.note {
            println!("    note: {n}");
        }
    }
}

/// Prints the verify table and returns how many rows differ.
pub(crate) fn verify(rows: &[VerifyRow]) -> usize {
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.state.to_string(),
                if r.ok() {
                    "ok".into()
                } else if r.on_disk.is_none() {
                    "MISSING ON DISK".into()
                } else {
                    "CHANGED".into()
                },
            ]
        })
        .collect();
    if rows.is_empty() {
        println!("no applied migrations to verify");
    } else {
        table(&["ID", "STATE", "CHECKSUM"], &table_rows);
    }
    rows.iter().filter(|r| !r.ok()).count()
}
