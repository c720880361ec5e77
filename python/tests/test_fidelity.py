"""Documents pass through Python transforms with every BSON type intact."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import mongoshift
import pytest
from bson import (
    Binary,
    Code,
    Decimal128,
    Int64,
    MaxKey,
    MinKey,
    ObjectId,
    Regex,
    Timestamp,
)
from bson.raw_bson import RawBSONDocument
from conftest import Project


def every_type(i: int) -> dict[str, Any]:
    return {
        "_id": ObjectId(f"{i:024x}"),
        "int32": 7,
        "int64": Int64(7),
        "big": 2**40,
        "double": 7.0,
        "negzero": -0.0,
        "decimal": Decimal128("1234.5670"),
        "oid": ObjectId("65f0c0ffee00000000000001"),
        "date": datetime.datetime(2026, 1, 2, 3, 4, 5, 678000),
        "bin0": Binary(b"\x00\x01raw", 0),
        "bin2": Binary(b"old", 2),
        "uuid3": Binary(b"0123456789abcdef", 3),
        "uuid4": Binary(uuid.UUID(int=42).bytes, 4),
        "md5": Binary(b"0123456789abcdef", 5),
        "user": Binary(b"custom", 0x80),
        "regex": Regex("^a.c$", "imsx"),
        "ts": Timestamp(1700000000, 7),
        "min": MinKey(),
        "max": MaxKey(),
        "code": Code("function () { return 1; }"),
        "null": None,
        "bool": True,
        "text": "ünïcødé ✓",
        "nested": {"z": 1, "a": [1, Int64(2), 3.5, {"deep": [[], {}]}], "m": {"b": None}},
        "array": [Decimal128("0.1"), datetime.datetime(1969, 7, 20, 20, 17, 40), "x"],
    }


SAME = '''
import copy
from mongoshift import Migration, iterative_migration


class Same(Migration):
    collection = "things"

    @iterative_migration(batch_size=3)
    def forward(self, batch):
        # A copy, so the engine must re-encode every document.
        return [copy.deepcopy(d) for d in batch]
'''

ID_LAST = '''
from mongoshift import Migration, iterative_migration


class IdLast(Migration):
    collection = "things"

    @iterative_migration(batch_size=3)
    def forward(self, batch):
        # New dicts, equal to the input but with `_id` last.
        return [{**{k: v for k, v in d.items() if k != "_id"}, "_id": d["_id"]} for d in batch]
'''

TOUCH = '''
from mongoshift import Migration, iterative_migration


class Touch(Migration):
    collection = "things"

    @iterative_migration(batch_size=4)
    def forward(self, batch):
        for d in batch:
            d["touched"] = True
        return batch
'''

# Every fifth document deleted, document 3 replaced by a SON (not a dict),
# the others rebuilt with their `_id` last and a new field.
REBUILD = '''
from bson.son import SON
from mongoshift import Migration, iterative_migration


def rebuild(d):
    i = int(str(d["_id"]), 16)
    if i % 5 == 0:
        return None
    out = {k: v for k, v in d.items() if k != "_id"}
    out["touched"] = True
    out["_id"] = d["_id"]
    return SON(out) if i == 3 else out


class Rebuild(Migration):
    collection = "things"

    @iterative_migration(batch_size=4)
    def forward(self, batch):
        return [rebuild(d) for d in batch]
'''

REBUILD_EACH = REBUILD.replace("iterative_migration", "document_migration").replace(
    "def forward(self, batch):\n        return [rebuild(d) for d in batch]",
    "def forward(self, doc):\n        return rebuild(doc)",
)


def raw_docs(project: Project) -> dict[Any, bytes]:
    coll = project.db.get_collection(
        "things", codec_options=project.db.codec_options.with_options(document_class=RawBSONDocument)
    )
    return {d["_id"]: d.raw for d in coll.find()}


def test_unchanged_documents_are_byte_for_byte_identical(project: Project) -> None:
    project.db.things.insert_many([every_type(i) for i in range(10)])
    before = raw_docs(project)
    project.write("20260101000000_same.py", SAME)
    report = mongoshift.up(project.uri, path=project.dir).run()
    assert report["completed"][0]["matched"] == 10
    # Equal bytes back: nothing to write.
    assert report["completed"][0]["modified"] == 0
    assert raw_docs(project) == before


def test_documents_equal_but_for_the_place_of_id_are_unchanged(project: Project) -> None:
    project.db.things.insert_many([every_type(i) for i in range(10)])
    before = raw_docs(project)
    project.write("20260101000000_id_last.py", ID_LAST)
    report = mongoshift.up(project.uri, path=project.dir).run()
    assert report["completed"][0]["matched"] == 10
    # Encoded with `_id` first, as `bson.encode` writes it: the input's bytes,
    # nothing to write.
    assert report["completed"][0]["modified"] == 0
    assert raw_docs(project) == before


def test_changed_documents_keep_every_other_value_and_order(project: Project) -> None:
    project.db.things.insert_many([every_type(i) for i in range(10)])
    before = raw_docs(project)
    project.write("20260101000000_touch.py", TOUCH)
    report = mongoshift.up(project.uri, path=project.dir).run()
    assert report["completed"][0]["modified"] == 10
    after = raw_docs(project)
    for _id, raw in before.items():
        # The same elements, byte for byte and in order, then the new field
        # (\x08 bool, "touched", true) before the closing \x00.
        expected_body = raw[4:-1] + b"\x08touched\x00\x01"
        assert after[_id][4:-1] == expected_body


@pytest.mark.parametrize("source", [REBUILD, REBUILD_EACH], ids=["batch", "per-document"])
def test_rebuilt_documents_are_written_as_bson_encode_makes_them(
    project: Project, source: str
) -> None:
    assert "return rebuild(doc)" in source or source is REBUILD
    project.db.things.insert_many([every_type(i) for i in range(10)])
    before = raw_docs(project)
    project.write("20260101000000_rebuild.py", source)
    report = mongoshift.up(project.uri, path=project.dir).run()
    # Eight replaced, two deleted.
    assert report["completed"][0]["modified"] == 10
    after = raw_docs(project)
    assert sorted(after) == sorted(_id for _id in before if int(str(_id), 16) % 5 != 0)
    for _id, raw in after.items():
        # `_id` first, as `bson.encode` writes a mapping that has one, then
        # the others in order and the new field.
        assert raw[4:-1] == before[_id][4:-1] + b"\x08touched\x00\x01"
