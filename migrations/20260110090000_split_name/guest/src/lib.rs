//! The reference transform: split `name` "First Last" into `first_name` and
//! `last_name` (where `name` was), set `status` to "active", and parse `signup`
//! "YYYY-MM-DD" into a BSON date (in place). `join_name` is its exact inverse.
//!
//! Every change is top-level, so both directions use the raw path: untouched
//! fields are copied as bytes, never decoded.

use mongoshift_guest::bson::spec::ElementType;
use mongoshift_guest::helpers::{format_ymd, parse_ymd};
use mongoshift_guest::{fields, transform, DocWriter, Outcome, RawDocument};

#[transform(name = "split_name", backward = join_name)]
pub fn split_name(doc: &RawDocument) -> Outcome {
    // One pass over the document: it is the hot loop of the whole migration.
    // Untouched fields are copied whole, never decoded.
    let mut out = DocWriter::with_capacity(doc.as_bytes().len() + 48);
    let mut named = false;
    let mut status_seen = false;
    let mut bad_signup = None;
    for f in fields(doc) {
        // Only the fields the transform reads are decoded.
        match f.key() {
            "name" => match f.as_str() {
                Some(name) => {
                    let (first, last) = name.split_once(' ').unwrap_or((name, ""));
                    out.append_str("first_name", first);
                    out.append_str("last_name", last);
                    named = true;
                }
                None => out.append_field(&f),
            },
            "signup" => match f.as_str().map(|s| (s, parse_ymd(s))) {
                Some((_, Some(d))) => out.append_datetime("signup", d),
                Some((s, None)) => bad_signup = Some(s),
                None => out.append_field(&f),
            },
            "status" => {
                out.append_str("status", "active");
                status_seen = true;
            }
            _ => out.append_field(&f),
        }
    }
    if !named {
        // Nothing to split (already migrated, or no name): leave it as it is,
        // whatever its signup holds.
        return Outcome::Keep;
    }
    if let Some(s) = bad_signup {
        return Outcome::fail(format!(
            "field `signup`: {s:?} is not a date in the form YYYY-MM-DD"
        ));
    }
    if !status_seen {
        out.append_str("status", "active");
    }
    Outcome::ReplaceRaw(out.finish())
}

/// The inverse of [`split_name`] for the documents it produced: `name` back
/// where `first_name` was, `first_name`/`last_name`/`status` removed, `signup`
/// back to "YYYY-MM-DD" in place.
pub fn join_name(doc: &RawDocument) -> Outcome {
    let (mut first, mut last) = (None, None);
    for f in fields(doc) {
        match f.key() {
            "first_name" => first = f.as_str(),
            "last_name" => last = f.as_str(),
            _ => {}
        }
    }
    let (Some(first), Some(last)) = (first, last) else {
        return Outcome::Keep;
    };
    let name = if last.is_empty() {
        first.to_string()
    } else {
        format!("{first} {last}")
    };
    let mut out = DocWriter::with_capacity(doc.as_bytes().len());
    for f in fields(doc) {
        match f.key() {
            "first_name" => out.append_str("name", &name),
            "last_name" | "status" => {}
            "signup" if f.element_type() == ElementType::DateTime => {
                let d = f.value().expect("a date is 8 bytes");
                out.append_str("signup", &format_ymd(d.as_datetime().expect("a date")));
            }
            _ => out.append_field(&f),
        }
    }
    Outcome::ReplaceRaw(out.finish())
}

#[cfg(test)]
mod tests {
    use mongoshift_guest::bson::DateTime;
    use mongoshift_guest::{doc, native, Encoded, RawDocumentBuf};

    use super::*;

    fn raw(d: mongoshift_guest::Document) -> RawDocumentBuf {
        RawDocumentBuf::from_document(&d).expect("raw")
    }

    fn seed() -> RawDocumentBuf {
        raw(
            doc! { "_id": 7_i64, "name": "Ada Lovelace", "email": "ada@example.com", "age": 36, "signup": "2015-12-10", "address": { "city": "London" }, "tags": ["vip"] },
        )
    }

