//! The results of `mongoshift test`: a line per case, the diff of each
//! failing one, a note per skipped migration, and the summary line.

use std::path::Path;

use mongoshift::fixture::{MigrationResult, Summary};

/// Prints `results` for people; file names are shown from `dir` (the
/// migrations directory).
pub(crate) fn fixtures(results: &[MigrationResult], dir: &Path) {
    for r in results {
        if let Some(why) = &r.skipped {
            println!("{}: skipped, {why}", r.id);
            continue;
        }
        println!("{}", r.id);
        for c in &r.cases {
            let file = c.file.strip_prefix(dir).unwrap_or(&c.file);
            let mark = if c.passed() { "ok  " } else { "FAIL" };
            println!(
                "  {mark} {} case {} ({})",
                file.display(),
                c.case,
                c.direction
            );
            for p in &c.problems {
                println!("         {p}");
            }
        }
    }
    println!("{}", Summary::of(results));
}

/// Prints `results` and the summary as one JSON document.
pub(crate) fn fixtures_json(results: &[MigrationResult]) -> anyhow::Result<()> {
    let report = serde_json::json!({
        "migrations": results,
        "summary": Summary::of(results),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
