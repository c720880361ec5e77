//! Checking what a transform returns before anything is written.
//!
//! The walk over the bytes is hand-written: it runs on every replacement, and
//! a full decode (or the bson crate's element iterator) costs several times as
//! much. It checks, at every depth, what the server would not: BSON that is
//! valid, and no key twice. A document with `_id` twice passes a check that
//! reads the first one, while the server keeps the last, so a transform could
//! overwrite a document it was never given.

use bson::{RawBsonRef, RawDocument};

use crate::batch::{Output, OutputOp};
use crate::text;

/// The largest document MongoDB stores.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// How deep documents may nest.
const MAX_DEPTH: usize = 100;

/// The first this many keys of a document are checked for repeats as they
/// are read; a document with more has all its keys sorted and compared.
const INLINE_KEYS: usize = 16;

/// Checks a replacement: valid BSON all the way down, no key twice in any
/// document or array, at most 16 MiB, and the same `_id` (type and value) as
/// the input document.
pub fn check_replacement(input: &RawDocument, output: &[u8]) -> Result<(), String> {
    ReplacementChecker::default().check(input, output)
}

/// The checks of [`check_replacement`] and [`check_output`], keeping its
/// scratch space from one document to the next: make one per batch.
#[derive(Debug, Default)]
pub struct ReplacementChecker {
    /// Where each key of the documents being walked starts and ends.
    keys: Vec<(usize, usize)>,
}

impl ReplacementChecker {
    /// Checks `output`, the replacement of `input` (see [`check_replacement`]).
    pub fn check(&mut self, input: &RawDocument, output: &[u8]) -> Result<(), String> {
        let after = self
            .walk(output, "the replacement")?
            .map(|(t, s, e)| (t, &output[s..e]));
        // The input came from the server: it is not validated again, only
        // searched for its `_id` (usually its first field).
        let before = find_id(input.as_bytes());
        match (before, after) {
            (Some(b), Some(a)) if b == a => Ok(()),
            (Some(b), Some(a)) => Err(changed_id(input, output, b.0, a.0)),
            (Some(_), None) => {
                Err("the replacement has no _id (it must keep the input's _id)".into())
            }
            (None, _) => Err("the input document has no _id".into()),
        }
    }

    /// Checks an output's document (see [`check_output`]).
    pub fn check_output(&mut self, output: &Output) -> Result<(), String> {
        let what = match output.op {
            OutputOp::Insert => "the inserted document",
            OutputOp::Upsert => "the upserted document",
            OutputOp::Delete => "the document naming what to delete",
        };
        match self.walk(&output.document, what)? {
            Some(_) => Ok(()),
            None => Err(format!(
                "{what} has no _id (every output names its document by _id)"
            )),
        }
    }

    /// Walks `doc` (one document, nothing after it, at most 16 MiB; `what`
    /// names it in messages) and returns where its top-level `_id` is.
    fn walk(&mut self, doc: &[u8], what: &str) -> Result<Option<(u8, usize, usize)>, String> {
        if doc.len() > MAX_DOCUMENT_BYTES {
            return Err(format!(
                "{what} is {} bytes, over MongoDB's 16 MiB document limit",
                doc.len()
            ));
        }
        self.keys.clear();
        let mut walk = Walk {
            b: doc,
            keys: &mut self.keys,
            id: None,
        };
        let len = walk
            .document(0, doc.len(), 0, false)
            .map_err(|p| p.describe(what))?;
        if len != doc.len() {
            return Err(format!(
                "{what} is not valid BSON: {} bytes follow the document's {len}",
                doc.len() - len
            ));
        }
        Ok(walk.id)
    }
}

/// Checks what a contract-version-2 transform writes to another collection:
/// its document is one valid BSON document all the way down, at most 16 MiB,
/// with an `_id` and no key twice in any document or array at any depth.
/// The message says what is wrong; the caller names the migration, the
/// input document and the collection, and checks the collection against the
/// manifest's `outputs`.
pub fn check_output(output: &Output) -> Result<(), String> {
    ReplacementChecker::default().check_output(output)
}

fn changed_id(input: &RawDocument, output: &[u8], before: u8, after: u8) -> String {
    let shown = |doc: Option<&RawDocument>| {
        doc.and_then(|d| d.get("_id").ok().flatten())
            .map_or("?".into(), |v| {
                text::bounded(show(v).as_bytes(), text::MAX_ID_BYTES)
            })
    };
    let (b, a) = (
        shown(Some(input)),
        shown(RawDocument::from_bytes(output).ok()),
    );
    if before != after {
        format!(
            "the replacement changes _id from {b} ({}) to {a} ({})",
            type_name(before),
            type_name(after)
        )
    } else if a == b {
        format!(
            "the replacement changes the bytes of _id {b} ({}); it must keep them as they are",
            type_name(before)
        )
    } else {
        format!("the replacement changes _id from {b} to {a}")
    }
}

