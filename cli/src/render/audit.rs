//! The audit trail as a table.

use mongoshift::{AuditRow, AuditStatus};

use super::results::table;

/// One line per run, newest first.
pub(crate) fn audit(rows: &[AuditRow]) {
    if rows.is_empty() {
        println!("no runs recorded");
        return;
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.started_at.clone(),
                format!("{}@{}", r.by.user, r.by.host),
                r.command.clone(),
                or_dash(r.migrations.join(", ")),
                result(r),
                or_dash(
                    r.counts
                        .iter()
                        .map(|(c, n)| format!("{c} {n}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                r.policy_hash.clone().unwrap_or_else(|| "none".into()),
                r.signer.clone().unwrap_or_else(|| "none".into()),
            ]
        })
        .collect();
    table(
        &[
            "STARTED",
            "USER@HOST",
            "COMMAND",
            "MIGRATIONS",
            "RESULT",
            "DOCS CHANGED",
            "POLICY",
            "SIGNER",
        ],
        &cells,
    );
}

/// `ok`, `failed: <code>`, `refused: <code>`, `running`, `interrupted`.
fn result(r: &AuditRow) -> String {
    match (&r.status, &r.error) {
        (AuditStatus::Failed | AuditStatus::Refused, Some(e)) => {
            format!("{}: {}", r.status.as_str(), e.code)
        }
        (s, _) => s.as_str().to_string(),
    }
}

fn or_dash(s: String) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s
    }
}
