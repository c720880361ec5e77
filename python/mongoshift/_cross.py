"""What one call of a cross-collection step sees: each input document's
lookups, and the outputs emitted for each.

The engine gives a step that declares ``outputs`` or ``lookups`` each input
document followed by its lookups document, and takes back, besides the
outcomes, each document's outputs as ``(op, collection, bson)`` tuples (op 0
insert, 1 upsert, 2 delete: the tags of the core-module ABI). It checks them
against the declared ``outputs`` and writes them in the batch's transaction;
nothing is written from Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import bson
from bson.codec_options import CodecOptions, DatetimeConversion

#: Decoding that round-trips every BSON type: int64 stays ``Int64``, binary
#: subtypes stay ``Binary``, dates out of Python's range stay ``DatetimeMS``.
CODEC: CodecOptions[dict[str, Any]] = CodecOptions(
    document_class=dict, datetime_conversion=DatetimeConversion.DATETIME_AUTO
)

INSERT, UPSERT, DELETE = 0, 1, 2

#: The attribute of a migration instance that holds the call in progress.
ATTR = "_mongoshift_call"

Emitted = tuple[int, str, bytes]


class Call:
    """One call of a step over ``docs`` (``lookups[i]`` is ``docs[i]``'s)."""

    def __init__(
        self,
        where: str,
        declared: frozenset[str],
        docs: list[dict[str, Any]],
        lookups: list[dict[str, Any]],
    ) -> None:
        self.where = where
        self.declared = declared
        self.docs = docs
        self.lookups = lookups
        self.outputs: list[list[Emitted]] = [[] for _ in docs]
        #: A per-document step: the place of the document being transformed.
        self.current: int | None = None
        self._by_identity = {id(d): i for i, d in enumerate(docs)}

    def index_of(self, doc: object, what: str) -> int:
        """The place of input document ``doc`` (the same dict, or one with its ``_id``)."""
        if doc is None:
            if self.current is not None:
                return self.current
            raise TypeError(
                f"{self.where}: {what} in a batch step needs the input document it is for: "
                f"pass source=doc (per-document steps default to their document)"
            )
        i = self._by_identity.get(id(doc))
        if i is not None:
            return i
        if isinstance(doc, Mapping) and "_id" in doc:
            key = _key(doc["_id"])
            for j, d in enumerate(self.docs):
                if _key(d.get("_id")) == key:
                    return j
        raise ValueError(
            f"{self.where}: {what} is given a document that is not an input of this call: "
            "pass the input document (or one with its _id)"
        )

    def lookup(self, doc: object, name: str) -> list[dict[str, Any]]:
        """The matches of lookup ``name`` for input document ``doc``."""
        if name not in self.declared:
            known = ", ".join(sorted(self.declared)) or "none"
            raise KeyError(
                f"{self.where} reads lookup {name!r}, but its class declares no lookup "
                f"with as_={name!r} (declared: {known})"
            )
        found = self.lookups[self.index_of(doc, f"lookup({name!r})")].get(name, [])
        return list(found)

    def add(self, op: int, collection: str, document: object, source: object) -> None:
        """Records one output of ``source``."""
        what = ("emit", "upsert", "delete")[op]
        if not isinstance(collection, str):
            raise TypeError(f"{self.where}: {what}() takes a collection name (str) first")
        if not isinstance(document, Mapping):
            raise TypeError(
                f"{self.where}: {what}() to {collection!r} takes a document (dict), "
                f"not {type(document).__name__}"
            )
        i = self.index_of(source, f"{what}({collection!r}, ...)")
        self.outputs[i].append((op, collection, bson.encode(document, codec_options=CODEC)))


def _key(value: object) -> bytes:
    return bson.encode({"k": value}, codec_options=CODEC)


def current(migration: object, what: str) -> Call:
    """The call in progress on ``migration``, for ``emit`` and friends."""
    call = getattr(migration, ATTR, None)
    if call is None:
        raise RuntimeError(
            f"{type(migration).__name__}.{what}() works only inside an iterative or "
            "per-document step of a migration whose class declares `outputs` (to write) "
            "or `lookups` (to read)"
        )
    assert isinstance(call, Call)
    return call
