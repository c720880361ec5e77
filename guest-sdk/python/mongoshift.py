"""mongoshift.py: write a mongoshift transform in Python, one function from
document to outcome, compiled to a WebAssembly component by componentize-py.

    from mongoshift import Doc, Writer, export, keep, replace

    def add_status(doc: Doc):
        if doc.get("status") is not None:
            return keep()
        w = Writer(doc)              # starts as a copy of nothing
        w.append_all(doc)
        w.append_str("status", "active")
        return replace(w.finish())

    WitWorld = export("add_status", add_status)

`mongoshift build` puts this file and the bindings of guest-sdk/wit beside the
guest's `app.py` and runs componentize-py (against world transform-v2 of
transform-v2.wit for a guest that calls `export_v2`: contract version 2, with
lookups and outputs; see the end of this file). Pure Python: BSON is read and
written here (C extensions do not run inside the component). Fields that a
transform does not touch are copied as bytes, so documents stay byte for byte
what they were.
"""

import struct
import sys
import traceback

from wit_world.imports import types as _t

_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")

# BSON type tags.
DOUBLE, STRING, DOCUMENT, ARRAY, BINARY = 0x01, 0x02, 0x03, 0x04, 0x05
UNDEFINED, OBJECT_ID, BOOL, DATETIME, NULL = 0x06, 0x07, 0x08, 0x09, 0x0A
REGEX, DBPOINTER, CODE, SYMBOL, CODE_W_SCOPE = 0x0B, 0x0C, 0x0D, 0x0E, 0x0F
INT32, TIMESTAMP, INT64, DECIMAL128, MIN_KEY, MAX_KEY = 0x10, 0x11, 0x12, 0x13, 0xFF, 0x7F

_FIXED = {DOUBLE: 8, DATETIME: 8, TIMESTAMP: 8, INT64: 8, OBJECT_ID: 12, BOOL: 1,
          INT32: 4, DECIMAL128: 16, UNDEFINED: 0, NULL: 0, MIN_KEY: 0, MAX_KEY: 0}


class Elem:
    """One element: `key` (str), `type` (a BSON tag) and `raw` (its value bytes)."""

    __slots__ = ("key", "type", "raw")

    def __init__(self, key, type_, raw):
        self.key, self.type, self.raw = key, type_, raw

    def as_str(self):
        """The string value, or None when the element is not a string."""
        if self.type != STRING:
            return None
        return bytes(self.raw[4:-1]).decode("utf-8")

    def as_datetime(self):
        """Milliseconds since the epoch, or None when not a datetime."""
        return _I64.unpack_from(self.raw)[0] if self.type == DATETIME else None

    def as_int(self):
        """An int32 or int64 value, or None."""
        if self.type == INT32:
            return _I32.unpack_from(self.raw)[0]
        if self.type == INT64:
            return _I64.unpack_from(self.raw)[0]
        return None


class Doc:
    """A BSON document as bytes; iterating gives its elements in order."""

    __slots__ = ("data",)

    def __init__(self, data):
        self.data = memoryview(data)

    def __iter__(self):
        d = self.data
        at, end = 4, len(d) - 1
        while at < end:
            t = d[at]
            k = at + 1
            z = k
            while d[z]:
                z += 1
            key = bytes(d[k:z]).decode("utf-8")
            v = z + 1
            n = _FIXED.get(t)
            if n is None:
                if t in (STRING, CODE, SYMBOL):
                    n = 4 + _I32.unpack_from(d, v)[0]
                elif t in (DOCUMENT, ARRAY, CODE_W_SCOPE):
                    n = _I32.unpack_from(d, v)[0]
                elif t == BINARY:
                    n = 5 + _I32.unpack_from(d, v)[0]
                elif t == DBPOINTER:
                    n = 16 + _I32.unpack_from(d, v)[0]
                elif t == REGEX:
                    e = v
                    while d[e]:
                        e += 1
                    e += 1
                    while d[e]:
                        e += 1
                    n = e + 1 - v
                else:
                    raise ValueError(f"unknown BSON type {t:#x} at field {key!r}")
            yield Elem(key, t, d[v:v + n])
            at = v + n

    def get(self, key):
        """The first element named `key`, or None."""
        for e in self:
            if e.key == key:
                return e
        return None


