"""Failures in user code: clear messages naming the migration and the batch,
tracebacks in the ledger, abort/quarantine and resume as with Wasm."""

from __future__ import annotations

from typing import Any

import mongoshift
import pytest
from conftest import Project, users

RAISES = '''
from mongoshift import Migration, iterative_migration


def check(doc):
    if doc.get("poison"):
        raise ValueError(f"cannot split {doc['name']!r}")
    doc["ok"] = True
    return doc


class Split(Migration):
    collection = "users"

    @iterative_migration(batch_size=10)
    def forward(self, batch):
        return [check(d) for d in batch]
'''


def fail_message(project: Project, exc: pytest.ExceptionInfo[Any]) -> str:
    return str(exc.value)


def test_exception_aborts_with_traceback_in_message_and_ledger_then_resumes(
    project: Project,
) -> None:
    docs = users(50)
    docs[34]["poison"] = True
    project.db.users.insert_many(docs)
    project.write("20260101000000_split.py", RAISES)
    with pytest.raises(mongoshift.MigrationError) as e:
        mongoshift.up(project.uri, path=project.dir).run()
    msg = str(e.value)
    assert "20260101000000_split" in msg
    assert "batch 4" in msg and "document _id 34" in msg
    assert "Traceback (most recent call last)" in msg
    assert "ValueError: cannot split 'Grace Lovelace'" in msg
    assert 'line 7, in check' in msg
    entry = project.ledger("20260101000000_split")
    assert entry["state"] == "failed"
    assert "ValueError: cannot split" in entry["error"]
    # The batches before the failing one are written, nothing after.
    assert project.db.users.count_documents({"ok": True}) == 30
    assert entry["checkpoint"]["read"] == 30
    # Fix the data, run again: it resumes after the last written batch.
    project.db.users.update_one({"_id": 34}, {"$unset": {"poison": ""}})
    report = mongoshift.up(project.uri, path=project.dir).run()
    assert report["completed"][0]["matched"] == 50
    entry = project.ledger("20260101000000_split")
    assert entry["state"] == "applied" and entry["checkpoint"]["batches"] == 5
    assert project.db.users.count_documents({"ok": True}) == 50


def test_quarantine_sets_the_failing_document_aside(project: Project) -> None:
    docs = users(25)
    docs[3]["poison"] = True
    project.db.users.insert_many(docs)
    project.write("20260101000000_split.py", RAISES)
    report = mongoshift.up(project.uri, path=project.dir, quarantine=True).run()
    assert report["completed"][0]["matched"] == 25
    entry = project.ledger("20260101000000_split")
    assert entry["state"] == "applied_with_errors" and entry["quarantined"] == 1
    q = project.db.mongoshift_quarantine.find_one({})
    assert q is not None and "ValueError: cannot split" in str(q)
    assert project.db.users.count_documents({"ok": True}) == 24


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("return {'n': len(batch)}", "Bad.forward returned dict; it must return a list"),
        ("return batch[:-1]", "Bad.forward returned 3 documents for a batch of 4"),
        ("return batch[:-1] + ['x']", "Bad.forward returned str for document 3 of the batch"),
        ("return [None, 5, None, None]", "Bad.forward returned int for document 1 of the batch"),
        # A value bson cannot encode: bson's own message, the batch named.
        ("return [dict(d, bad={1}) for d in batch]", "cannot encode object: {1}, of type: <class 'set'>"),
    ],
)
def test_wrong_return_values_name_migration_and_batch(
    project: Project, body: str, expected: str
) -> None:
    project.db.users.insert_many(users(8))
    project.write(
        "20260101000000_bad.py",
        "from mongoshift import Migration, iterative_migration\n\n"
        "class Bad(Migration):\n    collection = 'users'\n\n"
        "    @iterative_migration(batch_size=4)\n"
        f"    def forward(self, batch):\n        {body}\n",
    )
    with pytest.raises(mongoshift.TransformError) as e:
        mongoshift.up(project.uri, path=project.dir).run()
    msg = str(e.value)
    assert "while applying migration 20260101000000_bad" in msg or "20260101000000_bad" in msg
    assert "batch 1 (documents _id 0 to 3)" in msg
    assert expected in msg
    assert project.db.users.count_documents({"name": {"$exists": True}}) == 8


def test_bad_files_say_what_is_wrong(project: Project) -> None:
    project.write("20260101000000_empty.py", "x = 1\n")
    with pytest.raises(mongoshift.TransformError) as e:
        mongoshift.up(project.uri, path=project.dir).run()
    assert "python migration 20260101000000_empty" in str(e.value)
    assert "defines no mongoshift.Migration subclass and no Beanie Forward/Backward class" in str(
        e.value
    )
    assert project.ledger("20260101000000_empty")["state"] == "failed"


def test_missing_collection_and_decorator(project: Project) -> None:
    project.write(
        "20260101000000_nocoll.py",
        "from mongoshift import Migration, iterative_migration\n\n"
        "class A(Migration):\n    @iterative_migration()\n    def forward(self, b):\n        return b\n",
    )
    with pytest.raises(mongoshift.TransformError, match="A.forward is an iterative migration but A has no `collection`"):
        mongoshift.up(project.uri, path=project.dir).run()
    (project.dir / "20260101000000_nocoll.py").unlink()
    project.client.drop_database(project.name)
    project.write(
        "20260101000001_nodeco.py",
        "from mongoshift import Migration\n\nclass B(Migration):\n    def forward(self, b):\n        return b\n",
    )
    with pytest.raises(mongoshift.TransformError, match="B.forward has no mongoshift decorator"):
        mongoshift.up(project.uri, path=project.dir).run()


def test_syntax_error_in_file_is_reported_with_traceback(project: Project) -> None:
    project.write("20260101000000_broken.py", "def (:\n")
    with pytest.raises(mongoshift.TransformError) as e:
        mongoshift.up(project.uri, path=project.dir).run()
    assert "SyntaxError" in str(e.value) and "20260101000000_broken.py" in str(e.value)
