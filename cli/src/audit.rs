//! `mongoshift audit`: the audit trail of the target database, newest
//! first; see docs/operations.md ("Audit trail").

use clap::Args;
use mongoshift::{AuditFilter, AuditLog, AuditRow, Target};

use crate::{exit, render};

/// The flags of `audit`.
#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// Print one JSON object per line (for shipping elsewhere)
    #[arg(long)]
    pub(crate) json: bool,
    /// At most N records, the newest
    #[arg(long, value_name = "N")]
    pub(crate) limit: Option<u64>,
    /// Only runs of this migration
    #[arg(long, value_name = "ID")]
    pub(crate) migration: Option<String>,
    /// Only runs started at or after this time (RFC 3339, e.g.
    /// 2026-01-15T00:00:00Z)
    #[arg(long, value_name = "TIME", value_parser = since)]
    pub(crate) since: Option<bson::DateTime>,
}

impl AuditArgs {
    fn filter(&self) -> AuditFilter {
        AuditFilter {
            limit: self.limit,
            migration: self.migration.clone(),
            since: self.since,
        }
    }
}

/// `audit`: lists the records the flags choose.
pub(crate) async fn run(target: &Target, args: AuditArgs) -> anyhow::Result<u8> {
    let records = AuditLog::new(target).list(&args.filter()).await?;
    let now = bson::DateTime::now();
    let rows: Vec<AuditRow> = records.iter().map(|r| AuditRow::of(r, now)).collect();
    if args.json {
        for row in &rows {
            println!("{}", serde_json::to_string(row)?);
        }
    } else {
        render::audit(&rows);
    }
    Ok(exit::OK)
}

/// `--since`: an RFC 3339 time.
fn since(s: &str) -> Result<bson::DateTime, String> {
    bson::DateTime::parse_rfc3339_str(s).map_err(|_| {
        format!(
            "{s:?} is not an RFC 3339 time with its offset (e.g. 2026-01-15T00:00:00Z or \
             2026-01-15T02:00:00+02:00)"
        )
    })
}
