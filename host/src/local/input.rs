//! Documents from a file, for `mongoshift run`: Extended JSON lines (or any
//! whitespace-separated JSON documents), one JSON array, or a BSON dump
//! (concatenated BSON documents, as `mongodump` writes `*.bson`). The format
//! is told by the content, so a dump renamed `.json` still reads: JSON text
//! starts with `{` or `[`, a BSON document with its length (a little-endian
//! `i32` that no JSON text begins with, since a document is at least 5
//! bytes and its fourth byte is then 0).

use std::path::Path;

use bson::{Bson, Document, RawDocumentBuf};

use crate::error::FixtureError;

/// How a file's documents are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// One Extended JSON document after another (usually one a line).
    JsonLines,
    /// One JSON array of Extended JSON documents.
    JsonArray,
    /// Concatenated BSON documents.
    BsonDump,
}

/// Reads every document of `path`, told apart by content. The whole file is
/// read: it holds the few documents an author runs a transform on.
pub fn read_documents(path: &Path) -> Result<(InputFormat, Vec<RawDocumentBuf>), FixtureError> {
    let bytes = std::fs::read(path).map_err(|source| FixtureError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |at: String, message: String| FixtureError::Input {
        path: path.to_path_buf(),
        at,
        message,
    };
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
    match first {
        None => Ok((InputFormat::JsonLines, Vec::new())),
        Some(b'[') => json_array(&bytes, bad).map(|d| (InputFormat::JsonArray, d)),
        Some(b'{') => json_lines(&bytes, bad).map(|d| (InputFormat::JsonLines, d)),
        Some(_) if looks_like_bson(&bytes) => {
            bson_dump(&bytes, bad).map(|d| (InputFormat::BsonDump, d))
        }
        Some(_) => Err(bad(
            "byte 0".into(),
            "neither Extended JSON (documents one a line, or an array) nor a BSON dump".into(),
        )),
    }
}

fn looks_like_bson(bytes: &[u8]) -> bool {
    let Some(head) = bytes.get(..4) else {
        return false;
    };
    let len = i32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    usize::try_from(len).is_ok_and(|n| n >= 5 && n <= bytes.len() && bytes[n - 1] == 0)
}

/// One document from an Extended JSON value (canonical or relaxed).
pub(crate) fn document_from_json(value: serde_json::Value) -> Result<RawDocumentBuf, String> {
    if !value.is_object() {
        return Err(format!("expected a document, found {}", json_kind(&value)));
    }
    let doc = match Bson::try_from(value) {
        Ok(Bson::Document(d)) => d,
        Ok(other) => {
            return Err(format!(
                "expected a document, found Extended JSON for {}",
                super::show::type_name(&other)
            ))
        }
        Err(e) => return Err(format!("invalid Extended JSON: {e}")),
    };
    raw(&doc)
}

fn raw(doc: &Document) -> Result<RawDocumentBuf, String> {
    if !doc.contains_key("_id") {
        return Err("the document has no _id (documents in a collection always have one)".into());
    }
    RawDocumentBuf::from_document(doc).map_err(|e| format!("cannot encode it as BSON: {e}"))
}

/// What a JSON value is, for messages.
pub(crate) fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn line_of(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

fn json_lines(
    bytes: &[u8],
    bad: impl Fn(String, String) -> FixtureError,
) -> Result<Vec<RawDocumentBuf>, FixtureError> {
    let mut stream = serde_json::Deserializer::from_slice(bytes).into_iter::<serde_json::Value>();
    let mut docs = Vec::new();
    loop {
        let start = stream.byte_offset();
        let Some(next) = stream.next() else {
            return Ok(docs);
        };
        let value = next.map_err(|e| bad(format!("line {}", e.line()), json_message(&e)))?;
        // The line the document starts on, past the whitespace before it.
        let skipped = bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
        let line = line_of(bytes, start + skipped);
        docs.push(document_from_json(value).map_err(|m| bad(format!("line {line}"), m))?);
    }
}

fn json_array(
    bytes: &[u8],
    bad: impl Fn(String, String) -> FixtureError,
) -> Result<Vec<RawDocumentBuf>, FixtureError> {
    let values: Vec<serde_json::Value> = serde_json::from_slice(bytes)
        .map_err(|e| bad(format!("line {}", e.line()), json_message(&e)))?;
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            document_from_json(v).map_err(|m| bad(format!("document {} of the array", i + 1), m))
        })
        .collect()
}

fn bson_dump(
    bytes: &[u8],
    bad: impl Fn(String, String) -> FixtureError,
) -> Result<Vec<RawDocumentBuf>, FixtureError> {
    let mut docs = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let n = docs.len() + 1;
        let place = format!("document {n} (byte {at})");
        let Some(head) = bytes.get(at..at + 4) else {
            return Err(bad(
                place,
                "the file ends inside a document's length".into(),
            ));
        };
        let len = i32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let end = usize::try_from(len)
            .ok()
            .filter(|&l| l >= 5)
            .and_then(|l| at.checked_add(l))
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| {
                bad(
                    place.clone(),
                    format!("its length {len} runs past the end of the file (a truncated dump?)"),
                )
            })?;
        let doc = RawDocumentBuf::from_bytes(bytes[at..end].to_vec())
            .map_err(|e| e.to_string())
            .and_then(|r| Document::try_from(r.as_ref()).map_err(|e| e.to_string()))
            .map_err(|m| bad(place.clone(), format!("not a valid BSON document: {m}")))?;
        docs.push(raw(&doc).map_err(|m| bad(place, m))?);
        at = end;
    }
    Ok(docs)
}

/// serde_json's message without its own " at line L column C" (the place is
/// named before it).
pub(crate) fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let cut = text.rfind(" at line ").unwrap_or(text.len());
    format!("{} (column {})", &text[..cut], e.column())
}
