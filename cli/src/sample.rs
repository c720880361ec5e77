//! `mongoshift sample COLLECTION`: real documents as fixture inputs, in
//! canonical Extended JSON (every BSON type kept), chosen fields redacted.

use std::io::Write;

use anyhow::Context;
use bson::{Bson, Document};
use mongoshift::export::{self, SampleRequest};
use mongoshift::Target;

use crate::args::SampleArgs;
use crate::exit;
use crate::usage::UsageError;

/// Runs `sample`.
pub(crate) async fn run(target: &Target, args: SampleArgs) -> anyhow::Result<u8> {
    let filter = match &args.filter {
        Some(text) => parse_filter(text)?,
        None => Document::new(),
    };
    let req = SampleRequest {
        collection: args.collection.clone(),
        count: args.count,
        filter,
        redact: args
            .redact
            .iter()
            .filter(|p| !p.is_empty())
            .cloned()
            .collect(),
    };
    let got = export::sample(target, &req).await?;
    if got.documents.is_empty() {
        anyhow::bail!(
            "no document of {} in database {} matches{}: nothing to sample",
            args.collection,
            target.db().name(),
            args.filter
                .as_deref()
                .map(|f| format!(" {f}"))
                .unwrap_or_default()
        );
    }
    for path in &got.unmatched {
        eprintln!(
            "warning: --redact {path} matched no field of the {} document(s) sampled: check its spelling",
            got.documents.len()
        );
    }
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    for d in got.documents.iter() {
        writeln!(
            out,
            "{}",
            Bson::Document(d.clone()).into_canonical_extjson()
        )?;
    }
    out.flush()?;
    if let Some(path) = &args.output {
        eprintln!(
            "{} document(s) of {} written to {}",
            got.documents.len(),
            args.collection,
            path.display()
        );
    }
    Ok(exit::OK)
}

/// A filter given on the command line, in Extended JSON.
fn parse_filter(text: &str) -> anyhow::Result<Document> {
    let bad = |why: String| {
        UsageError(format!(
            "--filter {text} is not a filter in Extended JSON ({why}); e.g. '{{\"status\": \"active\"}}'"
        ))
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    match Bson::try_from(value).map_err(|e| bad(e.to_string()))? {
        Bson::Document(d) => Ok(d),
        other => Err(bad(format!("it is {:?}, not a document", other.element_type())).into()),
    }
}
