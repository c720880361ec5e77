//! The `$set`/`$unset` update between two versions of a document.

use bson::{RawDocument, RawDocumentBuf};

/// The `$set`/`$unset` update turning `old` into `new`, when applying it gives
/// exactly `new` (same fields in the same order): fields `new` keeps stay where
/// they are and fields it adds come last, in the order the server appends
/// them. `None` when only a replacement can produce `new`; `Some(None)` when
/// nothing changes.
pub(crate) fn diff_update(old: &RawDocument, new: &RawDocument) -> Option<Option<RawDocumentBuf>> {
    let mut set = RawDocumentBuf::new();
    let mut unset = RawDocumentBuf::new();
    let mut old_iter = old.iter();
    let mut new_iter = new.iter().peekable();
    // Walk both in order: every old field is either the next new field (same
    // or changed value) or removed.
    for o in old_iter.by_ref() {
        let (key, value) = o.ok()?;
        if key.contains('.') || key.starts_with('$') {
            return None;
        }
        match new_iter.peek() {
            Some(Ok((nk, nv))) if *nk == key => {
                if value != *nv {
                    set.append(key, nv.to_raw_bson());
                }
                new_iter.next();
            }
            _ => {
                if new.get(key).ok()?.is_some() {
                    // Kept but moved: only a replacement keeps the new order.
                    return None;
                }
                unset.append(key, "");
            }
        }
    }
    // MongoDB (5.0 and later) and secantusd-rs apply a `$set`'s fields in
    // lexicographic order of their names (numeric names in numeric order), so
    // added fields land in that order whatever order the update lists them in.
    let mut last_added: Option<&str> = None;
    for n in new_iter {
        let (key, value) = n.ok()?;
        if key.contains('.') || key.starts_with('$') || old.get(key).ok()?.is_some() {
            return None;
        }
        let numeric = !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit());
        if numeric || last_added.is_some_and(|prev| prev.as_bytes() >= key.as_bytes()) {
            return None;
        }
        last_added = Some(key);
        set.append(key, value.to_raw_bson());
    }
    if set.is_empty() && unset.is_empty() {
        return Some(None);
    }
    let mut u = RawDocumentBuf::new();
    if !set.is_empty() {
        u.append("$set", set);
    }
    if !unset.is_empty() {
        u.append("$unset", unset);
    }
    Some(Some(u))
}

#[cfg(test)]
mod tests {
    use bson::rawdoc;

    use super::*;

    #[test]
    fn changed_added_and_removed_fields_become_set_and_unset() {
        let old = rawdoc! { "_id": 1, "a": 1, "b": "x", "c": true };
        let new = rawdoc! { "_id": 1, "a": 2, "c": true, "d": 5 };
        let u = diff_update(&old, &new)
            .expect("expressible")
            .expect("a change");
        assert_eq!(
            u,
            rawdoc! { "$set": { "a": 2, "d": 5 }, "$unset": { "b": "" } }
        );
    }

    #[test]
    fn nothing_changed_is_no_update() {
        let d = rawdoc! { "_id": 1, "a": [1, 2] };
        assert_eq!(diff_update(&d, &d), Some(None));
    }

    #[test]
    fn a_moved_field_needs_a_replacement() {
        let old = rawdoc! { "_id": 1, "a": 1, "b": 2 };
        let new = rawdoc! { "_id": 1, "b": 2, "a": 1 };
        assert_eq!(diff_update(&old, &new), None);
    }

    #[test]
    fn added_fields_out_of_the_servers_order_need_a_replacement() {
        let old = rawdoc! { "_id": 1 };
        // The server appends `$set` fields in name order: b then a is not it.
        assert_eq!(
            diff_update(&old, &rawdoc! { "_id": 1, "b": 1, "a": 1 }),
            None
        );
        assert!(diff_update(&old, &rawdoc! { "_id": 1, "a": 1, "b": 1 }).is_some());
        // Numeric names are ordered numerically by the server: not expressible.
        assert_eq!(diff_update(&old, &rawdoc! { "_id": 1, "10": 1 }), None);
    }

    #[test]
    fn dotted_or_dollar_names_need_a_replacement() {
        let old = rawdoc! { "_id": 1, "a.b": 1 };
        assert_eq!(diff_update(&old, &rawdoc! { "_id": 1, "a.b": 2 }), None);
        let old = rawdoc! { "_id": 1 };
        assert_eq!(diff_update(&old, &rawdoc! { "_id": 1, "$x": 2 }), None);
    }
}
