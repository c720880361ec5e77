//! Walking a document's top-level fields as bytes: the hot loop of a raw
//! transform.
//!
//! `RawDocument::iter` decodes every value it passes (checking each string's
//! UTF-8, building a `RawBsonRef`), which is most of the cost of a transform
//! that touches two fields out of ten. [`fields`] only finds where each field
//! starts and ends; a field is decoded when asked ([`Field::value`],
//! [`Field::as_str`]) and copied whole, in one piece, by
//! [`DocWriter::append_field`](crate::DocWriter::append_field).

use bson::spec::ElementType;
use bson::{RawBsonRef, RawDocument};

use crate::scan;

/// One top-level field: its type byte, name and value, as they lie in the
/// document.
#[derive(Debug, Clone, Copy)]
pub struct Field<'a> {
    /// The whole element: type byte, name, NUL, value.
    bytes: &'a [u8],
    /// The name (checked UTF-8 when the field was found).
    key: &'a str,
    /// The document it lies in, for decoding the rare types.
    doc: &'a RawDocument,
    /// Where `bytes` starts in `doc`.
    offset: usize,
}

impl<'a> Field<'a> {
    /// The field's name.
    #[inline]
    pub fn key(&self) -> &'a str {
        self.key
    }

    /// The BSON type byte (`0x02` string, `0x03` document, …).
    pub fn type_byte(&self) -> u8 {
        self.bytes[0]
    }

    /// The BSON type.
    pub fn element_type(&self) -> ElementType {
        ElementType::from(self.bytes[0]).expect("checked when the field was found")
    }

    /// The whole element as it lies in the document (type byte, name, NUL,
    /// value): what [`DocWriter::append_field`](crate::DocWriter::append_field)
    /// copies.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The value's bytes alone.
    pub fn value_bytes(&self) -> &'a [u8] {
        &self.bytes[self.key.len() + 2..]
    }

    /// The value if it is a string (checking its UTF-8), else `None`.
    #[inline]
    pub fn as_str(&self) -> Option<&'a str> {
        if self.bytes[0] != ElementType::String as u8 {
            return None;
        }
        let v = self.value_bytes();
        // Length prefix, the bytes, a NUL (checked when the field was found).
        utf8(&v[4..v.len() - 1])
    }

    /// The value, decoded.
    ///
    /// # Errors
    ///
    /// If the value is not valid BSON (a string that is not UTF-8, a
    /// sub-document with a bad length, …).
    pub fn value(&self) -> bson::raw::Result<RawBsonRef<'a>> {
        let v = self.value_bytes();
        let fixed = |n: usize| -> [u8; 8] {
            let mut b = [0; 8];
            b[..n].copy_from_slice(&v[..n]);
            b
        };
        Ok(match self.element_type() {
            ElementType::Double => RawBsonRef::Double(f64::from_le_bytes(fixed(8))),
            ElementType::Int32 => {
                RawBsonRef::Int32(i32::from_le_bytes(v[..4].try_into().expect("4 bytes")))
            }
            ElementType::Int64 => RawBsonRef::Int64(i64::from_le_bytes(fixed(8))),
            ElementType::DateTime => {
                RawBsonRef::DateTime(bson::DateTime::from_millis(i64::from_le_bytes(fixed(8))))
            }
            ElementType::Boolean if v[0] <= 1 => RawBsonRef::Boolean(v[0] == 1),
            ElementType::Null => RawBsonRef::Null,
            ElementType::EmbeddedDocument => RawBsonRef::Document(RawDocument::from_bytes(v)?),
            ElementType::String => match self.as_str() {
                Some(s) => RawBsonRef::String(s),
                None => return self.decoded_by_bson(),
            },
            // Everything else (and the errors) the way the bson crate decodes it.
            _ => return self.decoded_by_bson(),
        })
    }

    /// The value as `RawDocument::iter` decodes it at this field's place.
    fn decoded_by_bson(&self) -> bson::raw::Result<RawBsonRef<'a>> {
        let mut at = 4;
        for el in self.doc.iter_elements() {
            let el = el?;
            if at == self.offset {
                return el.value();
            }
            at += 1 + el.key().len() + 1 + el.len();
        }
        unreachable!("the field lies in its document")
    }
}

