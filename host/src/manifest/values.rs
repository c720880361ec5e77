//! TOML values as BSON and JSON, and error positions.

use bson::Bson;

/// Converts a TOML value to BSON, reading single-key `$…` tables as Extended JSON.
pub fn to_bson(value: &toml::Value) -> Result<Bson, String> {
    Bson::try_from(to_json(value)).map_err(|e| e.to_string())
}

pub(super) fn to_json(value: &toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => serde_json::json!({ "$date": d.to_string() }),
        toml::Value::Array(a) => J::Array(a.iter().map(to_json).collect()),
        toml::Value::Table(t) => {
            J::Object(t.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
    }
}

pub(super) fn type_name(b: &Bson) -> &'static str {
    match b {
        Bson::String(_) => "a string",
        Bson::Array(_) => "an array",
        Bson::Document(_) => "a table",
        Bson::Boolean(_) => "a boolean",
        Bson::Int32(_) | Bson::Int64(_) => "an integer",
        Bson::Double(_) => "a float",
        Bson::DateTime(_) => "a datetime",
        _ => "another BSON value",
    }
}

/// 1-based line of a byte offset.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// Turns a TOML parse error into "line L, column C: message" on one line.
pub(super) fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim();
    match e.span() {
        Some(span) => {
            let line = line_of(text, span.start);
            let line_start = text[..span.start.min(text.len())]
                .rfind('\n')
                .map_or(0, |i| i + 1);
            let col = text[line_start..span.start.min(text.len())].chars().count() + 1;
            format!("line {line}, column {col}: {msg}")
        }
        None => msg.to_string(),
    }
}