class Writer:
    """Builds a BSON document; untouched values are appended as bytes."""

    __slots__ = ("buf",)

    def __init__(self):
        self.buf = bytearray(b"\0\0\0\0")

    def _key(self, type_, key):
        self.buf.append(type_)
        self.buf += key.encode("utf-8")
        self.buf.append(0)

    def append(self, e, key=None):
        """Copies element `e` (under `key` when given: a rename in place)."""
        self._key(e.type, e.key if key is None else key)
        self.buf += e.raw

    def append_all(self, doc):
        for e in doc:
            self.append(e)

    def append_str(self, key, value):
        b = value.encode("utf-8")
        self._key(STRING, key)
        self.buf += _I32.pack(len(b) + 1)
        self.buf += b
        self.buf.append(0)

    def append_int32(self, key, value):
        self._key(INT32, key)
        self.buf += _I32.pack(value)

    def append_int64(self, key, value):
        self._key(INT64, key)
        self.buf += _I64.pack(value)

    def append_datetime(self, key, millis):
        self._key(DATETIME, key)
        self.buf += _I64.pack(millis)

    def append_bool(self, key, value):
        self._key(BOOL, key)
        self.buf.append(1 if value else 0)

    def append_null(self, key):
        self._key(NULL, key)

    def append_document(self, key, data):
        """A sub-document from its BSON bytes."""
        self._key(DOCUMENT, key)
        self.buf += data

    def append_array(self, key, data):
        """An array from the BSON bytes of a document keyed "0", "1", ...."""
        self._key(ARRAY, key)
        self.buf += data

    def finish(self):
        """The document's bytes."""
        self.buf.append(0)
        self.buf[0:4] = _I32.pack(len(self.buf))
        return bytes(self.buf)


# ---- messages -------------------------------------------------------------

_TYPE_NAMES = {
    DOUBLE: "Double", STRING: "String", DOCUMENT: "EmbeddedDocument", ARRAY: "Array",
    BINARY: "Binary", UNDEFINED: "Undefined", OBJECT_ID: "ObjectId", BOOL: "Boolean",
    DATETIME: "DateTime", NULL: "Null", REGEX: "RegularExpression", DBPOINTER: "DbPointer",
    CODE: "JavaScriptCode", SYMBOL: "Symbol", CODE_W_SCOPE: "JavaScriptCodeWithScope",
    INT32: "Int32", TIMESTAMP: "Timestamp", INT64: "Int64", DECIMAL128: "Decimal128",
    MAX_KEY: "MaxKey", MIN_KEY: "MinKey",
}


def type_name(type_):
    """A BSON type's name as the Rust SDK's messages show it (bson's
    `ElementType` debug form: "String", "Int32", "EmbeddedDocument", ...)."""
    return _TYPE_NAMES.get(type_, "Unknown")


_ESC = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}


def quote(s):
    """`s` quoted as Rust's `{:?}` quotes strings, so messages match the Rust
    guests': \\" \\\\ \\n \\r \\t \\0, other control characters as \\u{..}."""
    out = ['"']
    for c in s:
        e = _ESC.get(c)
        if e is not None:
            out.append(e)
        elif ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F:
            out.append("\\u{%x}" % ord(c))
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


# ---- dates ----------------------------------------------------------------

def _leap(y):
    return (y % 4 == 0 and y % 100 != 0) or y % 400 == 0


def _days_in_month(y, m):
    if m == 2:
        return 29 if _leap(y) else 28
    return 30 if m in (4, 6, 9, 11) else 31


def _days_from_civil(y, m, d):
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((m + 9) % 12) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_date(value, fmt):
    """Parses `value` with a strftime-like format (%Y %m %d %H %M %S %%; other
    characters match exactly) into milliseconds since the epoch (UTC), or
    None when it does not match or is not a real date."""
    f = {"Y": 1970, "m": 1, "d": 1, "H": 0, "M": 0, "S": 0}
    at, i, n = 0, 0, len(value)
    while i < len(fmt):
        c = fmt[i]
        i += 1
        if c != "%":
            if at >= n or value[at] != c:
                return None
            at += 1
            continue
        if i >= len(fmt):
            return None
        c = fmt[i]
        i += 1
        if c == "%":
            if at >= n or value[at] != "%":
                return None
            at += 1
            continue
        if c not in f:
            return None
        width = 4 if c == "Y" else 2
        digits = value[at:at + width]
        if len(digits) != width or not all("0" <= ch <= "9" for ch in digits):
            return None
        f[c] = int(digits)
        at += width
    y, mo, d = f["Y"], f["m"], f["d"]
    if (at != n or not 1 <= mo <= 12 or d < 1 or d > _days_in_month(y, mo)
            or f["H"] > 23 or f["M"] > 59 or f["S"] > 59):
        return None
    return ((_days_from_civil(y, mo, d) * 24 + f["H"]) * 60 + f["M"]) * 60000 + f["S"] * 1000


def parse_ymd(value):
    """A strict "YYYY-MM-DD" to midnight UTC in milliseconds, or None."""
    return parse_date(value, "%Y-%m-%d")


def format_ymd(millis):
    """The UTC date of `millis` as YYYY-MM-DD (years padded to 4 digits)."""
    z = millis // 86400000 + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    if m <= 2:
        y += 1
    year = "-%03d" % -y if y < 0 else "%04d" % y
    return "%s-%02d-%02d" % (year, m, d)


# ---- outcomes and the export ------------------------------------------------

_KEEP = _t.Outcome_Keep()
_DELETE = _t.Outcome_Delete()


def keep():
    """Leave the document as it is."""
    return _KEEP


def delete():
    """Delete the document."""
    return _DELETE


def replace(data):
    """Replace the document with these BSON bytes (same _id)."""
    return _t.Outcome_Replace(bytes(data))


def fail(message):
    """The document cannot be transformed; the message says why."""
    return _t.Outcome_Fail(str(message))


# ---- logs (guest-sdk/ABI.md "Logs") -------------------------------------------

