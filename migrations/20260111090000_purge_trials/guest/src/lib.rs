//! Deletes trial accounts of users under 21 and fails documents without a
//! valid email (a data problem to fix by hand). Irreversible: no backward.

use mongoshift_guest::bson::RawBsonRef;
use mongoshift_guest::{transform, Outcome, RawDocument};

#[transform]
pub fn purge_trials(doc: &RawDocument) -> Outcome {
    match doc.get_str("email") {
        Ok(e) if e.contains('@') => {}
        Ok(e) => return Outcome::fail(format!("field `email`: {e:?} has no '@'")),
        Err(_) => return Outcome::fail("field `email` is missing or not a string"),
    }
    let trial = doc
        .get_array("tags")
        .map(|tags| tags.into_iter().any(|t| matches!(t, Ok(RawBsonRef::String("trial")))))
        .unwrap_or(false);
    let age = match doc.get("age") {
        Ok(Some(RawBsonRef::Int32(a))) => i64::from(a),
        Ok(Some(RawBsonRef::Int64(a))) => a,
        _ => i64::MAX,
    };
    if trial && age < 21 {
        Outcome::Delete
    } else {
        Outcome::Keep
    }
}

#[cfg(test)]
mod tests {
    use mongoshift_guest::{doc, RawDocumentBuf};

    use super::*;

    fn run(d: mongoshift_guest::Document) -> Outcome {
        purge_trials(&RawDocumentBuf::from_document(&d).expect("raw"))
    }

    #[test]
    fn decides() {
        assert_eq!(run(doc! { "_id": 1, "email": "a@b", "age": 19, "tags": ["trial"] }), Outcome::Delete);
        assert_eq!(run(doc! { "_id": 1, "email": "a@b", "age": 30, "tags": ["trial"] }), Outcome::Keep);
        assert_eq!(run(doc! { "_id": 1, "email": "a@b", "age": 19, "tags": ["vip"] }), Outcome::Keep);
        assert_eq!(run(doc! { "_id": 1, "email": "nope", "age": 19 }), Outcome::Fail("field `email`: \"nope\" has no '@'".into()));
        assert!(matches!(run(doc! { "_id": 1 }), Outcome::Fail(m) if m.contains("`email`")));
    }
}
