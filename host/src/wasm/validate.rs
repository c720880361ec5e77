//! Checking what a transform returns before anything is written.
//!
//! The walk over the bytes is hand-written: it runs on every replacement, and
//! a full decode (or the bson crate's element iterator) costs several times as
//! much.

use bson::{RawBsonRef, RawDocument};

/// The largest document MongoDB stores.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// Checks a replacement: valid BSON all the way down, at most 16 MiB, and the
/// same `_id` (type and value) as the input document.
pub fn check_replacement(input: &RawDocument, output: &[u8]) -> Result<(), String> {
    if output.len() > MAX_DOCUMENT_BYTES {
        return Err(format!(
            "the replacement is {} bytes, over MongoDB's 16 MiB document limit",
            output.len()
        ));
    }
    validate_document(output, 0).map_err(|e| format!("the replacement is not valid BSON: {e}"))?;
    // Valid now, so a lookup is a short scan (`_id` usually comes first). The
    // input came from the server and is not validated again.
    let doc = RawDocument::from_bytes(output)
        .map_err(|e| format!("the replacement is not valid BSON: {e}"))?;
    let before = input.get("_id").ok().flatten();
    let after = doc
        .get("_id")
        .map_err(|e| format!("the replacement is not valid BSON: {e}"))?;
    match (before, after) {
        (Some(b), Some(a)) if b == a => Ok(()),
        (Some(b), Some(a)) => Err(format!(
            "the replacement changes _id from {} to {}",
            show(b),
            show(a)
        )),
        (Some(_), None) => Err("the replacement has no _id (it must keep the input's _id)".into()),
        (None, _) => Err("the input document has no _id".into()),
    }
}

/// Validates the document at the start of `bytes` and returns its length.
fn validate_document(bytes: &[u8], depth: usize) -> Result<usize, String> {
    if depth > 100 {
        return Err("documents nested more than 100 deep".into());
    }
    let len = read_i32(bytes, 0)?;
    if len < 5 || len as usize > bytes.len() {
        return Err(format!(
            "a document claims {len} bytes but {} are there",
            bytes.len()
        ));
    }
    let len = len as usize;
    if bytes[len - 1] != 0 {
        return Err("a document does not end with a 0 byte".into());
    }
    // Values may not run into the final 0 byte.
    let body = &bytes[..len - 1];
    let mut at = 4;
    while at < body.len() {
        let t = body[at];
        let key = at + 1;
        let key_end = key
            + body[key..]
                .iter()
                .position(|b| *b == 0)
                .ok_or("an unterminated key")?;
        std::str::from_utf8(&body[key..key_end])
            .map_err(|_| "a key that is not UTF-8".to_string())?;
        let v = key_end + 1;
        let size = value_size(t, body, v, depth)?;
        at = v + size;
    }
    if at != body.len() {
        return Err("an element runs past the end of its document".into());
    }
    Ok(len)
}

fn read_i32(b: &[u8], at: usize) -> Result<i32, String> {
    b.get(at..at + 4)
        .map(|x| i32::from_le_bytes([x[0], x[1], x[2], x[3]]))
        .ok_or_else(|| "a length runs past the end".to_string())
}

fn string_size(doc: &[u8], v: usize) -> Result<usize, String> {
    let n = read_i32(doc, v)?;
    if n < 1 || v + 4 + n as usize > doc.len() {
        return Err("a string runs past the end of its document".into());
    }
    let s = &doc[v + 4..v + 4 + n as usize];
    if s[s.len() - 1] != 0 {
        return Err("a string does not end with a 0 byte".into());
    }
    std::str::from_utf8(&s[..s.len() - 1]).map_err(|_| "a string that is not UTF-8".to_string())?;
    Ok(4 + n as usize)
}

fn cstring_size(doc: &[u8], v: usize) -> Result<usize, String> {
    let n = doc
        .get(v..)
        .and_then(|r| r.iter().position(|b| *b == 0))
        .ok_or("an unterminated string")?;
    std::str::from_utf8(&doc[v..v + n]).map_err(|_| "a string that is not UTF-8".to_string())?;
    Ok(n + 1)
}

