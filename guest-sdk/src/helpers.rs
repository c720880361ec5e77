//! Helpers for common data-type changes.
//!
//! Each works on a decoded [`Document`] and returns `Err(message)` naming the
//! field and the value when a document cannot be converted, so a transform can
//! turn it into [`Outcome::Fail`](crate::Outcome::Fail) instead of trapping:
//!
//! ```
//! use mongoshift_guest::helpers::{string_to_date, with_default};
//! use mongoshift_guest::{doc, Outcome};
//!
//! let mut d = doc! { "_id": 1, "signup": "2024-02-29" };
//! let outcome = match string_to_date(&mut d, "signup", "%Y-%m-%d") {
//!     Ok(_) => { with_default(&mut d, "status", "active"); Outcome::Replace(d) }
//!     Err(message) => Outcome::Fail(message),
//! };
//! assert!(matches!(outcome, Outcome::Replace(_)));
//! ```

use bson::oid::ObjectId;
use bson::{Bson, DateTime, Decimal128, Document};

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parses a strict `YYYY-MM-DD` date to midnight UTC. `None` for anything
/// else (wrong length, not digits, month 13, February 30th, …).
pub fn parse_ymd(s: &str) -> Option<DateTime> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b[r].iter().try_fold(0i64, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some(DateTime::from_millis(days_from_civil(y, m, d) * 86_400_000))
}

