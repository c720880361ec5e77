//! Denormalizes: copies the name of each user's organisation (`orgs.name`,
//! found by the manifest's lookup on `org_id`) into the user as `org_name`,
//! after the fields it has. Run again it refreshes: a user whose `org_name`
//! differs from its organisation's name gets the current one. Backward
//! removes `org_name`.
//!
//! A user without `org_id`, or whose organisation is gone, keeps no
//! `org_name`: a stale copy is worse than none.

use mongoshift_guest::{transform, Bson, Context, Document, Outcome};

/// The field the name is copied into.
const FIELD: &str = "org_name";

#[transform(name = "denormalize_org_name", backward = drop_org_name)]
pub fn denormalize_org_name(mut user: Document, cx: &mut Context) -> Outcome {
    let name = cx
        .lookup("org")
        .next()
        .and_then(|org| org.get_str("name").ok().map(str::to_string));
    match (name, user.get(FIELD)) {
        (Some(n), Some(Bson::String(have))) if *have == n => Outcome::Keep,
        (Some(n), _) => {
            user.insert(FIELD, n);
            Outcome::Replace(user)
        }
        (None, None) => Outcome::Keep,
        (None, Some(_)) => {
            user.remove(FIELD);
            Outcome::Replace(user)
        }
    }
}

/// Removes `org_name`.
pub fn drop_org_name(mut user: Document, _cx: &mut Context) -> Outcome {
    if user.remove(FIELD).is_some() {
        Outcome::Replace(user)
    } else {
        Outcome::Keep
    }
}

#[cfg(test)]
mod tests {
    use mongoshift_guest::{doc, native, Encoded, RawDocumentBuf};

    use super::*;

    fn run(f: fn(Document, &mut Context) -> Outcome, user: Document, lookups: Document) -> Encoded {
        let raw = |d: Document| RawDocumentBuf::from_document(&d).expect("raw");
        let (u, l) = (raw(user), raw(lookups));
        let batch = native::batch_v2([(u.as_ref(), l.as_ref())]);
        let (outcome, outputs) = native::run_v2(f, &batch).remove(0);
        assert!(outputs.is_empty(), "no outputs");
        outcome
    }

    fn replaced(e: Encoded) -> Document {
        let Encoded::Replace(r) = e else {
            panic!("replaced: {e:?}")
        };
        Document::from_reader(&r[..]).expect("bson")
    }

    #[test]
    fn the_name_is_copied_refreshed_and_removed_backward() {
        let org = doc! { "org": [{ "_id": 3, "name": "Acme" }] };
        let user = doc! { "_id": 1, "org_id": 3 };
        let with = replaced(run(denormalize_org_name, user.clone(), org.clone()));
        assert_eq!(with, doc! { "_id": 1, "org_id": 3, "org_name": "Acme" });
        assert_eq!(run(denormalize_org_name, with.clone(), org), Encoded::Keep);
        let renamed = doc! { "org": [{ "_id": 3, "name": "Acme Ltd" }] };
        assert_eq!(
            replaced(run(denormalize_org_name, with.clone(), renamed)),
            doc! { "_id": 1, "org_id": 3, "org_name": "Acme Ltd" }
        );
        assert_eq!(replaced(run(drop_org_name, with, doc! {})), user);
    }

    #[test]
    fn without_an_organisation_there_is_no_copy() {
        let none = doc! { "org": [] };
        assert_eq!(
            run(denormalize_org_name, doc! { "_id": 1 }, none.clone()),
            Encoded::Keep
        );
        assert_eq!(
            replaced(run(
                denormalize_org_name,
                doc! { "_id": 1, "org_id": 9, "org_name": "Gone" },
                none
            )),
            doc! { "_id": 1, "org_id": 9 }
        );
    }
}
