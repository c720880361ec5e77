//! Redaction for `mongoshift sample --redact`: chosen fields replaced by
//! stand-ins of the same BSON type, so real document shapes can be tested
//! without real data.
//!
//! A stand-in keeps what a transform is likely to depend on: the type, the
//! field order, a string's length and the class of each of its characters
//! (letters stay letters in the same case, digits stay digits, the rest is
//! kept, so an email still looks like one and a name keeps its spaces), a
//! number's sign and digit count, a binary's subtype and length. It is
//! derived from the value and a key drawn once per [`Redactor`], so equal
//! values get equal stand-ins within one export (joins still match) while
//! nothing can be looked up across exports.

use bson::spec::BinarySubtype;
use bson::{oid::ObjectId, Binary, Bson, DateTime, Decimal128, Document, Regex, Timestamp};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Replaces the values of chosen fields by same-type stand-ins.
#[derive(Debug, Clone)]
pub struct Redactor {
    key: [u8; 32],
    paths: Vec<Vec<String>>,
}

impl Redactor {
    /// Redacts the fields at `paths` (dotted: `address.city`; a path through
    /// an array applies to each of its elements; a document's whole content
    /// when the path names a sub-document), with a fresh random key.
    pub fn new(paths: &[String]) -> Redactor {
        let mut key = [0u8; 32];
        // Without randomness the stand-ins are still of the right type; only
        // their unlinkability across exports depends on it.
        let _ = getrandom::fill(&mut key);
        Redactor::with_key(paths, key)
    }

    /// As [`Redactor::new`], with a fixed key (for tests).
    pub fn with_key(paths: &[String], key: [u8; 32]) -> Redactor {
        Redactor {
            key,
            paths: paths
                .iter()
                .map(|p| p.split('.').map(str::to_string).collect())
                .collect(),
        }
    }

    /// Redacts `doc` in place; returns how many values were replaced.
    pub fn redact(&self, doc: &mut Document) -> usize {
        self.paths.iter().map(|path| self.at_path(doc, path)).sum()
    }

    fn at_path(&self, doc: &mut Document, path: &[String]) -> usize {
        let Some((first, rest)) = path.split_first() else {
            return 0;
        };
        let Some(value) = doc.get_mut(first) else {
            return 0;
        };
        self.in_value(value, rest)
    }

    fn in_value(&self, value: &mut Bson, rest: &[String]) -> usize {
        match value {
            Bson::Array(items) => items.iter_mut().map(|v| self.in_value(v, rest)).sum(),
            Bson::Document(d) if !rest.is_empty() => self.at_path(d, rest),
            _ if rest.is_empty() => self.whole(value),
            _ => 0,
        }
    }

    /// Every leaf of `value` replaced.
    fn whole(&self, value: &mut Bson) -> usize {
        match value {
            Bson::Document(d) => d.iter_mut().map(|(_, v)| self.whole(v)).sum(),
            Bson::Array(items) => items.iter_mut().map(|v| self.whole(v)).sum(),
            Bson::Null | Bson::MinKey | Bson::MaxKey | Bson::Undefined => 0,
            leaf => {
                *leaf = self.stand_in(leaf);
                1
            }
        }
    }

    /// The stand-in of a leaf value.
    fn stand_in(&self, v: &Bson) -> Bson {
        let h = self.hash(v);
        let n = u64::from_le_bytes(h[..8].try_into().expect("8 bytes"));
        match v {
            Bson::String(s) => Bson::String(shape(s, &h)),
            Bson::Symbol(s) => Bson::Symbol(shape(s, &h)),
            Bson::JavaScriptCode(s) => Bson::JavaScriptCode(shape(s, &h)),
            Bson::Int32(x) => Bson::Int32(same_digits(i64::from(*x), n) as i32),
            Bson::Int64(x) => Bson::Int64(same_digits(*x, n)),
            Bson::Double(x) => Bson::Double(if x.is_finite() {
                x * ((n % 1000) as f64 / 1000.0 + 0.5)
            } else {
                *x
            }),
            Bson::Decimal128(d) => {
                let text = shape(&d.to_string(), &h);
                Bson::Decimal128(text.parse::<Decimal128>().unwrap_or(*d))
            }
            Bson::Boolean(_) => Bson::Boolean(n % 2 == 0),
            Bson::DateTime(d) => {
                // Within a year of the original.
                let year = 365 * 24 * 3600 * 1000_i64;
                let shift = (n % (2 * year as u64)) as i64 - year;
                Bson::DateTime(DateTime::from_millis(
                    d.timestamp_millis().saturating_add(shift),
                ))
            }
            Bson::ObjectId(_) => {
                Bson::ObjectId(ObjectId::from_bytes(h[..12].try_into().expect("12 bytes")))
            }
            Bson::Binary(b) => Bson::Binary(Binary {
                subtype: b.subtype,
                bytes: stream(&h, b.bytes.len(), b.subtype),
            }),
            Bson::RegularExpression(r) => Bson::RegularExpression(Regex {
                pattern: shape(&r.pattern, &h),
                options: r.options.clone(),
            }),
            Bson::Timestamp(t) => Bson::Timestamp(Timestamp {
                time: t.time,
                increment: (n % u64::from(u32::MAX)) as u32,
            }),
            other => other.clone(),
        }
    }

