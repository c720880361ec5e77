//! Deletes trial accounts of users under 21, and fails documents without a
//! valid email (a data problem to fix by hand). Irreversible: no backward
//! (the host keeps pre-images unless told not to).
//!
//! A document to delete is deleted whatever its email: there is no point in
//! stopping the run over data that is going away.

use mongoshift_guest::bson::RawBsonRef;
use mongoshift_guest::{transform, Outcome, RawDocument};

#[transform]
pub fn purge_trials(doc: &RawDocument) -> Outcome {
    if is_trial(doc) && is_under_21(doc) {
        return Outcome::Delete;
    }
    match doc.get_str("email") {
        Ok(e) if e.contains('@') => Outcome::Keep,
        Ok(e) => Outcome::fail(format!("field `email`: {e:?} has no '@'")),
        Err(_) => Outcome::fail("field `email` is missing or not a string"),
    }
}

/// `tags` is an array holding the string "trial".
fn is_trial(doc: &RawDocument) -> bool {
    doc.get_array("tags").is_ok_and(|tags| {
        tags.into_iter()
            .any(|t| matches!(t, Ok(RawBsonRef::String("trial"))))
    })
}

/// `age` is a number below 21 (a missing or non-numeric age is not).
fn is_under_21(doc: &RawDocument) -> bool {
    match doc.get("age") {
        Ok(Some(RawBsonRef::Int32(a))) => a < 21,
        Ok(Some(RawBsonRef::Int64(a))) => a < 21,
        Ok(Some(RawBsonRef::Double(a))) => a < 21.0,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use mongoshift_guest::{doc, native, Document, Encoded, RawDocumentBuf};

    use super::*;

    fn run(d: Document) -> Outcome {
        purge_trials(&RawDocumentBuf::from_document(&d).expect("raw"))
    }

    #[test]
    fn deletes_young_trials() {
        assert_eq!(
            run(doc! { "_id": 1, "email": "a@b", "age": 19, "tags": ["eu", "trial"] }),
            Outcome::Delete
        );
        assert_eq!(
            run(doc! { "_id": 1, "email": "a@b", "age": 20_i64, "tags": ["trial"] }),
            Outcome::Delete
        );
        assert_eq!(
            run(doc! { "_id": 1, "email": "a@b", "age": 20.5, "tags": ["trial"] }),
            Outcome::Delete
        );
        assert_eq!(
            run(doc! { "_id": 1, "age": 19, "tags": ["trial"] }),
            Outcome::Delete,
            "whatever the email"
        );
    }

    #[test]
    fn keeps_the_rest() {
        assert_eq!(
            run(doc! { "_id": 1, "email": "a@b", "age": 21, "tags": ["trial"] }),
            Outcome::Keep
        );
        assert_eq!(
            run(doc! { "_id": 1, "email": "a@b", "age": 19, "tags": ["vip"] }),
            Outcome::Keep
        );
        assert_eq!(
            run(doc! { "_id": 1, "email": "a@b", "tags": ["trial"] }),
            Outcome::Keep,
            "no age"
        );
        assert_eq!(
            run(doc! { "_id": 1, "email": "a@b", "age": "19", "tags": "trial" }),
            Outcome::Keep,
            "not a number, not an array"
        );
    }

    #[test]
    fn fails_without_a_valid_email() {
        assert_eq!(
            run(doc! { "_id": 1, "email": "nope", "age": 30 }),
            Outcome::Fail("field `email`: \"nope\" has no '@'".into())
        );
        assert_eq!(
            run(doc! { "_id": 1 }),
            Outcome::Fail("field `email` is missing or not a string".into())
        );
        assert_eq!(
            run(doc! { "_id": 1, "email": 5 }),
            Outcome::Fail("field `email` is missing or not a string".into())
        );
    }

    #[test]
    fn through_the_batch_loop() {
        let docs = [
            doc! { "_id": 1, "email": "a@b", "age": 19, "tags": ["trial"] },
            doc! { "_id": 2, "email": "a@b" },
        ]
        .map(|d| RawDocumentBuf::from_document(&d).expect("raw"));
        let out = native::run(
            purge_trials,
            &native::batch(docs.iter().map(|d| d.as_ref())),
        );
        assert_eq!(out, [Encoded::Delete, Encoded::Keep]);
    }
}
