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

/// `filter`, limited to the `_id`s from `lo` (included) up to `hi`
/// (excluded) in BSON order; `MinKey` and `MaxKey` leave that side open, so
/// a range ending at `MaxKey` covers every `_id` inserted later above `lo`.
pub(crate) fn within(filter: &Document, lo: &Bson, hi: &Bson) -> Document {
    let mut parts = Vec::new();
    if !filter.is_empty() {
        parts.push(Bson::Document(filter.clone()));
    }
    if *lo != Bson::MinKey {
        let higher = types(lo, std::cmp::Ordering::Greater);
        parts.push(Bson::Document(if higher.is_empty() {
            doc! { "_id": { "$gte": lo } }
        } else {
            doc! { "$or": [ { "_id": { "$gte": lo } }, { "_id": { "$type": higher } } ] }
        }));
    }
    if *hi != Bson::MaxKey {
        let lower = lower_types(hi);
        parts.push(Bson::Document(if lower.is_empty() {
            doc! { "_id": { "$lt": hi } }
        } else {
            doc! { "$or": [ { "_id": { "$lt": hi } }, { "_id": { "$type": lower } } ] }
        }));
    }
    match parts.len() {
        0 => Document::new(),
        1 => match parts.pop() {
            Some(Bson::Document(d)) => d,
            _ => unreachable!("only documents are pushed"),
        },
        _ => doc! { "$and": parts },
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
    // Not an `_id` a collection can hold in practice: compare by value only.
    let Some(bracket) = bracket(v) else {
        return Vec::new();
    };
    let part = match side {
        std::cmp::Ordering::Less => &ORDER[..bracket],
        _ => &ORDER[bracket + 1..],
    };
    part.iter().flat_map(|b| b.iter().copied()).collect()
}

/// Where `v`'s type sorts in BSON order (`None`: not a type an `_id` has).
fn bracket(v: &Bson) -> Option<usize> {
    Some(match v {
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
        _ => return None,
    })
}

/// Orders two `_id`s as the server does for the types ranges are cut at
/// (numbers, strings, ObjectIds, dates; others by type only).
pub(crate) fn compare_ids(a: &Bson, b: &Bson) -> std::cmp::Ordering {
    let number = |v: &Bson| match v {
        Bson::Double(d) => Some(*d),
        Bson::Int32(i) => Some(f64::from(*i)),
        Bson::Int64(i) => Some(*i as f64),
        _ => None,
    };
    bracket(a).cmp(&bracket(b)).then_with(|| match (a, b) {
        (Bson::String(x), Bson::String(y)) => x.cmp(y),
        (Bson::ObjectId(x), Bson::ObjectId(y)) => x.bytes().cmp(&y.bytes()),
        (Bson::DateTime(x), Bson::DateTime(y)) => x.cmp(y),
        _ => match (number(a), number(b)) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            _ => std::cmp::Ordering::Equal,
        },
    })
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
    fn a_range_from_min_key_to_max_key_is_the_filter_alone() {
        assert_eq!(within(&doc! {}, &Bson::MinKey, &Bson::MaxKey), doc! {});
        let f = within(&doc! { "a": 1 }, &Bson::Int32(5), &Bson::MaxKey);
        assert_eq!(f.get_array("$and").map(|a| a.len()), Ok(2));
        let f = within(&doc! {}, &Bson::MinKey, &Bson::Int32(5));
        let or = f.get_array("$or").expect("or");
        assert_eq!(or[0], Bson::Document(doc! { "_id": { "$lt": 5 } }));
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