/// Formats the date part of `dt` (UTC) as `YYYY-MM-DD`.
pub fn format_ymd(dt: DateTime) -> String {
    let days = dt.timestamp_millis().div_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Parses `value` with a `strftime`-like `format` (`%Y` year, `%m` month,
/// `%d` day, `%H` hour, `%M` minute, `%S` second, `%%` a percent sign; other
/// characters must match exactly) into a UTC datetime.
pub fn parse_date(value: &str, format: &str) -> Option<DateTime> {
    let (mut y, mut mo, mut d, mut h, mut mi, mut se) = (1970i64, 1i64, 1i64, 0i64, 0i64, 0i64);
    let v = value.as_bytes();
    let mut at = 0;
    let mut f = format.chars();
    while let Some(c) = f.next() {
        if c != '%' {
            let mut buf = [0u8; 4];
            let lit = c.encode_utf8(&mut buf).as_bytes();
            if v.get(at..at + lit.len())? != lit {
                return None;
            }
            at += lit.len();
            continue;
        }
        let (width, slot): (usize, &mut i64) = match f.next()? {
            'Y' => (4, &mut y),
            'm' => (2, &mut mo),
            'd' => (2, &mut d),
            'H' => (2, &mut h),
            'M' => (2, &mut mi),
            'S' => (2, &mut se),
            '%' => {
                if v.get(at) != Some(&b'%') {
                    return None;
                }
                at += 1;
                continue;
            }
            _ => return None,
        };
        let digits = v.get(at..at + width)?;
        *slot = digits.iter().try_fold(0i64, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })?;
        at += width;
    }
    if at != v.len()
        || !(1..=12).contains(&mo)
        || d < 1
        || d > days_in_month(y, mo)
        || h > 23
        || mi > 59
        || se > 59
    {
        return None;
    }
    Some(DateTime::from_millis(
        ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60_000 + se * 1000,
    ))
}

/// Replaces the string `field` by the date it holds in `format` (see
/// [`parse_date`]). `Ok(false)` when the field is absent.
pub fn string_to_date(doc: &mut Document, field: &str, format: &str) -> Result<bool, String> {
    match doc.get(field) {
        None => Ok(false),
        Some(Bson::String(s)) => {
            let dt = parse_date(s, format).ok_or_else(|| {
                format!("field `{field}`: {s:?} is not a date in the form {format}")
            })?;
            doc.insert(field, dt);
            Ok(true)
        }
        Some(other) => Err(format!(
            "field `{field}`: expected a date string, found {other}"
        )),
    }
}

/// Replaces the string `field` (24 hexadecimal digits) by an ObjectId.
pub fn string_to_object_id(doc: &mut Document, field: &str) -> Result<bool, String> {
    match doc.get(field) {
        None => Ok(false),
        Some(Bson::String(s)) => {
            let oid = ObjectId::parse_str(s).map_err(|_| {
                format!("field `{field}`: {s:?} is not an ObjectId (24 hexadecimal digits)")
            })?;
            doc.insert(field, oid);
            Ok(true)
        }
        Some(Bson::ObjectId(_)) => Ok(false),
        Some(other) => Err(format!(
            "field `{field}`: expected an ObjectId string, found {other}"
        )),
    }
}

/// Replaces the number in `field` (int32, int64, double, or a numeric string)
/// by a Decimal128 of the same decimal value as written. Doubles convert by
/// their shortest decimal form (0.1 stays 0.1).
pub fn number_to_decimal128(doc: &mut Document, field: &str) -> Result<bool, String> {
    let text = match doc.get(field) {
        None => return Ok(false),
        Some(Bson::Decimal128(_)) => return Ok(false),
        Some(Bson::Int32(i)) => i.to_string(),
        Some(Bson::Int64(i)) => i.to_string(),
        Some(Bson::Double(f)) if f.is_finite() => format!("{f}"),
        Some(Bson::String(s)) => s.trim().to_string(),
        Some(other) => return Err(format!("field `{field}`: expected a number, found {other}")),
    };
    let dec: Decimal128 = text
        .parse()
        .map_err(|_| format!("field `{field}`: {text:?} is not a decimal number"))?;
    doc.insert(field, dec);
    Ok(true)
}

/// Renames `from` to `to`, keeping the field's position. `Ok(false)` when
/// `from` is absent; an error when `to` exists already.
pub fn rename(doc: &mut Document, from: &str, to: &str) -> Result<bool, String> {
    if !doc.contains_key(from) {
        return Ok(false);
    }
    if doc.contains_key(to) {
        return Err(format!(
            "cannot rename field `{from}` to `{to}`: `{to}` exists already"
        ));
    }
    let old = std::mem::take(doc);
    for (k, v) in old {
        if k == from {
            doc.insert(to, v);
        } else {
            doc.insert(k, v);
        }
    }
    Ok(true)
}

/// Moves the fields of the sub-document `field` up, named `field<sep>key`, in
/// its place: `{a: {b: 1}}` becomes `{"a_b": 1}` with `sep = "_"`.
pub fn flatten(doc: &mut Document, field: &str, sep: &str) -> Result<bool, String> {
    match doc.get(field) {
        None => return Ok(false),
        Some(Bson::Document(_)) => {}
        Some(other) => {
            return Err(format!(
                "field `{field}`: expected a sub-document to flatten, found {other}"
            ))
        }
    }
    let old = std::mem::take(doc);
    for (k, v) in old {
        match (k == field, v) {
            (true, Bson::Document(inner)) => {
                for (ik, iv) in inner {
                    doc.insert(format!("{field}{sep}{ik}"), iv);
                }
            }
            (_, v) => {
                doc.insert(k, v);
            }
        }
    }
    Ok(true)
}

/// The inverse of [`flatten`]: gathers the fields named `field<sep>key` into a
/// sub-document `field`, placed where the first of them was.
pub fn nest(doc: &mut Document, field: &str, sep: &str) -> Result<bool, String> {
    let prefix = format!("{field}{sep}");
    if !doc.keys().any(|k| k.starts_with(&prefix)) {
        return Ok(false);
    }
    if doc.contains_key(field) {
        return Err(format!(
            "cannot nest fields into `{field}`: `{field}` exists already"
        ));
    }
    let old = std::mem::take(doc);
    let mut inner = Document::new();
    let mut placed = false;
    let mut rest = Vec::new();
    for (k, v) in old {
        if let Some(sub) = k.strip_prefix(&prefix) {
            inner.insert(sub, v);
            if !placed {
                rest.push((field.to_string(), Bson::Null));
                placed = true;
            }
        } else {
            rest.push((k, v));
        }
    }
    for (k, v) in rest {
        if k == field {
            doc.insert(field, Bson::Document(std::mem::take(&mut inner)));
        } else {
            doc.insert(k, v);
        }
    }
    Ok(true)
}

/// Sets `field` to `value` when it is missing. Returns whether it was set.
pub fn with_default(doc: &mut Document, field: &str, value: impl Into<Bson>) -> bool {
    if doc.contains_key(field) {
        return false;
    }
    doc.insert(field, value);
    true
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;

    #[test]
    fn string_to_date_with_formats_and_clear_failures() {
        let mut d = doc! { "_id": 1, "at": "2024-02-29 23:59:58", "day": "29/02/2023" };
        assert_eq!(string_to_date(&mut d, "at", "%Y-%m-%d %H:%M:%S"), Ok(true));
        assert_eq!(
            d.get_datetime("at").map(|t| t.timestamp_millis()),
            Ok(1_709_251_198_000)
        );
        let e = string_to_date(&mut d, "day", "%d/%m/%Y").expect_err("2023 is not a leap year");
        assert_eq!(
            e,
            "field `day`: \"29/02/2023\" is not a date in the form %d/%m/%Y"
        );
        assert_eq!(string_to_date(&mut d, "missing", "%Y"), Ok(false));
        for bad in [
            "2024-02-29 24:00:00",
            "2024-02-29 23:59",
            "2024-02-29 23:59:58 ",
            "x024-02-29 23:59:58",
        ] {
            assert!(parse_date(bad, "%Y-%m-%d %H:%M:%S").is_none(), "{bad}");
        }
        let mut n = doc! { "at": 5 };
        assert!(string_to_date(&mut n, "at", "%Y")
            .expect_err("not a string")
            .contains("expected a date string"));
        assert_eq!(
            parse_date("100%", "%H%%").map(|t| t.timestamp_millis()),
            None,
            "hour 100"
        );
        assert_eq!(
            parse_date("10%", "%H%%").map(|t| t.timestamp_millis()),
            Some(36_000_000)
        );
    }

    #[test]
    fn object_ids_and_decimals() {
        let mut d = doc! { "a": "65a1b2c3d4e5f60718293a4b", "b": "65a1b2c3", "n": 0.1, "i": 42_i64, "s": " 12.50 ", "x": "abc", "t": true };
        assert_eq!(string_to_object_id(&mut d, "a"), Ok(true));
        assert!(matches!(d.get("a"), Some(Bson::ObjectId(_))));
        assert!(string_to_object_id(&mut d, "b")
            .expect_err("short")
            .contains("field `b`"));
        assert_eq!(number_to_decimal128(&mut d, "n"), Ok(true));
        assert_eq!(d.get("n").map(ToString::to_string), Some("0.1".into()));
        assert_eq!(number_to_decimal128(&mut d, "i"), Ok(true));
        assert_eq!(number_to_decimal128(&mut d, "s"), Ok(true));
        assert_eq!(d.get("s").map(ToString::to_string), Some("12.50".into()));
        assert!(number_to_decimal128(&mut d, "x")
            .expect_err("not a number")
            .contains("field `x`"));
        assert!(number_to_decimal128(&mut d, "t")
            .expect_err("bool")
            .contains("expected a number"));
        assert_eq!(
            number_to_decimal128(&mut d, "i"),
            Ok(false),
            "already a decimal"
        );
    }

    #[test]
    fn rename_flatten_nest_and_defaults_keep_order() {
        let mut d = doc! { "_id": 1, "fullname": "A B", "address": { "city": "Oslo", "zip": "0150" }, "z": 1 };
        assert_eq!(rename(&mut d, "fullname", "name"), Ok(true));
        assert_eq!(rename(&mut d, "nope", "x"), Ok(false));
        assert!(rename(&mut d, "name", "z").is_err());
        assert_eq!(flatten(&mut d, "address", "_"), Ok(true));
        assert_eq!(
            d,
            doc! { "_id": 1, "name": "A B", "address_city": "Oslo", "address_zip": "0150", "z": 1 }
        );
        assert_eq!(nest(&mut d, "address", "_"), Ok(true));
        assert_eq!(
            d,
            doc! { "_id": 1, "name": "A B", "address": { "city": "Oslo", "zip": "0150" }, "z": 1 }
        );
        assert!(flatten(&mut d, "z", "_").is_err());
        assert!(with_default(&mut d, "status", "active"));
        assert!(!with_default(&mut d, "status", "other"));
        assert_eq!(d.get_str("status"), Ok("active"));
    }

    #[test]
    fn dates_round_trip_and_bad_ones_are_refused() {
        for s in [
            "1970-01-01",
            "2000-02-29",
            "2024-12-31",
            "1999-03-01",
            "2026-11-25",
        ] {
            let dt = parse_ymd(s).unwrap_or_else(|| panic!("{s}"));
            assert_eq!(format_ymd(dt), s);
        }
        assert_eq!(
            parse_ymd("1970-01-02").map(|d| d.timestamp_millis()),
            Some(86_400_000)
        );
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-1-10",
            "20240110",
            "abcd-ef-gh",
            "2024-04-31",
            "",
        ] {
            assert!(parse_ymd(bad).is_none(), "{bad}");
        }
    }
}
