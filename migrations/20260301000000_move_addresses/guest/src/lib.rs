//! Moves an embedded array into its own collection: each `users.addresses[i]`
//! becomes a document of `addresses`,
//! `{_id: "<user _id>-<i>", user_id: <user _id>, i, ...the address's fields}`,
//! and the user is replaced without `addresses`. `gather_addresses` is its
//! inverse: it reads a user's address documents through the manifest's
//! lookup, puts them back in order and deletes them.
//!
//! A user without `addresses`, or with an empty array, is kept as it is both
//! ways (nothing to move, and nothing could tell the two apart on the way
//! back). Backward puts `addresses` last, where the seed has it.

use mongoshift_guest::{transform, Bson, Context, Document, Outcome};

/// The collection the addresses move to (the manifest's `outputs`).
const ADDRESSES: &str = "addresses";

/// Fields of a moved address that are the move's own.
const OWN: [&str; 3] = ["_id", "user_id", "i"];

#[transform(name = "move_addresses", backward = gather_addresses)]
pub fn move_addresses(mut user: Document, cx: &mut Context) -> Outcome {
    let addresses = match user.get("addresses") {
        None => return Outcome::Keep,
        Some(Bson::Array(a)) if a.is_empty() => return Outcome::Keep,
        Some(Bson::Array(a)) => a.clone(),
        Some(other) => {
            return Outcome::fail(format!(
                "field `addresses`: {:?}, not an array",
                other.element_type()
            ))
        }
    };
    let id = user.get("_id").cloned().unwrap_or(Bson::Null);
    let Some(prefix) = id_text(&id) else {
        return Outcome::fail(format!(
            "field `_id`: a {:?} _id cannot name the address documents",
            id.element_type()
        ));
    };
    for (i, address) in addresses.into_iter().enumerate() {
        let Bson::Document(address) = address else {
            return Outcome::fail(format!("field `addresses.{i}`: not a document"));
        };
        if let Some(key) = OWN.iter().find(|k| address.contains_key(**k)) {
            return Outcome::fail(format!(
                "field `addresses.{i}.{key}`: the moved document uses this name itself"
            ));
        }
        let n = i32::try_from(i).unwrap_or(i32::MAX);
        let mut moved = Document::new();
        moved.insert("_id", format!("{prefix}-{i}"));
        moved.insert("user_id", id.clone());
        moved.insert("i", n);
        moved.extend(address);
        cx.insert(ADDRESSES, moved);
    }
    user.remove("addresses");
    Outcome::Replace(user)
}

/// Puts a user's address documents back into `addresses`, in order, and
/// deletes them.
pub fn gather_addresses(mut user: Document, cx: &mut Context) -> Outcome {
    let mut moved: Vec<Document> = Vec::new();
    for m in cx.lookup("addresses") {
        match Document::try_from(m) {
            Ok(d) => moved.push(d),
            Err(e) => return Outcome::fail(format!("an address document does not decode: {e}")),
        }
    }
    if moved.is_empty() {
        return Outcome::Keep;
    }
    if user.contains_key("addresses") {
        return Outcome::fail(format!(
            "field `addresses`: the user has it already, and {} address documents too; remove one or the other",
            moved.len()
        ));
    }
    moved.sort_by_key(|d| d.get_i32("i").unwrap_or(i32::MAX));
    let mut addresses = Vec::with_capacity(moved.len());
    for mut d in moved {
        let Some(id) = d.remove("_id") else {
            return Outcome::fail("an address document has no _id");
        };
        for key in OWN {
            d.remove(key);
        }
        cx.delete(ADDRESSES, id);
        addresses.push(Bson::Document(d));
    }
    user.insert("addresses", addresses);
    Outcome::Replace(user)
}

