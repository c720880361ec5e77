"""The mongoshift API: migrations written in Python, run by the Rust engine."""

from __future__ import annotations

import asyncio
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import mongoshift
import pytest
from conftest import ROOT, Project, users

SPLIT = ROOT / "bench/python/mongoshift_migrations/20260110090000_split_name.py"


def test_iterative_split_name_up_status_and_down(project: Project) -> None:
    project.db.users.insert_many(users(2500))
    shutil.copy(SPLIT, project.dir / SPLIT.name)
    events: list[dict[str, Any]] = []

    report = asyncio.run(_up(project, events))

    assert [c["id"] for c in report["completed"]] == ["20260110090000_split_name"]
    assert report["completed"][0]["matched"] == 2500
    doc = project.db.users.find_one({"_id": 5})
    assert doc is not None
    assert list(doc) == [
        "_id", "first_name", "last_name", "email", "age", "signup", "address", "tags", "status"
    ]
    assert (doc["first_name"], doc["last_name"], doc["status"]) == ("Alan", "Turing", "active")
    assert doc["signup"] == datetime(2020, 6, 15)
    assert project.db.users.count_documents({"status": "active"}) == 2500
    kinds = {e["event"] for e in events}
    assert {"run_started", "migration_started", "documents", "migration_finished"} <= kinds
    assert max(e["done"] for e in events if e["event"] == "documents") == 2500

    rows = mongoshift.status(project.uri, path=project.dir).run()
    assert [(r["id"], r["kind"], r["status"]) for r in rows] == [
        ("20260110090000_split_name", "python", {"recorded": "applied"})
    ]
    assert project.ledger("20260110090000_split_name")["matched"] == 2500

    # `backward` is defined: down runs it, no pre-images were kept.
    assert project.ledger("20260110090000_split_name").get("pre_images") is None
    mongoshift.down(project.uri, path=project.dir).run()
    back = project.db.users.find_one({"_id": 5})
    assert back == users(6)[5]
    assert list(back or {}) == ["_id", "name", "email", "age", "signup", "address", "tags"]


async def _up(project: Project, events: list[dict[str, Any]]) -> dict[str, Any]:
    return await mongoshift.up(project.uri, path=project.dir, on_progress=events.append)


def test_plan_shows_python_steps_with_counts(project: Project) -> None:
    project.db.users.insert_many(users(30))
    shutil.copy(SPLIT, project.dir / SPLIT.name)
    plan = mongoshift.plan(project.uri, path=project.dir).run()
    (m,) = plan["migrations"]
    assert m["kind"] == "python"
    assert m["description"] == "split name into first_name/last_name, status active, signup as a date"
    assert m["steps"][0]["matching"] == 30
    assert "python SplitName.forward on users" in m["steps"][0]["description"]


BULK = '''
from mongoshift import Migration, bulk_migration, rust_optimized_migration


class AddStatus(Migration):
    @bulk_migration
    async def forward(self):
        await self.db["users"].update_many({}, {"$set": {"status": "active"}})

    @rust_optimized_migration()
    def backward(self):
        self.db["users"].update_many({}, {"$unset": {"status": ""}})
'''


def test_bulk_async_forward_and_sync_backward(project: Project) -> None:
    project.db.users.insert_many(users(10))
    project.write("20260101000000_add_status.py", BULK)
    mongoshift.up(project.uri, path=project.dir).run()
    assert project.db.users.count_documents({"status": "active"}) == 10
    assert project.ledger("20260101000000_add_status")["state"] == "applied"
    mongoshift.down(project.uri, path=project.dir).run()
    assert project.db.users.count_documents({"status": {"$exists": True}}) == 0
    assert project.ledger("20260101000000_add_status")["state"] == "rolled_back"


PER_DOC = '''
from mongoshift import Migration, document_migration


class Tidy(Migration):
    collection = "users"
    filter = {"age": {"$gte": 60}}

    @document_migration(batch_size=7)
    async def forward(self, doc):
        if doc["age"] >= 65:
            return None          # delete
        doc["senior"] = True     # change in place: written back
        return doc
'''