    #[test]
    fn forward_splits_and_parses() {
        let Outcome::ReplaceRaw(out) = split_name(&seed()) else {
            panic!("replace")
        };
        let d = out.to_document().expect("doc");
        assert_eq!(
            d.keys().collect::<Vec<_>>(),
            [
                "_id",
                "first_name",
                "last_name",
                "email",
                "age",
                "signup",
                "address",
                "tags",
                "status"
            ]
        );
        assert_eq!(d.get_str("first_name"), Ok("Ada"));
        assert_eq!(d.get_str("last_name"), Ok("Lovelace"));
        assert_eq!(d.get_str("status"), Ok("active"));
        assert_eq!(
            d.get_datetime("signup").map(|t| t.timestamp_millis()),
            Ok(1_449_705_600_000)
        );
    }

    #[test]
    fn backward_joins_what_forward_produced() {
        let migrated = raw(
            doc! { "_id": 3, "first_name": "Cher", "last_name": "", "signup": DateTime::from_millis(0), "status": "active" },
        );
        let Outcome::ReplaceRaw(back) = join_name(&migrated) else {
            panic!("replace")
        };
        assert_eq!(
            back.to_document().expect("doc"),
            doc! { "_id": 3, "name": "Cher", "signup": "1970-01-01" }
        );
        assert_eq!(
            join_name(&raw(doc! { "_id": 3, "name": "Not Migrated" })),
            Outcome::Keep
        );
    }

    #[test]
    fn round_trips_are_byte_identical() {
        let originals = [
            seed(),
            raw(doc! { "_id": 1, "name": "Cher", "signup": "2000-02-29" }),
            raw(doc! { "_id": 2, "name": "Jean Claude Van Damme", "x": null }),
            raw(doc! { "name": "Grace Hopper", "_id": 4, "age": 85_i64 }),
        ];
        for original in &originals {
            let Outcome::ReplaceRaw(forward) = split_name(original) else {
                panic!("replace")
            };
            assert_eq!(
                split_name(&forward),
                Outcome::Keep,
                "forward twice changes nothing"
            );
            let Outcome::ReplaceRaw(back) = join_name(&forward) else {
                panic!("replace")
            };
            assert_eq!(back.as_bytes(), original.as_bytes(), "{original:?}");
        }
    }

    #[test]
    fn one_word_names_and_an_existing_status() {
        let Outcome::ReplaceRaw(out) =
            split_name(&raw(doc! { "_id": 1, "status": "trial", "name": "Cher" }))
        else {
            panic!("replace")
        };
        assert_eq!(
            out.to_document().expect("doc"),
            doc! { "_id": 1, "status": "active", "first_name": "Cher", "last_name": "" }
        );
    }

    #[test]
    fn a_bad_date_fails_naming_the_field() {
        let d = raw(doc! { "_id": 1, "name": "A B", "signup": "2015-02-30" });
        assert_eq!(
            split_name(&d),
            Outcome::Fail(
                "field `signup`: \"2015-02-30\" is not a date in the form YYYY-MM-DD".into()
            )
        );
        assert_eq!(
            split_name(&raw(doc! { "_id": 1 })),
            Outcome::Keep,
            "no name"
        );
        assert_eq!(
            split_name(&raw(doc! { "_id": 1, "signup": "soon" })),
            Outcome::Keep,
            "no name, whatever the date"
        );
    }

    #[test]
    fn the_batch_loop_gives_one_outcome_per_document() {
        let docs = [seed(), raw(doc! { "_id": 8 })];
        let batch = native::batch(docs.iter().map(|d| d.as_ref()));
        let out = native::run(split_name, &batch);
        assert_eq!(out.len(), 2);
        assert!(matches!(out[0], Encoded::Replace(_)));
        assert_eq!(out[1], Encoded::Keep);
    }
}