/// The user's `_id` as the prefix of its addresses' `_id`s.
fn id_text(id: &Bson) -> Option<String> {
    match id {
        Bson::ObjectId(o) => Some(o.to_hex()),
        Bson::String(s) => Some(s.clone()),
        Bson::Int32(n) => Some(n.to_string()),
        Bson::Int64(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use mongoshift_guest::{doc, native, Encoded, OutputOp, RawDocumentBuf};

    use super::*;

    fn raw(d: Document) -> RawDocumentBuf {
        RawDocumentBuf::from_document(&d).expect("raw")
    }

    fn user() -> Document {
        doc! {
            "_id": 7, "name": "Ada",
            "addresses": [{ "city": "Paris", "zip": "75001" }, { "city": "Lyon" }],
        }
    }

    /// Runs `f` on one user with these lookups.
    fn run(
        f: fn(Document, &mut Context) -> Outcome,
        user: Document,
        lookups: Document,
    ) -> (Encoded, Vec<mongoshift_guest::Output>) {
        let (u, l) = (raw(user), raw(lookups));
        let batch = native::batch_v2([(u.as_ref(), l.as_ref())]);
        native::run_v2(f, &batch).remove(0)
    }

    #[test]
    fn forward_moves_each_address_out_and_backward_brings_them_back() {
        let (outcome, outputs) = run(move_addresses, user(), doc! {});
        let Encoded::Replace(replaced) = outcome else {
            panic!("replaced: {outcome:?}")
        };
        let replaced = Document::from_reader(&replaced[..]).expect("bson");
        assert_eq!(replaced, doc! { "_id": 7, "name": "Ada" });
        let moved: Vec<Document> = outputs
            .iter()
            .map(|o| {
                assert_eq!(
                    (o.op, o.collection.as_str()),
                    (OutputOp::Insert, "addresses")
                );
                o.document.to_document().expect("doc")
            })
            .collect();
        assert_eq!(
            moved,
            [
                doc! { "_id": "7-0", "user_id": 7, "i": 0, "city": "Paris", "zip": "75001" },
                doc! { "_id": "7-1", "user_id": 7, "i": 1, "city": "Lyon" },
            ]
        );
        // The lookup may give them in any order: backward sorts by `i`.
        let lookups = doc! { "addresses": [moved[1].clone(), moved[0].clone()] };
        let (outcome, outputs) = run(gather_addresses, replaced, lookups);
        let Encoded::Replace(back) = outcome else {
            panic!("replaced: {outcome:?}")
        };
        assert_eq!(back, raw(user()).into_bytes(), "byte for byte");
        let deleted: Vec<(OutputOp, Document)> = outputs
            .iter()
            .map(|o| (o.op, o.document.to_document().expect("doc")))
            .collect();
        assert_eq!(
            deleted,
            [
                (OutputOp::Delete, doc! { "_id": "7-0" }),
                (OutputOp::Delete, doc! { "_id": "7-1" })
            ]
        );
    }

    #[test]
    fn nothing_to_move_is_kept_both_ways() {
        for u in [doc! { "_id": 1 }, doc! { "_id": 1, "addresses": [] }] {
            assert_eq!(
                run(move_addresses, u.clone(), doc! {}),
                (Encoded::Keep, vec![])
            );
            assert_eq!(
                run(gather_addresses, u, doc! { "addresses": [] }),
                (Encoded::Keep, vec![])
            );
        }
    }

    #[test]
    fn bad_addresses_fail_naming_the_field_and_write_nothing() {
        for (u, expected) in [
            (
                doc! { "_id": 1, "addresses": "x" },
                "field `addresses`: String, not an array",
            ),
            (
                doc! { "_id": 1, "addresses": [{ "a": 1 }, 5] },
                "field `addresses.1`: not a document",
            ),
            (
                doc! { "_id": 1, "addresses": [{ "i": 1 }] },
                "field `addresses.0.i`: the moved document uses this name itself",
            ),
            (
                doc! { "_id": 1.5, "addresses": [{ "a": 1 }] },
                "field `_id`: a Double _id cannot name the address documents",
            ),
        ] {
            assert_eq!(
                run(move_addresses, u, doc! {}),
                (Encoded::Fail(expected.into()), vec![])
            );
        }
        let (outcome, outputs) = run(
            gather_addresses,
            doc! { "_id": 1, "addresses": [] },
            doc! { "addresses": [{ "_id": "1-0", "user_id": 1, "i": 0 }] },
        );
        assert!(matches!(outcome, Encoded::Fail(m) if m.contains("has it already")));
        assert!(outputs.is_empty());
    }
}
