"""The reference transform in Python, byte for byte the same as the Rust guest
in migrations/20260110090000_split_name: split `name` "First Last" into
`first_name`/`last_name` (where `name` was), set `status` to "active", parse
`signup` "YYYY-MM-DD" into a date (in place). `join_name` is its inverse."""

from mongoshift import DATETIME, STRING, Doc, Writer, export, fail, format_ymd, keep, parse_ymd, quote, replace


def split_name(doc: Doc):
    out = Writer()
    named = status_seen = False
    bad_signup = None
    for e in doc:
        if e.key == "name" and e.type == STRING:
            first, _, last = e.as_str().partition(" ")
            out.append_str("first_name", first)
            out.append_str("last_name", last)
            named = True
        elif e.key == "signup" and e.type == STRING:
            s = e.as_str()
            millis = parse_ymd(s)
            if millis is None:
                bad_signup = s
            else:
                out.append_datetime("signup", millis)
        elif e.key == "status":
            out.append_str("status", "active")
            status_seen = True
        else:
            out.append(e)
    if not named:
        return keep()
    if bad_signup is not None:
        return fail(f"field `signup`: {quote(bad_signup)} is not a date in the form YYYY-MM-DD")
    if not status_seen:
        out.append_str("status", "active")
    return replace(out.finish())


def join_name(doc: Doc):
    first, last = doc.get("first_name"), doc.get("last_name")
    if first is None or last is None or first.type != STRING or last.type != STRING:
        return keep()
    first, last = first.as_str(), last.as_str()
    name = f"{first} {last}" if last else first
    out = Writer()
    for e in doc:
        if e.key == "first_name":
            out.append_str("name", name)
        elif e.key in ("last_name", "status"):
            pass
        elif e.key == "signup" and e.type == DATETIME:
            out.append_str("signup", format_ymd(e.as_datetime()))
        else:
            out.append(e)
    return replace(out.finish())


WitWorld = export("split_name", split_name, backward=join_name)
