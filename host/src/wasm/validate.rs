//! Checking what a transform returns before anything is written.

use bson::{RawBsonRef, RawDocument};

/// The largest document MongoDB stores.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// Checks a replacement: valid BSON all the way down, at most 16 MiB, and the
/// same `_id` (type and value) as the input document.
pub fn check_replacement(input: &RawDocument, output: &[u8]) -> Result<(), String> {
    if output.len() > MAX_DOCUMENT_BYTES {
        return Err(format!("the replacement is {} bytes, over MongoDB's 16 MiB document limit", output.len()));
    }
    let doc = RawDocument::from_bytes(output).map_err(|e| format!("the replacement is not valid BSON: {e}"))?;
    validate_deep(doc).map_err(|e| format!("the replacement is not valid BSON: {e}"))?;
    let before = input.get("_id").ok().flatten();
    let after = doc.get("_id").map_err(|e| format!("the replacement is not valid BSON: {e}"))?;
    match (before, after) {
        (Some(b), Some(a)) if b == a => Ok(()),
        (Some(b), Some(a)) => Err(format!("the replacement changes _id from {} to {}", show(b), show(a))),
        (Some(_), None) => Err("the replacement has no _id (it must keep the input's _id)".into()),
        (None, _) => Err("the input document has no _id".into()),
    }
}

fn validate_deep(doc: &RawDocument) -> Result<(), bson::raw::Error> {
    for el in doc.iter() {
        let (_, v) = el?;
        match v {
            RawBsonRef::Document(d) => validate_deep(d)?,
            RawBsonRef::Array(a) => {
                for item in a.into_iter() {
                    match item? {
                        RawBsonRef::Document(d) => validate_deep(d)?,
                        RawBsonRef::Array(inner) => validate_deep(RawDocument::from_bytes(inner.as_bytes())?)?,
                        _ => {}
                    }
                }
            }
            RawBsonRef::JavaScriptCodeWithScope(c) => validate_deep(c.scope)?,
            _ => {}
        }
    }
    Ok(())
}

/// A raw value for messages.
pub fn show(v: RawBsonRef<'_>) -> String {
    match v.to_raw_bson().try_into() {
        Ok(b) => {
            let b: bson::Bson = b;
            b.to_string()
        }
        Err(_) => "(unprintable)".into(),
    }
}

#[cfg(test)]
mod tests {
    use bson::{doc, RawDocumentBuf};

    use super::*;

    fn raw(d: bson::Document) -> RawDocumentBuf {
        RawDocumentBuf::from_document(&d).expect("raw")
    }

    #[test]
    fn accepts_same_id_and_refuses_changes() {
        let input = raw(doc! { "_id": 1, "a": 1 });
        assert!(check_replacement(&input, raw(doc! { "_id": 1, "b": { "c": [1, { "d": 2 }] } }).as_bytes()).is_ok());
        let e = check_replacement(&input, raw(doc! { "_id": 2 }).as_bytes()).expect_err("changed id");
        assert!(e.contains("changes _id from 1 to 2"), "{e}");
        let e = check_replacement(&input, raw(doc! { "_id": 1_i64 }).as_bytes()).expect_err("int64 is another _id");
        assert!(e.contains("changes _id"), "{e}");
        let e = check_replacement(&input, raw(doc! { "x": 1 }).as_bytes()).expect_err("no id");
        assert!(e.contains("no _id"), "{e}");
        let e = check_replacement(&input, &[5, 0, 0, 0, 1]).expect_err("bad terminator");
        assert!(e.contains("not valid BSON"), "{e}");
        let mut broken = raw(doc! { "_id": 1, "s": "abc" }).into_bytes();
        let n = broken.len();
        broken[n - 3] = 0xff; // inside the string: invalid UTF-8
        let e = check_replacement(&input, &broken).expect_err("bad utf-8");
        assert!(e.contains("not valid BSON"), "{e}");
    }
}