/// The type and value bytes of the top-level `_id` of a valid document.
fn find_id(doc: &[u8]) -> Option<(u8, &[u8])> {
    let end = doc.len().checked_sub(1)?;
    let mut scalars = Walk {
        b: doc,
        keys: &mut Vec::new(),
        id: None,
    };
    let mut p = 4;
    while p < end {
        let t = doc[p];
        let key_end = p + 1 + doc[p + 1..end].iter().position(|b| *b == 0)?;
        let v = key_end + 1;
        let size = match t {
            // Skipped by their length, not walked: only the `_id` matters here.
            0x03 | 0x04 | 0x0F => usize::try_from(read_i32(doc, v, end).ok()?).ok()?,
            _ => scalars.value(t, v, end, 1).ok()?,
        };
        if &doc[p + 1..key_end] == b"_id" {
            return doc.get(v..v + size).map(|value| (t, value));
        }
        p = v + size;
    }
    None
}

/// What is wrong with a replacement, and where (keys from the innermost out).
/// Boxed: it is the error of every step of the walk, and a pointer-sized
/// error keeps the steps' results in registers.
struct Problem(Box<(What, Vec<String>)>);

enum What {
    Invalid(String),
    Twice(String),
}

impl Problem {
    #[cold]
    fn invalid(message: impl Into<String>) -> Problem {
        Problem(Box::new((What::Invalid(message.into()), Vec::new())))
    }

    #[cold]
    fn twice(key: &[u8]) -> Problem {
        Problem(Box::new((What::Twice(text::bounded(key, 200)), Vec::new())))
    }

    fn within(mut self, key: &[u8]) -> Problem {
        self.0 .1.push(text::bounded(key, 200));
        self
    }

    /// The message, naming the document as `what`.
    fn describe(self, what: &str) -> String {
        let (problem, path) = *self.0;
        let at = if path.is_empty() {
            String::new()
        } else {
            let path: Vec<&str> = path.iter().rev().map(String::as_str).collect();
            format!(" (in `{}`)", path.join("."))
        };
        match problem {
            What::Invalid(m) => format!("{what} is not valid BSON: {m}{at}"),
            What::Twice(k) => format!("{what} has the key `{k}` twice{at}"),
        }
    }
}

/// A walk over one replacement; offsets are into `b`.
struct Walk<'a, 'k> {
    b: &'a [u8],
    keys: &'k mut Vec<(usize, usize)>,
    /// Type, start and end of the first top-level `_id` value.
    id: Option<(u8, usize, usize)>,
}

impl Walk<'_, '_> {
    /// Validates the document (or array) at `at`, which must end by `limit`,
    /// and returns its length.
    fn document(
        &mut self,
        at: usize,
        limit: usize,
        depth: usize,
        array: bool,
    ) -> Result<usize, Problem> {
        if depth > MAX_DEPTH {
            return Err(Problem::invalid(format!(
                "documents nested more than {MAX_DEPTH} deep"
            )));
        }
        let b = self.b;
        let len = read_i32(b, at, limit)?;
        if len < 5 || len as usize > limit - at {
            return Err(Problem::invalid(format!(
                "a document claims {len} bytes but {} are there",
                limit - at
            )));
        }
        let end = at + len as usize;
        if b[end - 1] != 0 {
            return Err(Problem::invalid("a document does not end with a 0 byte"));
        }
        // Values may not run into the final 0 byte.
        let body_end = end - 1;
        let mark = self.keys.len();
        // Arrays have the keys 0, 1, 2, …: no two alike, nothing to compare.
        let mut sequential = array;
        // The keys read so far as a 64-bit Bloom filter: a key is compared
        // with the ones before it only when its bit is already set.
        let mut seen = 0u64;
        let mut p = at + 4;
        while p < body_end {
            let t = b[p];
            let key = p + 1;
            let key_end = key
                + b[key..body_end]
                    .iter()
                    .position(|c| *c == 0)
                    .ok_or_else(|| Problem::invalid("an unterminated key"))?;
            let k = &b[key..key_end];
            if !k.is_ascii() && std::str::from_utf8(k).is_err() {
                return Err(Problem::invalid("a key that is not UTF-8"));
            }
            let n = self.keys.len() - mark;
            if sequential {
                sequential = is_index(k, n);
            } else if !array && n < INLINE_KEYS {
                let bit = 1u64 << (fingerprint(k) >> 58);
                if seen & bit != 0 && self.keys[mark..].iter().any(|&(s, e)| &b[s..e] == k) {
                    return Err(Problem::twice(k));
                }
                seen |= bit;
            }
            self.keys.push((key, key_end));
            let v = key_end + 1;
            let size = self.value(t, v, body_end, depth).map_err(|e| e.within(k))?;
            if depth == 0 && self.id.is_none() && k == b"_id" {
                self.id = Some((t, v, v + size));
            }
            p = v + size;
        }
        if p != body_end {
            return Err(Problem::invalid(
                "an element runs past the end of its document",
            ));
        }
        let n = self.keys.len() - mark;
        if (array && !sequential) || n > INLINE_KEYS {
            twice(b, &mut self.keys[mark..])?;
        }
        self.keys.truncate(mark);
        Ok(len as usize)
    }

