"""The cross-collection reference transform in Python (contract version 2),
byte for byte the same as the Rust guest in
migrations/20260301000000_move_addresses: each `users.addresses[i]` becomes a
document of `addresses`, {_id: "<user _id>-<i>", user_id: <user _id>, i,
...the address's fields}, and the user is replaced without `addresses`.
`gather_addresses` is its inverse: it reads a user's address documents through
the manifest's lookup, puts them back in order of `i` and deletes them."""

from mongoshift import (ARRAY, DOCUMENT, INT32, INT64, NULL, OBJECT_ID, STRING, Context, Doc, Elem,
                        Writer, export_v2, fail, keep, replace, type_name)

ADDRESSES = "addresses"

# Fields of a moved address that are the move's own.
OWN = ("_id", "user_id", "i")

I32_MAX = 2**31 - 1


def id_text(id_: Elem):
    """The user's `_id` as the prefix of its addresses' `_id`s, or None for a
    type that cannot name them."""
    if id_.type == OBJECT_ID:
        return bytes(id_.raw).hex()
    if id_.type == STRING:
        return id_.as_str()
    if id_.type in (INT32, INT64):
        return str(id_.as_int())
    return None


def move_addresses(user: Doc, cx: Context):
    addresses = user.get("addresses")
    if addresses is None:
        return keep()
    if addresses.type != ARRAY:
        return fail(f"field `addresses`: {type_name(addresses.type)}, not an array")
    items = list(Doc(addresses.raw))
    if not items:
        return keep()
    id_ = user.get("_id") or Elem("_id", NULL, b"")
    prefix = id_text(id_)
    if prefix is None:
        return fail(f"field `_id`: a {type_name(id_.type)} _id cannot name the address documents")
    for i, a in enumerate(items):
        if a.type != DOCUMENT:
            return fail(f"field `addresses.{i}`: not a document")
        address = Doc(a.raw)
        own = next((k for k in OWN if address.get(k) is not None), None)
        if own is not None:
            return fail(f"field `addresses.{i}.{own}`: the moved document uses this name itself")
        moved = Writer()
        moved.append_str("_id", f"{prefix}-{i}")
        moved.append(id_, "user_id")
        moved.append_int32("i", i)
        moved.append_all(address)
        cx.insert(ADDRESSES, moved.finish())
    out = Writer()
    for e in user:
        if e.key != "addresses":
            out.append(e)
    return replace(out.finish())


def order_of(d: Doc):
    """A moved address's `i`; one without an int32 `i` sorts last (as the
    Rust guest's `unwrap_or(i32::MAX)`)."""
    i = d.get("i")
    return i.as_int() if i is not None and i.type == INT32 else I32_MAX


def gather_addresses(user: Doc, cx: Context):
    """Puts a user's address documents back into `addresses`, in order, and
    deletes them."""
    moved = cx.lookup(ADDRESSES)
    if not moved:
        return keep()
    if user.get("addresses") is not None:
        return fail(f"field `addresses`: the user has it already, and {len(moved)} address documents too; "
                    "remove one or the other")
    moved.sort(key=order_of)  # stable, as the Rust guest's sort_by_key
    items = Writer()
    for k, d in enumerate(moved):
        id_ = d.get("_id")
        if id_ is None:
            return fail("an address document has no _id")
        back = Writer()
        for e in d:
            if e.key not in OWN:
                back.append(e)
        cx.delete(ADDRESSES, id_)
        items.append_document(str(k), back.finish())
    out = Writer()
    out.append_all(user)
    out.append_array("addresses", items.finish())
    return replace(out.finish())


WitWorld = export_v2("move_addresses", move_addresses, backward=gather_addresses)