    fn hash(&self, v: &Bson) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("any key length");
        let mut d = Document::new();
        d.insert("v", v.clone());
        mac.update(&bson::to_vec(&d).unwrap_or_default());
        mac.finalize().into_bytes().into()
    }
}

/// `s` with each letter replaced by a letter of the same case and each
/// digit by a digit, the rest kept.
fn shape(s: &str, h: &[u8; 32]) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            let k = h[i % 32].wrapping_add((i / 32) as u8);
            match c {
                'a'..='z' => (b'a' + k % 26) as char,
                'A'..='Z' => (b'A' + k % 26) as char,
                '0'..='9' => (b'0' + k % 10) as char,
                c if c.is_alphabetic() => (b'a' + k % 26) as char,
                c => c,
            }
        })
        .collect()
}

/// A number with the sign and digit count of `x`.
fn same_digits(x: i64, n: u64) -> i64 {
    let digits = x.unsigned_abs().checked_ilog10().map_or(1, |d| d + 1);
    let (lo, hi) = if digits == 1 {
        (0, 10)
    } else {
        (10u64.pow(digits - 1), 10u64.saturating_pow(digits))
    };
    let v = (lo + n % (hi - lo)) as i64;
    if x < 0 {
        -v
    } else {
        v
    }
}

/// `len` bytes from `h` (a UUID keeps its version and variant bits).
fn stream(h: &[u8; 32], len: usize, subtype: BinarySubtype) -> Vec<u8> {
    let mut out: Vec<u8> = (0..len)
        .map(|i| h[i % 32].wrapping_add((i / 32) as u8))
        .collect();
    if subtype == BinarySubtype::Uuid && len == 16 {
        out[6] = (out[6] & 0x0f) | 0x40;
        out[8] = (out[8] & 0x3f) | 0x80;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn types(d: &Document) -> Vec<(String, bson::spec::ElementType)> {
        d.iter()
            .map(|(k, v)| (k.clone(), v.element_type()))
            .collect()
    }

    #[test]
    fn stand_ins_keep_type_order_and_shape() {
        let original = doc! {
            "_id": 7,
            "name": "Ada Lovelace",
            "email": "ada42@example.com",
            "age": 36_i64,
            "score": -123,
            "born": DateTime::from_millis(-4_857_868_800_000),
            "profile": { "city": "London", "zip": "N1 9GU", "tags": ["math", "poetry"] },
            "vip": true,
            "note": Bson::Null,
        };
        let r = Redactor::with_key(
            &[
                "name".into(),
                "email".into(),
                "age".into(),
                "score".into(),
                "profile".into(),
                "born".into(),
            ],
            [7; 32],
        );
        let mut d = original.clone();
        assert_eq!(r.redact(&mut d), 9);
        assert_eq!(types(&d), types(&original));
        assert_eq!(d.get("_id"), original.get("_id"));
        assert_eq!(d.get("vip"), original.get("vip"));
        let name = d.get_str("name").expect("present");
        assert_ne!(name, "Ada Lovelace");
        assert_eq!(name.len(), 12);
        assert_eq!(name.chars().nth(3), Some(' '));
        assert!(name.chars().next().expect("present").is_ascii_uppercase());
        let email = d.get_str("email").expect("present");
        assert_eq!(email.len(), 17);
        assert_eq!(email.find('@'), Some(5));
        assert_eq!(email.rfind('.'), Some(13));
        let age = d.get_i64("age").expect("present");
        assert!((10..100).contains(&age));
        assert!(d.get_i32("score").expect("present") <= -100);
        let p = d.get_document("profile").expect("present");
        assert_eq!(
            types(p),
            types(original.get_document("profile").expect("present"))
        );
        assert_eq!(p.get_array("tags").expect("present").len(), 2);
    }

    #[test]
    fn equal_values_get_equal_stand_ins_within_one_redactor() {
        let r = Redactor::with_key(&["a.b".into()], [1; 32]);
        let mut x = doc! { "a": [ { "b": "same" }, { "b": "same" }, { "b": "other" } ] };
        r.redact(&mut x);
        let a = x.get_array("a").expect("present");
        let b = |i: usize| {
            a[i].as_document()
                .expect("present")
                .get_str("b")
                .expect("present")
                .to_string()
        };
        assert_eq!(b(0), b(1));
        assert_ne!(b(0), "same");
        assert_ne!(b(0), b(2));
        let other = Redactor::with_key(&["a.b".into()], [2; 32]);
        let mut y = doc! { "a": [ { "b": "same" } ] };
        other.redact(&mut y);
        assert_ne!(
            y.get_array("a").expect("present")[0]
                .as_document()
                .expect("present")
                .get_str("b")
                .expect("present"),
            b(0)
        );
    }

    #[test]
    fn binaries_keep_subtype_and_length() {
        let r = Redactor::with_key(&["u".into(), "o".into()], [3; 32]);
        let uuid = Binary {
            subtype: BinarySubtype::Uuid,
            bytes: vec![0; 16],
        };
        let mut d = doc! { "u": uuid.clone(), "o": ObjectId::new(), "missing": 1 };
        assert_eq!(r.redact(&mut d), 2);
        let Some(Bson::Binary(b)) = d.get("u") else {
            panic!("binary")
        };
        assert_eq!((b.subtype, b.bytes.len()), (BinarySubtype::Uuid, 16));
        assert_ne!(b.bytes, uuid.bytes);
        assert!(matches!(d.get("o"), Some(Bson::ObjectId(_))));
    }
}
