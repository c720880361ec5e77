"""The options of ``up``, ``down`` and ``plan`` are those of the command line,
and each reaches the engine."""

from __future__ import annotations

import shutil

import mongoshift
import pytest
from conftest import ROOT, Project, users

SPLIT = ROOT / "bench/python/mongoshift_migrations/20260110090000_split_name.py"
ID = "20260110090000_split_name"

FLAG = """
from mongoshift import Migration, iterative_migration


def mark(doc):
    if doc["_id"] == 3:
        raise ValueError("cannot mark document 3")
    doc["marked"] = True
    return doc


class Mark(Migration):
    collection = "users"

    @iterative_migration(batch_size=10)
    def forward(self, batch):
        return [mark(d) for d in batch]
"""


def test_dry_run_with_a_sample_writes_nothing_and_shows_the_changes(project: Project) -> None:
    project.db.users.insert_many(users(30))
    shutil.copy(SPLIT, project.dir / SPLIT.name)
    report = mongoshift.up(project.uri, path=project.dir, dry_run=True, sample=2).run()
    [m] = report["migrations"]
    assert (m["id"], m["total"], m["sampled"], m["replaced"]) == (ID, 30, 2, 2)
    assert project.db.users.count_documents({"first_name": {"$exists": True}}) == 0
    assert project.db.mongoshift_ledger.count_documents({}) == 0


def test_pre_images_on_a_reversible_migration_keeps_them(project: Project) -> None:
    project.db.users.insert_many(users(30))
    shutil.copy(SPLIT, project.dir / SPLIT.name)
    mongoshift.up(project.uri, path=project.dir, pre_images=True).run()
    kept = project.ledger(ID)["pre_images"]
    # A batch's originals are one record: every user's original is in one.
    originals = [i for r in project.db[kept].find() for i in r["ids"]]
    assert sorted(originals) == list(range(30))


def test_on_error_quarantine_sets_the_failing_document_aside(project: Project) -> None:
    project.db.users.insert_many(users(20))
    project.write("20260101000000_mark.py", FLAG)
    with pytest.raises(mongoshift.TransformError, match="cannot mark document 3"):
        mongoshift.up(project.uri, path=project.dir, on_error="abort").run()
    report = mongoshift.up(project.uri, path=project.dir, on_error="quarantine").run()
    assert report["completed"][0]["id"] == "20260101000000_mark"
    assert project.ledger("20260101000000_mark")["quarantined"] == 1
    assert project.db.users.count_documents({"marked": True}) == 19


def test_a_changed_file_is_accepted_only_when_named(project: Project) -> None:
    project.db.users.insert_many(users(10))
    path = project.write("20260101000000_mark.py", FLAG.replace("== 3", "== -1"))
    mongoshift.up(project.uri, path=project.dir).run()
    before = project.ledger("20260101000000_mark")["checksum"]
    path.write_text(path.read_text() + "\n# reviewed\n")
    with pytest.raises(mongoshift.ChecksumMismatch, match="20260101000000_mark"):
        mongoshift.up(project.uri, path=project.dir).run()
    mongoshift.up(
        project.uri, path=project.dir, dangerously_allow_changed=["20260101000000_mark"]
    ).run()
    assert project.ledger("20260101000000_mark")["checksum"] != before


def test_down_options_reach_the_engine(project: Project) -> None:
    project.db.users.insert_many(users(10))
    shutil.copy(SPLIT, project.dir / SPLIT.name)
    mongoshift.up(project.uri, path=project.dir).run()
    (project.dir / SPLIT.name).write_text(SPLIT.read_text() + "\n# changed\n")
    with pytest.raises(mongoshift.ChecksumMismatch, match=ID):
        mongoshift.down(project.uri, path=project.dir).run()
    mongoshift.down(project.uri, path=project.dir, dangerously_allow_changed=[ID]).run()
    assert project.ledger(ID)["state"] == "rolled_back"
    assert project.db.users.find_one({"_id": 5}) == users(6)[5]


def test_plan_takes_up_s_options(project: Project) -> None:
    project.db.users.insert_many(users(10))
    shutil.copy(SPLIT, project.dir / SPLIT.name)
    plan = mongoshift.plan(project.uri, path=project.dir, transactions="none").run()
    assert [m["id"] for m in plan["migrations"]] == [ID]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategy": "inplace"}, "unknown variant `inplace`, expected one of `in-place`"),
        ({"transactions": "always"}, "expected one of `batch`, `migration`, `none`"),
        ({"quarantine": True, "on_error": "abort"}, "quarantine=True contradicts"),
        ({"sample": 3}, "sample= is for dry_run=True"),
    ],
)
def test_a_bad_option_is_a_value_error_saying_what_is_allowed(
    project: Project, kwargs: dict[str, object], message: str
) -> None:
    shutil.copy(SPLIT, project.dir / SPLIT.name)
    with pytest.raises(ValueError, match=message.replace("`", ".").replace("=", ".")):
        mongoshift.up(project.uri, path=project.dir, **kwargs).run()  # type: ignore[arg-type]
    assert project.db.mongoshift_ledger.count_documents({}) == 0