    /// The size of the value of type `t` at `v`, which must end by `limit`.
    fn value(&mut self, t: u8, v: usize, limit: usize, depth: usize) -> Result<usize, Problem> {
        let fixed = |n: usize| {
            if v + n <= limit {
                Ok(n)
            } else {
                Err(Problem::invalid(format!(
                    "a value of type {t:#04x} runs past the end"
                )))
            }
        };
        let b = self.b;
        match t {
            0x01 | 0x09 | 0x11 | 0x12 => fixed(8),
            0x02 | 0x0D | 0x0E => string_size(b, v, limit),
            0x03 | 0x04 => self.document(v, limit, depth + 1, t == 0x04),
            0x05 => {
                let n = read_i32(b, v, limit)?;
                if n < 0 {
                    return Err(Problem::invalid("a binary with a negative length"));
                }
                fixed(5 + n as usize)
            }
            0x06 | 0x0A | 0x7F | 0xFF => Ok(0),
            0x07 => fixed(12),
            0x08 => match b.get(v).filter(|_| v < limit) {
                Some(0 | 1) => Ok(1),
                _ => Err(Problem::invalid("a boolean that is neither 0 nor 1")),
            },
            0x0B => {
                let pattern = cstring_size(b, v, limit)?;
                Ok(pattern + cstring_size(b, v + pattern, limit)?)
            }
            0x0C => {
                let s = string_size(b, v, limit)?;
                if v + s + 12 > limit {
                    return Err(Problem::invalid("a DBPointer runs past the end"));
                }
                Ok(s + 12)
            }
            0x0F => {
                let total = read_i32(b, v, limit)?;
                let s = string_size(b, v + 4, limit)?;
                let d = self.document(v + 4 + s, limit, depth + 1, false)?;
                if total < 0 || 4 + s + d != total as usize {
                    return Err(Problem::invalid(
                        "a code-with-scope whose parts do not add up",
                    ));
                }
                Ok(total as usize)
            }
            0x10 => fixed(4),
            0x13 => fixed(16),
            other => Err(Problem::invalid(format!(
                "unknown element type {other:#04x}"
            ))),
        }
    }
}

/// Refuses a key that appears twice among `keys` (one document's).
fn twice(b: &[u8], keys: &mut [(usize, usize)]) -> Result<(), Problem> {
    let key = |k: &(usize, usize)| &b[k.0..k.1];
    keys.sort_unstable_by(|x, y| key(x).cmp(key(y)));
    match keys.windows(2).find(|w| key(&w[0]) == key(&w[1])) {
        Some(w) => Err(Problem::twice(key(&w[0]))),
        None => Ok(()),
    }
}

/// A hash of a key for the Bloom filter of [`Walk::document`]: its length
/// and its first two and last bytes, mixed by one multiplication (the top
/// bits pick the filter's bit).
fn fingerprint(key: &[u8]) -> u64 {
    let byte = |i: usize| u64::from(key.get(i).copied().unwrap_or(0));
    let last = key.len().saturating_sub(1);
    (key.len() as u64 | byte(0) << 16 | byte(1) << 24 | byte(last) << 32)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Whether `key` is the decimal `index`, as array keys must be.
fn is_index(key: &[u8], mut index: usize) -> bool {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (index % 10) as u8;
        index /= 10;
        if index == 0 {
            break;
        }
    }
    key == &digits[at..]
}