DEBUG, INFO, NOTICE, WARN, ERROR = 0, 1, 2, 3, 4

# The document being transformed, and the one the host was last told of: the
# host learns of a document only when it logs.
_current = -1
_marked = -1


def _at(i):
    global _current, _marked
    if i < 0:
        _marked = -1
    _current = i


def log(level, message):
    """Logs `message` at `level` (DEBUG ... ERROR): the host gathers the lines
    of each batch and shows them with a failure, in a quarantined document's
    entry and under `mongoshift up -v`. `print` lines are logged at INFO, lines
    written to `sys.stderr` at WARN."""
    global _marked
    sys.stdout.flush()
    text = ""
    if _current >= 0 and _marked != _current:
        text += "\x1e@%d\n" % _current
        _marked = _current
    for line in str(message).split("\n"):
        text += "\x1e%d%s\n" % (level, line)
    sys.stderr.write(text)
    sys.stderr.flush()


def _exports(name, version, forward, backward, run):
    """The class of a world's two exports; `run(f, batch)` transforms a batch
    with the direction's function."""

    fns = (forward, backward)

    class WitWorld:
        def describe(self):
            return _t.Info(name=name, contract_version=version, backward=backward is not None,
                           reads=[], writes=[])

        def transform(self, dir, batch):
            f = fns[0] if dir == _t.Direction.FORWARD else fns[1]
            if f is None:
                raise RuntimeError(f"{name} has no backward transform")
            _at(-1)
            try:
                return run(f, memoryview(batch))
            except BaseException as exc:
                # The trap that follows says only that the component failed:
                # the exception is logged, so the batch's error shows it.
                lines = "".join(traceback.format_exception(exc)).rstrip().split("\n")
                log(DEBUG, "\n".join(lines[:-1]))
                log(ERROR, lines[-1])
                raise
            finally:
                # What was printed reaches the host with this batch.
                sys.stdout.flush()
                sys.stderr.flush()

    return WitWorld


def export(name, forward, backward=None):
    """The class componentize-py exports: assign it to `WitWorld` in app.py.
    `forward(doc)` (and `backward(doc)`) take a Doc and return an outcome."""

    def run(f, data):
        out = []
        at, end = 0, len(data)
        while at < end:
            n = _I32.unpack_from(data, at)[0]
            _at(len(out))
            out.append(f(Doc(data[at:at + n])))
            at += n
        return out

    return _exports(name, 1, forward, backward, run)


# ---- contract version 2: lookups and outputs ---------------------------------


class Context:
    """What a version-2 transform sees of one input document besides the
    document (its lookups) and what it writes besides its outcome (its
    outputs, in the order emitted; dropped if the outcome is a fail, since a
    document that fails writes nothing)."""

    __slots__ = ("lookups", "outputs")

    def __init__(self, lookups):
        self.lookups = lookups
        self.outputs = []

    def lookup(self, as_):
        """The documents (Docs) the lookup named `as_` matched, in the order
        the host gave them; none if it matched nothing or the manifest
        declares no such lookup."""
        e = self.lookups.get(as_)
        if e is None:
            return []
        if e.type != ARRAY:
            raise ValueError(f"lookup `{as_}` is not an array of documents")
        found = []
        for m in Doc(e.raw):
            if m.type != DOCUMENT:
                raise ValueError(f"lookup `{as_}` holds something other than documents")
            found.append(Doc(m.raw))
        return found

    def insert(self, collection, doc):
        """Inserts `doc` (BSON bytes with an `_id`) into `collection` (`name`
        or `database.name`, one of the manifest's `outputs`)."""
        self.outputs.append(_t.Output(op=_t.OutputOp.INSERT, collection=collection, document=bytes(doc)))

    def upsert(self, collection, doc):
        """Replaces the document of `collection` with `doc`'s `_id`, or inserts it."""
        self.outputs.append(_t.Output(op=_t.OutputOp.UPSERT, collection=collection, document=bytes(doc)))

    def delete(self, collection, id_):
        """Deletes the document of `collection` whose `_id` is the value of
        `id_` (an Elem: its key does not matter)."""
        w = Writer()
        w.append(id_, "_id")
        self.outputs.append(_t.Output(op=_t.OutputOp.DELETE, collection=collection, document=w.finish()))


def export_v2(name, forward, backward=None):
    """The class componentize-py exports for contract version 2: assign it to
    `WitWorld` in app.py. `forward(doc, cx)` (and `backward(doc, cx)`) take a
    Doc and a Context and return an outcome."""

    def run(f, data):
        out = []
        at, end = 0, len(data)
        while at < end:
            n = _I32.unpack_from(data, at)[0]
            l = _I32.unpack_from(data, at + n)[0]
            _at(len(out))
            cx = Context(Doc(data[at + n:at + n + l]))
            outcome = f(Doc(data[at:at + n]), cx)
            outputs = [] if isinstance(outcome, _t.Outcome_Fail) else cx.outputs
            out.append(_t.DocumentResult(outcome=outcome, outputs=outputs))
            at += n + l
        return out

    return _exports(name, 2, forward, backward, run)
