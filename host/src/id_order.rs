//! `_id` ranges in BSON order. A query's `$gt`/`$lte` on `_id` compares
//! within one BSON type only, so a range over a collection whose `_id`s have
//! several types (numbers, strings, ObjectIds...) must name the other types
//! by `$type`, or it silently leaves their documents out.

use bson::{doc, Bson, Document};

/// `filter`, limited (when `through` is given) to the `_id`s up to and
/// including `through` in BSON order. A query's `$lte` compares within one
/// type only, so the types that sort below `through`'s are added by `$type`.
pub(crate) fn bounded(filter: &Document, through: Option<&Bson>) -> Document {
    let Some(last) = through else {
        return filter.clone();
    };
    let lower = lower_types(last);
    let ids = if lower.is_empty() {
        doc! { "_id": { "$lte": last } }
    } else {
        doc! { "$or": [ { "_id": { "$lte": last } }, { "_id": { "$type": lower } } ] }
    };
    if filter.is_empty() {
        ids
    } else {
        doc! { "$and": [ filter.clone(), ids ] }
    }
}

/// `filter`, limited to the `_id`s after `last` in BSON order (where a
/// stopped run goes on). A query's `$gt` compares within one type only, so
/// the types that sort above `last`'s are added by `$type`: without them a
/// collection whose `_id`s have several types would skip the later types.
pub(crate) fn after(filter: &Document, last: &Bson) -> Document {
    let higher = types(last, std::cmp::Ordering::Greater);
    let ids = if higher.is_empty() {
        doc! { "_id": { "$gt": last } }
    } else {
        doc! { "$or": [ { "_id": { "$gt": last } }, { "_id": { "$type": higher } } ] }
    };
    if filter.is_empty() {
        ids
    } else {
        doc! { "$and": [ filter.clone(), ids ] }
    }
}

/// The `$type` names of the types that sort before `v`'s in BSON order (the
/// ones an `_id` can have).
fn lower_types(v: &Bson) -> Vec<&'static str> {
    types(v, std::cmp::Ordering::Less)
}

/// The `$type` names of the types (an `_id` can have) that sort `side` of
/// `v`'s type in BSON order.
fn types(v: &Bson, side: std::cmp::Ordering) -> Vec<&'static str> {
    const ORDER: &[&[&str]] = &[
        &["minKey"],
        &["null"],
        &["double", "int", "long", "decimal"],
        &["string", "symbol"],
        &["object"],
        &["binData"],
        &["objectId"],
        &["bool"],
        &["date"],
        &["timestamp"],
        &["maxKey"],
    ];
    let bracket = match v {
        Bson::MinKey => 0,
        Bson::Null | Bson::Undefined => 1,
        Bson::Double(_) | Bson::Int32(_) | Bson::Int64(_) | Bson::Decimal128(_) => 2,
        Bson::String(_) | Bson::Symbol(_) => 3,
        Bson::Document(_) => 4,
        Bson::Binary(_) => 5,
        Bson::ObjectId(_) => 6,
        Bson::Boolean(_) => 7,
        Bson::DateTime(_) => 8,
        Bson::Timestamp(_) => 9,
        Bson::MaxKey => 10,
        // Not an `_id` a collection can hold in practice: compare by value only.
        _ => return Vec::new(),
    };
    let part = match side {
        std::cmp::Ordering::Less => &ORDER[..bracket],
        _ => &ORDER[bracket + 1..],
    };
    part.iter().flat_map(|b| b.iter().copied()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::oid::ObjectId;

    #[test]
    fn after_a_number_come_the_later_types() {
        let f = after(&doc! {}, &Bson::Int32(5));
        let want: Vec<Bson> = [
            "string",
            "symbol",
            "object",
            "binData",
            "objectId",
            "bool",
            "date",
            "timestamp",
            "maxKey",
        ]
        .iter()
        .map(|s| Bson::String((*s).into()))
        .collect();
        assert_eq!(
            f,
            doc! { "$or": [ { "_id": { "$gt": 5 } }, { "_id": { "$type": want } } ] }
        );
    }

    #[test]
    fn after_the_last_type_is_a_plain_range_and_a_filter_is_kept() {
        let last = Bson::MaxKey;
        assert_eq!(
            after(&doc! {}, &last),
            doc! { "_id": { "$gt": Bson::MaxKey } }
        );
        let id = Bson::ObjectId(ObjectId::new());
        let f = after(&doc! { "a": 1 }, &id);
        assert_eq!(f.get_array("$and").map(|a| a.len()), Ok(2));
    }

    #[test]
    fn up_to_a_string_includes_every_number() {
        let f = bounded(&doc! {}, Some(&Bson::String("m".into())));
        let or = f.get_array("$or").expect("or");
        assert_eq!(
            or[1],
            Bson::Document(
                doc! { "_id": { "$type": ["minKey", "null", "double", "int", "long", "decimal"] } }
            )
        );
    }
}
