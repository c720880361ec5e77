//! What commands found or did: tables, plans, reports, on stdout.

use mongoshift::policy::Verdict;
use mongoshift::{Direction, DryRunReport, Plan, Report, StatusRow, VerifyRow};

use super::duration::ms;
use crate::args::ProgressMode;

/// A table with a header row, columns padded to their widest cell.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) {
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
    // The signer's column only once a run checked signatures.
    let signed = rows.iter().any(|r| r.signer.is_some());
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut cells = vec![
                r.id.clone(),
                r.kind.clone(),
                match &r.baselined_from {
                    Some(from) => format!("{} (from {from})", r.status),
                    None => r.status.to_string(),
                },
                r.applied_at.clone().unwrap_or_else(|| "-".into()),
                docs_cell(r),
                r.duration_ms.map_or("-".into(), |d| ms(d.max(0) as u64)),
                match r.checksum_ok {
                    Some(true) => "ok".into(),
                    Some(false) => "CHANGED".into(),
                    None => "-".into(),
                },
            ];
            if signed {
                cells.push(r.signer.clone().unwrap_or_else(|| "-".into()));
            }
            cells
        })
        .collect();
    let mut headers = vec![
        "ID",
        "KIND",
        "STATE",
        "APPLIED AT",
        "DOCS (modified/matched)",
        "DURATION",
        "CHECKSUM",
    ];
    if signed {
        headers.push("SIGNER");
    }
    table(&headers, &table_rows);
    for r in rows {
        if let Some(by) = &r.paused_by {
            println!(
                "{}: paused by {by}; `mongoshift resume {}` goes on",
                r.id, r.id
            );
        }
        if let Some(t) = &r.throttle {
            println!("{}: {t}", r.id);
        }
        for line in super::cutover::status_lines(r) {
            println!("{line}");
        }
    }
}

/// `modified/matched`, and what went to other collections.
fn docs_cell(r: &StatusRow) -> String {
    match (r.modified, r.matched) {
        (Some(m), Some(n)) => {
            let out: String = r
                .outputs
                .iter()
                .map(|(c, k)| format!(", {k} to {c}"))
                .collect();
            format!("{m}/{n}{out}")
        }
        _ => "-".into(),
    }
}

pub(crate) fn plan(plan: &Plan) {
    let verb = match plan.direction {
        Direction::Up => "apply",
        Direction::Down => "roll back",
    };
    if !plan.adopted_from_beanie.is_empty() {
        println!(
            "would adopt {} migration(s) Beanie's migrations_log records as applied (baselined, \
             not run): {}",
            plan.adopted_from_beanie.len(),
            plan.adopted_from_beanie.join(", ")
        );
        println!(
            "  Beanie's migrations_log is kept current as Python files are applied or rolled back"
        );
    }
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
        if m.sandboxed {
            println!("    sandboxed: its transform runs in the Wasm sandbox");
        } else {
            println!("    not sandboxed: it runs with the full rights of the user mongoshift connects as");
        }
        let file = plan
            .policy
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        match &m.policy {
            Some(Verdict::Allowed) => println!("    policy: allowed"),
            Some(Verdict::Refused { rule, line, reason }) => {
                println!("    policy: refused by rule `{rule}` ({file}, line {line}): {reason}")
            }
            _ => {}
        }
        for w in &m.warnings {
            println!("    warning: {w}");
        }
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

pub(crate) fn dry_run(report: &DryRunReport) {
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
            for (collection, n) in &m.outputs {
                println!("    outputs to {collection}: {n}");
                for e in m
                    .output_examples
                    .iter()
                    .filter(|e| &e.collection == collection)
                {
                    println!("      {} from _id {}: {}", e.op, e.from, e.document);
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