/// The top-level fields of `doc`, in order.
///
/// The iterator checks the structure (every length in bounds, names are UTF-8
/// and NUL-terminated, type bytes known) but not the values' contents: that
/// happens when a value is decoded, and the host checks every replacement.
///
/// # Panics
///
/// On a malformed document, naming the offset. The host only sends documents
/// the server stored, so this is a bug on one side: trapping is right, as for
/// a malformed batch.
///
/// ```
/// use mongoshift_guest::{doc, fields, DocWriter, RawDocumentBuf};
///
/// let src = RawDocumentBuf::from_document(&doc! { "_id": 1, "name": "Ada", "age": 36 }).unwrap();
/// let mut out = DocWriter::with_capacity(src.as_bytes().len());
/// for f in fields(&src) {
///     match f.key() {
///         "name" => out.append_str("name", &f.as_str().unwrap().to_uppercase()),
///         _ => out.append_field(&f),
///     }
/// }
/// assert_eq!(out.finish().to_document().unwrap(), doc! { "_id": 1, "name": "ADA", "age": 36 });
/// ```
pub fn fields(doc: &RawDocument) -> Fields<'_> {
    Fields { doc, at: 4 }
}

/// Iterator of [`fields`].
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    doc: &'a RawDocument,
    at: usize,
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    #[inline]
    fn next(&mut self) -> Option<Field<'a>> {
        let bytes = self.doc.as_bytes();
        let start = self.at;
        // `RawDocument` guarantees a length that matches and a final NUL.
        if start + 1 >= bytes.len() {
            return None;
        }
        let rest = &bytes[start..bytes.len() - 1];
        let t = rest[0];
        let Some((nul, ascii)) = scan::c_string(&rest[1..]) else {
            malformed(start, "a field name without its NUL");
        };
        let name = &rest[1..1 + nul];
        let key = if ascii {
            // SAFETY: ASCII is UTF-8.
            unsafe { std::str::from_utf8_unchecked(name) }
        } else {
            std::str::from_utf8(name)
                .unwrap_or_else(|_| malformed(start, "a field name that is not UTF-8"))
        };
        let v = 2 + nul; // where the value starts in `rest`
        let len_at = |at: usize| -> usize {
            let b: [u8; 4] = rest
                .get(at..at + 4)
                .and_then(|b| b.try_into().ok())
                .unwrap_or_else(|| malformed(start, "a value cut short"));
            usize::try_from(i32::from_le_bytes(b))
                .unwrap_or_else(|_| malformed(start, "a negative length"))
        };
        let value_len = match t {
            0x01 | 0x09 | 0x11 | 0x12 => 8, // double, datetime, timestamp, int64
            0x10 => 4,                      // int32
            0x08 => 1,                      // boolean
            0x07 => 12,                     // ObjectId
            0x13 => 16,                     // decimal128
            0x06 | 0x0A | 0x7F | 0xFF => 0, // undefined, null, max key, min key
            // string, JavaScript code, symbol: length, bytes, NUL
            0x02 | 0x0D | 0x0E => {
                let n = len_at(v);
                match rest.get(v + 4 + n.max(1) - 1) {
                    None => malformed(start, "a value longer than its document"),
                    Some(0) if n > 0 => 4 + n,
                    Some(_) => malformed(start, "a string without its NUL"),
                }
            }
            // document, array, code with scope: their own length first
            0x03 | 0x04 | 0x0F => len_at(v),
            0x05 => 4 + 1 + len_at(v),  // binary: length, subtype, bytes
            0x0C => 4 + len_at(v) + 12, // DBPointer: string, ObjectId
            0x0B => {
                // regular expression: two C strings
                let after = |from: usize| {
                    rest.get(from..)
                        .and_then(|r| r.iter().position(|&b| b == 0))
                        .map(|n| from + n + 1)
                        .unwrap_or_else(|| malformed(start, "a regex without its NUL"))
                };
                after(after(v)) - v
            }
            other => malformed(start, &format!("unknown element type {other:#04x}")),
        };
        let end = v
            .checked_add(value_len)
            .filter(|&e| e <= rest.len())
            .unwrap_or_else(|| malformed(start, "a value longer than its document"));
        self.at = start + end;
        Some(Field {
            bytes: &rest[..end],
            key,
            doc: self.doc,
            offset: start,
        })
    }
}

/// `b` as a `str` if it is UTF-8. Names and most values are short and ASCII:
/// checked inline, without the setup of the general validator.
#[inline]
fn utf8(b: &[u8]) -> Option<&str> {
    if scan::is_ascii(b) {
        // SAFETY: ASCII is UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(b) })
    } else {
        std::str::from_utf8(b).ok()
    }
}

#[cold]
fn malformed(offset: usize, what: &str) -> ! {
    panic!("malformed document: {what} at byte {offset}")
}

