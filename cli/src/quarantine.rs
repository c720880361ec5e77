//! `mongoshift quarantine list|show|export|replay`.

use std::io::Write;

use anyhow::Context;
use bson::Bson;
use mongoshift::quarantine;
use mongoshift::Migrator;

use crate::args::QuarantineAction;
use crate::exit;
use crate::render::quarantine as render;
use crate::usage::UsageError;

/// Runs one `quarantine` action.
pub(crate) async fn run(migrator: &Migrator, action: QuarantineAction) -> anyhow::Result<u8> {
    let target = migrator.target();
    match action {
        QuarantineAction::List { id: None, json } => {
            let all = quarantine::summaries(target).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                render::summaries(&all);
            }
        }
        QuarantineAction::List { id: Some(id), json } => {
            let entries = quarantine::entries(target, Some(&id), None).await?;
            if json {
                render::json_lines(&entries)?;
            } else {
                render::list(&id, &entries);
            }
        }
        QuarantineAction::Show { id, document, json } => {
            let mut entries = quarantine::entries(target, Some(&id), None).await?;
            if let Some(text) = document {
                let wanted = parse_id(&text)?;
                entries.retain(|e| e.id() == wanted);
                if entries.is_empty() {
                    anyhow::bail!("{id} set no document with _id {text} aside");
                }
            }
            if json {
                render::json_lines(&entries)?;
            } else {
                render::show(&id, &entries);
            }
        }
        QuarantineAction::Export { id, output } => {
            let entries = quarantine::entries(target, Some(&id), None).await?;
            let mut out: Box<dyn Write> = match &output {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("cannot write {}", path.display()))?,
                )),
                None => Box::new(std::io::stdout().lock()),
            };
            for e in &entries {
                let line = Bson::Document(e.original.clone()).into_canonical_extjson();
                writeln!(out, "{line}")?;
            }
            out.flush()?;
            if let Some(path) = output {
                eprintln!(
                    "{} document(s) of {id} written to {}",
                    entries.len(),
                    path.display()
                );
            }
        }
        QuarantineAction::Replay { id, json } => {
            let report = migrator.replay_quarantine(&id).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                render::replay(&report);
            }
            if report.failing > 0 {
                return Ok(exit::FAILED);
            }
        }
    }
    Ok(exit::OK)
}

/// An `_id` given on the command line, in Extended JSON (a bare word that is
/// not JSON is taken as a string).
fn parse_id(text: &str) -> anyhow::Result<Bson> {
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) if !text.trim_start().starts_with(['{', '[', '"']) => {
            serde_json::Value::String(text.into())
        }
        Err(e) => {
            return Err(UsageError(format!(
                "--document {text} is not an _id in Extended JSON ({e}); e.g. 42, \"abc\" or {{\"$oid\": \"...\"}}"
            ))
            .into())
        }
    };
    Bson::try_from(value).map_err(|e| {
        UsageError(format!(
            "--document {text} is not an _id in Extended JSON: {e}"
        ))
        .into()
    })
}