/// The size of the value of type `t` at `v`.
fn value_size(t: u8, doc: &[u8], v: usize, depth: usize) -> Result<usize, String> {
    let fixed = |n: usize| {
        if v + n <= doc.len() {
            Ok(n)
        } else {
            Err(format!("a value of type {t:#04x} runs past the end"))
        }
    };
    match t {
        0x01 | 0x09 | 0x11 | 0x12 => fixed(8),
        0x02 | 0x0D | 0x0E => string_size(doc, v),
        0x03 | 0x04 => validate_document(&doc[v..], depth + 1),
        0x05 => {
            let n = read_i32(doc, v)?;
            if n < 0 {
                return Err("a binary with a negative length".into());
            }
            fixed(5 + n as usize)
        }
        0x06 | 0x0A | 0x7F | 0xFF => Ok(0),
        0x07 => fixed(12),
        0x08 => match doc.get(v) {
            Some(0 | 1) => Ok(1),
            _ => Err("a boolean that is neither 0 nor 1".into()),
        },
        0x0B => {
            let pattern = cstring_size(doc, v)?;
            Ok(pattern + cstring_size(doc, v + pattern)?)
        }
        0x0C => {
            let s = string_size(doc, v)?;
            if v + s + 12 > doc.len() {
                return Err("a DBPointer runs past the end".into());
            }
            Ok(s + 12)
        }
        0x0F => {
            let total = read_i32(doc, v)?;
            let s = string_size(doc, v + 4)?;
            let d = validate_document(
                doc.get(v + 4 + s..)
                    .ok_or("a code-with-scope runs past the end")?,
                depth + 1,
            )?;
            if total < 0 || 4 + s + d != total as usize {
                return Err("a code-with-scope whose parts do not add up".into());
            }
            Ok(total as usize)
        }
        0x10 => fixed(4),
        0x13 => fixed(16),
        other => Err(format!("unknown element type {other:#04x}")),
    }
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
        assert!(check_replacement(
            &input,
            raw(doc! { "_id": 1, "b": { "c": [1, { "d": 2 }] } }).as_bytes()
        )
        .is_ok());
        let e =
            check_replacement(&input, raw(doc! { "_id": 2 }).as_bytes()).expect_err("changed id");
        assert!(e.contains("changes _id from 1 to 2"), "{e}");
        let e = check_replacement(&input, raw(doc! { "_id": 1_i64 }).as_bytes())
            .expect_err("int64 is another _id");
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

    #[test]
    fn every_bson_type_passes_and_truncations_fail() {
        use bson::spec::BinarySubtype;
        use bson::{Binary, Bson, DateTime, Decimal128, JavaScriptCodeWithScope, Regex, Timestamp};
        let full = doc! {
            "_id": bson::oid::ObjectId::new(), "d": 1.5, "s": "é", "doc": { "a": [1, "x", { "b": null }] },
            "bin": Binary { subtype: BinarySubtype::Generic, bytes: vec![1, 2, 3] }, "u": Bson::Undefined,
            "t": true, "dt": DateTime::from_millis(5), "n": Bson::Null,
            "re": Regex { pattern: "a+".into(), options: "i".into() },
            "js": Bson::JavaScriptCode("f()".into()),
            "jsw": JavaScriptCodeWithScope { code: "g()".into(), scope: doc! { "x": 1 } },
            "sym": Bson::Symbol("s".into()), "i": 7, "ts": Timestamp { time: 1, increment: 2 }, "l": 8_i64,
            "dec": Decimal128::from_bytes([1; 16]), "min": Bson::MinKey, "max": Bson::MaxKey,
        };
        let bytes = raw(full.clone()).into_bytes();
        assert!(check_replacement(&raw(full), &bytes).is_ok());
        for cut in [5, 20, bytes.len() / 2, bytes.len() - 2] {
            let mut b = bytes[..cut].to_vec();
            let n = b.len() as i32;
            b[..4].copy_from_slice(&n.to_le_bytes());
            b.push(0);
            assert!(
                check_replacement(&raw(doc! { "_id": 1 }), &b).is_err(),
                "cut at {cut}"
            );
        }
    }
}
