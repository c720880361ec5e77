//! Quarantine entries for people (tables, documents) or programs (JSON
//! lines).

use bson::Bson;
use mongoshift::migrate::ReplayReport;
use mongoshift::quarantine::{QuarantineEntry, QuarantineSummary};

/// `quarantine list`: a line per migration.
pub(crate) fn summaries(all: &[QuarantineSummary]) {
    if all.is_empty() {
        println!("no documents set aside");
        return;
    }
    for s in all {
        println!(
            "{}: {} document(s) set aside, {} to {}",
            s.migration,
            s.count,
            s.first.try_to_rfc3339_string().unwrap_or_default(),
            s.last.try_to_rfc3339_string().unwrap_or_default()
        );
    }
}

/// `quarantine list ID`: a line per document.
pub(crate) fn list(id: &str, entries: &[QuarantineEntry]) {
    if entries.is_empty() {
        println!("{id} set no documents aside");
        return;
    }
    for e in entries {
        println!(
            "{}  {}  {}",
            show_id(&e.id()),
            e.at.try_to_rfc3339_string().unwrap_or_default(),
            e.error.lines().next().unwrap_or("")
        );
    }
    println!("{} document(s) of {id} set aside", entries.len());
}

/// `quarantine show ID`: each document in full.
pub(crate) fn show(id: &str, entries: &[QuarantineEntry]) {
    if entries.is_empty() {
        println!("{id} set no documents aside");
    }
    for e in entries {
        println!("_id: {}", show_id(&e.id()));
        println!("collection: {}", e.collection);
        println!(
            "set aside: {}",
            e.at.try_to_rfc3339_string().unwrap_or_default()
        );
        println!("error: {}", e.error);
        for (k, v) in &e.more {
            println!("{k}: {}", relaxed(v));
        }
        let doc = Bson::Document(e.original.clone()).into_relaxed_extjson();
        println!(
            "document:\n{}\n",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        );
    }
}

/// Entries as JSON lines (relaxed Extended JSON).
pub(crate) fn json_lines(entries: &[QuarantineEntry]) -> anyhow::Result<()> {
    for e in entries {
        let doc = bson::to_bson(e)?;
        println!("{}", doc.into_relaxed_extjson());
    }
    Ok(())
}

/// `quarantine replay ID`.
pub(crate) fn replay(r: &ReplayReport) {
    println!(
        "{}: {} of {} set-aside document(s) transformed and cleared, {} still failing, \
         {} gone or no longer matching (cleared), {} changed since (transformed as they are now)",
        r.migration, r.fixed, r.entries, r.failing, r.gone, r.changed
    );
    if let Some(from) = &r.files_changed_from {
        println!(
            "its files changed since it was applied ({from}): the ledger now records the files \
             on disk, and the change"
        );
    }
    if r.failing > 0 {
        println!(
            "see them with `mongoshift quarantine show {}`; fix the transform and replay again",
            r.migration
        );
    } else if r.entries > 0 {
        println!("{} is applied, with no document set aside", r.migration);
    }
}

fn relaxed(v: &Bson) -> String {
    v.clone().into_relaxed_extjson().to_string()
}

fn show_id(id: &Bson) -> String {
    id.clone().into_relaxed_extjson().to_string()
}
