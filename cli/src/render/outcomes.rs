//! The outcomes of `mongoshift run`: one Extended JSON line per input
//! document, and the tally printed after them.

use bson::{Bson, Document, RawDocument};
use mongoshift::local::Decision;
use mongoshift::Outcome;

/// One document's line: its place in the file (`document`, from 1), its
/// `_id`, the outcome (`keep`, `replace` with the `replacement`, `delete`,
/// `fail` with the `message`, or `error` when the transform stopped, as
/// `up` would), and its `outputs` when it has some.
pub(crate) fn outcome_line(
    n: usize,
    input: &RawDocument,
    decided: &Result<Decision, String>,
    canonical: bool,
) -> String {
    let json = |d: Document| {
        let b = Bson::Document(d);
        if canonical {
            b.into_canonical_extjson()
        } else {
            b.into_relaxed_extjson()
        }
    };
    let doc = |bytes: &[u8]| {
        RawDocument::from_bytes(bytes)
            .ok()
            .and_then(|r| Document::try_from(r).ok())
            .unwrap_or_default()
    };
    let mut line = Document::new();
    line.insert("document", i64::try_from(n).unwrap_or(i64::MAX));
    if let Ok(Some(id)) = input.get("_id") {
        if let Ok(id) = Bson::try_from(id.to_raw_bson()) {
            line.insert("_id", id);
        }
    }
    let out = match decided {
        Ok(d) => {
            let (word, extra) = match &d.outcome {
                Outcome::Keep => ("keep", None),
                Outcome::Delete => ("delete", None),
                Outcome::Replace(b) => ("replace", Some(("replacement", json(doc(b))))),
                Outcome::Fail(m) => ("fail", Some(("message", m.clone().into()))),
            };
            line.insert("outcome", word);
            let mut out = as_map(json(line));
            if let Some((k, v)) = extra {
                out.insert(k.into(), v);
            }
            if !d.outputs.is_empty() {
                let outputs = d
                    .outputs
                    .iter()
                    .map(|o| {
                        serde_json::json!({
                            "op": o.op.as_str(),
                            "collection": o.collection,
                            "document": json(doc(&o.document)),
                        })
                    })
                    .collect();
                out.insert("outputs".into(), serde_json::Value::Array(outputs));
            }
            out
        }
        Err(e) => {
            line.insert("outcome", "error");
            line.insert("message", e.as_str());
            as_map(json(line))
        }
    };
    serde_json::Value::Object(out).to_string()
}

fn as_map(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

/// How many documents came to each outcome.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    kept: usize,
    replaced: usize,
    deleted: usize,
    failed: usize,
    /// Documents the transform stopped on (`up` would stop there).
    pub(crate) errors: usize,
}

impl Tally {
    /// Counts one document.
    pub(crate) fn add(&mut self, decided: &Result<Decision, String>) {
        match decided.as_ref().map(|d| &d.outcome) {
            Ok(Outcome::Keep) => self.kept += 1,
            Ok(Outcome::Replace(_)) => self.replaced += 1,
            Ok(Outcome::Delete) => self.deleted += 1,
            Ok(Outcome::Fail(_)) => self.failed += 1,
            Err(_) => self.errors += 1,
        }
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let total = self.kept + self.replaced + self.deleted + self.failed + self.errors;
        write!(
            f,
            "{total} documents: {} kept, {} replaced, {} deleted, {} failed, {} stopped the transform",
            self.kept, self.replaced, self.deleted, self.failed, self.errors
        )
    }
}