#[cfg(test)]
mod tests {
    use bson::oid::ObjectId;
    use bson::spec::BinarySubtype;
    use bson::{doc, Binary, Bson, JavaScriptCodeWithScope, RawDocumentBuf, Regex, Timestamp};

    use super::*;

    fn every_type() -> RawDocumentBuf {
        let d = RawDocumentBuf::from_document(&doc! {
            "_id": ObjectId::from_bytes([7; 12]),
            "double": 1.5,
            "string": "héllo",
            "empty": "",
            "doc": { "a": 1, "b": [1, 2] },
            "array": [1, "x", { "y": null }],
            "binary": Binary { subtype: BinarySubtype::Generic, bytes: vec![1, 2, 3] },
            "undefined": Bson::Undefined,
            "bool": true,
            "date": bson::DateTime::from_millis(-5),
            "null": Bson::Null,
            "regex": Regex { pattern: "^a.*".into(), options: "i".into() },
            "code": Bson::JavaScriptCode("f()".into()),
            "symbol": Bson::Symbol("sym".into()),
            "scoped": JavaScriptCodeWithScope { code: "g()".into(), scope: doc! { "x": 1 } },
            "int32": -3,
            "timestamp": Timestamp { time: 1, increment: 2 },
            "int64": i64::MIN,
            "decimal": "1.25".parse::<bson::Decimal128>().expect("test data"),
            "min": Bson::MinKey,
            "max": Bson::MaxKey,
        })
        .expect("test data");
        // A DBPointer (deprecated, no public constructor): appended by hand.
        let mut bytes = d.into_bytes();
        bytes.pop();
        bytes.extend_from_slice(b"\x0cdbpointer\0\x05\0\0\0coll\0");
        bytes.extend_from_slice(&[9; 12]);
        bytes.push(0);
        let n = i32::try_from(bytes.len()).expect("test data").to_le_bytes();
        bytes[..4].copy_from_slice(&n);
        RawDocumentBuf::from_bytes(bytes).expect("test data")
    }

    #[test]
    fn every_type_matches_what_the_bson_crate_reads() {
        let d = every_type();
        let ours: Vec<Field<'_>> = fields(&d).collect();
        let theirs: Vec<(&str, RawBsonRef<'_>)> = d.iter().map(|e| e.expect("test data")).collect();
        assert_eq!(ours.len(), theirs.len());
        for (f, (k, v)) in ours.iter().zip(&theirs) {
            assert_eq!(f.key(), *k);
            assert_eq!(f.element_type(), v.element_type(), "{k}");
            assert_eq!(f.value().expect("test data"), *v, "{k}");
        }
        assert_eq!(ours[2].as_str(), Some("héllo"));
        assert_eq!(ours[3].as_str(), Some(""));
        assert_eq!(ours[1].as_str(), None, "a double is not a string");
        // The elements tile the document exactly.
        let total: usize = ours.iter().map(|f| f.as_bytes().len()).sum();
        assert_eq!(total + 5, d.as_bytes().len());
    }

    #[test]
    fn an_empty_document_has_no_fields() {
        assert_eq!(fields(&RawDocumentBuf::new()).count(), 0);
    }

    #[test]
    fn a_string_that_is_not_utf8_is_found_but_does_not_decode() {
        let mut bytes = RawDocumentBuf::from_document(&doc! { "s": "ab" })
            .expect("test data")
            .into_bytes();
        bytes[11] = 0xFF; // the "a"
        let d = RawDocument::from_bytes(&bytes).expect("test data");
        let f = fields(d).next().expect("test data");
        assert_eq!(f.as_str(), None);
        assert!(f.value().is_err());
    }

    #[test]
    #[should_panic(expected = "malformed document: a value longer than its document at byte 4")]
    fn a_length_past_the_end_traps() {
        let mut bytes = RawDocumentBuf::from_document(&doc! { "s": "ab" })
            .expect("test data")
            .into_bytes();
        bytes[7] = 50; // the string's length
        let _ = fields(RawDocument::from_bytes(&bytes).expect("test data")).count();
    }

    #[test]
    #[should_panic(expected = "unknown element type 0x42 at byte 4")]
    fn an_unknown_type_traps() {
        let mut bytes = RawDocumentBuf::from_document(&doc! { "n": Bson::Null })
            .expect("test data")
            .into_bytes();
        bytes[4] = 0x42;
        let _ = fields(RawDocument::from_bytes(&bytes).expect("test data")).count();
    }
}