def test_per_document_async_with_filter_delete_and_pre_images(project: Project) -> None:
    project.db.users.insert_many(users(100))
    before = {d["_id"]: d for d in project.db.users.find()}
    project.write("20260102000000_tidy.py", PER_DOC)
    report = mongoshift.up(project.uri, path=project.dir).run()
    # Ages 20..69, twice each: 20 match, 10 of them are deleted.
    assert report["completed"][0]["matched"] == 20
    assert report["completed"][0]["modified"] == 20
    assert project.db.users.count_documents({}) == 90
    assert project.db.users.count_documents({"senior": True}) == 10
    assert project.db.users.count_documents({"senior": True, "age": {"$gte": 60, "$lt": 65}}) == 10
    # No backward: the originals were kept, and down puts them back exactly.
    assert project.ledger("20260102000000_tidy")["pre_images"]
    mongoshift.down(project.uri, path=project.dir).run()
    assert {d["_id"]: d for d in project.db.users.find()} == before


def test_mixed_with_update_migrations_in_one_ledger(project: Project) -> None:
    project.db.users.insert_many(users(20))
    project.write(
        "20260101000000_country.toml",
        'kind = "update"\ncollection = "users"\n[[forward]]\nop = "update_many"\n'
        'filter = {}\nupdate = { "$set" = { country = "NO" } }\n',
    )
    shutil.copy(SPLIT, project.dir / SPLIT.name)
    report = mongoshift.up(project.uri, path=project.dir).run()
    assert [c["id"] for c in report["completed"]] == [
        "20260101000000_country",
        "20260110090000_split_name",
    ]
    assert project.db.users.count_documents({"country": "NO", "status": "active"}) == 20


def test_python_m_mongoshift_offers_the_cli(project: Project) -> None:
    import subprocess
    import sys

    shutil.copy(SPLIT, project.dir / SPLIT.name)
    project.db.users.insert_many(users(3))
    env = {"MONGODB_URI": project.uri, "PATH": "/usr/bin:/bin", "MONGOSHIFT_PROGRESS": "none"}
    up = subprocess.run(
        [sys.executable, "-m", "mongoshift", "--path", str(project.dir), "up"],
        capture_output=True, text=True, env=env,
    )
    assert up.returncode == 0, up.stderr
    assert "20260110090000_split_name" in up.stdout
    st = subprocess.run(
        [sys.executable, "-m", "mongoshift", "--path", str(project.dir), "status"],
        capture_output=True, text=True, env=env,
    )
    assert st.returncode == 0, st.stderr
    assert "applied" in st.stdout and "python" in st.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "mongoshift", "frobnicate"], capture_output=True, text=True, env=env
    )
    assert bad.returncode == 2
    assert "unrecognized subcommand 'frobnicate'" in bad.stderr


def test_errors_are_exception_classes(project: Project, tmp_path: Path) -> None:
    assert issubclass(mongoshift.LockError, mongoshift.MigrationError)
    assert issubclass(mongoshift.ChecksumMismatch, mongoshift.MigrationError)
    shutil.copy(SPLIT, project.dir / SPLIT.name)
    mongoshift.up(project.uri, path=project.dir).run()
    (project.dir / SPLIT.name).write_text(SPLIT.read_text() + "\n# edited\n")
    with pytest.raises(mongoshift.ChecksumMismatch, match="20260110090000_split_name"):
        mongoshift.up(project.uri, path=project.dir).run()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "add_status.toml").write_text('kind = "update"\n')
    with pytest.raises(mongoshift.SourceError, match="numeric timestamp"):
        mongoshift.status(project.uri, path=bad).run()
    with pytest.raises(mongoshift.ConnectError):
        mongoshift.status("mongodb://127.0.0.1:1/x?serverSelectionTimeoutMS=300", path=bad.parent / "migrations").run()