fn read_i32(b: &[u8], at: usize, limit: usize) -> Result<i32, Problem> {
    b.get(at..at + 4)
        .filter(|_| at + 4 <= limit)
        .map(|x| i32::from_le_bytes([x[0], x[1], x[2], x[3]]))
        .ok_or_else(|| Problem::invalid("a length runs past the end"))
}

fn string_size(b: &[u8], v: usize, limit: usize) -> Result<usize, Problem> {
    let n = read_i32(b, v, limit)?;
    if n < 1 || v + 4 + n as usize > limit {
        return Err(Problem::invalid(
            "a string runs past the end of its document",
        ));
    }
    let s = &b[v + 4..v + 4 + n as usize];
    if s[s.len() - 1] != 0 {
        return Err(Problem::invalid("a string does not end with a 0 byte"));
    }
    std::str::from_utf8(&s[..s.len() - 1])
        .map_err(|_| Problem::invalid("a string that is not UTF-8"))?;
    Ok(4 + n as usize)
}

fn cstring_size(b: &[u8], v: usize, limit: usize) -> Result<usize, Problem> {
    let n = b
        .get(v..limit)
        .and_then(|r| r.iter().position(|c| *c == 0))
        .ok_or_else(|| Problem::invalid("an unterminated string"))?;
    std::str::from_utf8(&b[v..v + n])
        .map_err(|_| Problem::invalid("a string that is not UTF-8"))?;
    Ok(n + 1)
}

/// MongoDB's name of a BSON element type (as `$type` spells it).
pub(crate) fn type_name(t: u8) -> &'static str {
    match t {
        0x01 => "double",
        0x02 => "string",
        0x03 => "object",
        0x04 => "array",
        0x05 => "binData",
        0x06 => "undefined",
        0x07 => "objectId",
        0x08 => "bool",
        0x09 => "date",
        0x0A => "null",
        0x0B => "regex",
        0x0C => "dbPointer",
        0x0D => "javascript",
        0x0E => "symbol",
        0x0F => "javascriptWithScope",
        0x10 => "int",
        0x11 => "timestamp",
        0x12 => "long",
        0x13 => "decimal",
        0x7F => "maxKey",
        0xFF => "minKey",
        _ => "unknown type",
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

    #[test]
    fn outputs_are_one_valid_document_with_an_id_and_no_key_twice() {
        let out = |op: OutputOp, bytes: Vec<u8>| Output {
            op,
            collection: "c".into(),
            document: bytes,
        };
        let ok = raw(doc! { "_id": "u-0", "a": { "b": [1, 2] } }).into_bytes();
        for op in [OutputOp::Insert, OutputOp::Upsert, OutputOp::Delete] {
            assert_eq!(check_output(&out(op, ok.clone())), Ok(()));
        }
        let e = check_output(&out(OutputOp::Insert, raw(doc! { "a": 1 }).into_bytes()))
            .expect_err("no _id");
        assert_eq!(
            e,
            "the inserted document has no _id (every output names its document by _id)"
        );
        // `{_id: 1, a: {x: 1, x: 2}}`, written by hand: `doc!` cannot repeat a key.
        let mut twice = vec![
            0, 0, 0, 0, 0x10, b'_', b'i', b'd', 0, 1, 0, 0, 0, 0x03, b'a', 0,
        ];
        twice.extend_from_slice(&[
            19, 0, 0, 0, 0x10, b'x', 0, 1, 0, 0, 0, 0x10, b'x', 0, 2, 0, 0, 0, 0,
        ]);
        twice.push(0);
        let n = twice.len() as i32;
        twice[..4].copy_from_slice(&n.to_le_bytes());
        let e = check_output(&out(OutputOp::Upsert, twice)).expect_err("x twice");
        assert_eq!(e, "the upserted document has the key `x` twice (in `a`)");
        let e =
            check_output(&out(OutputOp::Delete, [&ok[..], &[0]].concat())).expect_err("trailing");
        assert!(
            e.starts_with("the document naming what to delete is not valid BSON: 1 bytes follow"),
            "{e}"
        );
        let e = check_output(&out(OutputOp::Insert, vec![5, 0, 0, 0])).expect_err("cut");
        assert!(
            e.starts_with("the inserted document is not valid BSON"),
            "{e}"
        );
        let mut big = doc! { "_id": 1 };
        big.insert("s", "x".repeat(MAX_DOCUMENT_BYTES));
        let e = check_output(&out(OutputOp::Insert, raw(big).into_bytes())).expect_err("big");
        assert!(e.contains("over MongoDB's 16 MiB document limit"), "{e}");
    }
}
