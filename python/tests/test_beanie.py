"""Beanie migration files, unchanged: run by mongoshift, compared with what
`beanie migrate` itself does to the same data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import mongoshift
from bson import Int64
from conftest import ROOT, Project, users

SPLIT = ROOT / "bench/python/beanie_migrations/20260110090000_split_name.py"

FREE_FALL = '''
from beanie import Document, free_fall_migration


class User(Document):
    id: int
    email: str

    class Settings:
        name = "users"


class Forward:
    @free_fall_migration(document_models=[User])
    async def lower_domain(self, session):
        async for user in User.find_all(session=session):
            user.email = user.email.replace("@example.com", "@EXAMPLE.org")
            await user.replace(session=session)


class Backward:
    @free_fall_migration(document_models=[User])
    async def restore_domain(self, session):
        await User.get_pymongo_collection().update_many(
            {}, [{"$set": {"email": {"$replaceAll": {"input": "$email", "find": "@EXAMPLE.org", "replacement": "@example.com"}}}}],
            session=session,
        )
'''


def seed(project: Project, n: int) -> None:
    docs = users(n)
    for d in docs:
        d["address"]["street"] = f"{d['_id']} Main Street"
        d["_id"] = Int64(d["_id"])  # as host/src/sample.rs stores them
    project.db.users.insert_many(docs)


def beanie_migrate(uri: str, db: str, path: Path, *extra: str) -> None:
    beanie = Path(sys.executable).parent / "beanie"
    subprocess.run(
        [str(beanie), "migrate", "-uri", uri, "-db", db, "-p", str(path), *extra],
        check=True, capture_output=True, env={**os.environ},
    )


def test_beanie_iterative_file_runs_unchanged_like_beanie(project: Project, server_uri: str) -> None:
    seed(project, 1200)
    project.client[project.name + "_seed"].users.insert_many(list(project.db.users.find()))
    shutil.copy(SPLIT, project.dir / SPLIT.name)
    (project.dir / "__init__.py").write_text("")
    report = mongoshift.up(project.uri, path=project.dir).run()
    assert report["completed"][0]["matched"] == 1200
    assert project.ledger("20260110090000_split_name")["kind"] == "python"

    # The same file run by Beanie on a copy of the same data.
    other = project.client[project.name + "_b"]
    try:
        other.users.insert_many(list(project.client[project.name + "_seed"].users.find()))
        beanie_migrate(server_uri, other.name, project.dir)
        ours = list(project.db.users.find(sort=[("_id", 1)]))
        theirs = list(other.users.find(sort=[("_id", 1)]))
        assert ours == theirs
        assert list(ours[0]) == list(theirs[0])
        assert ours[7]["first_name"] == "Linus" and ours[7]["status"] == "active"
        # `_id` keeps its type (int64) through the models.
        assert project.db.users.count_documents({"_id": {"$type": "long"}}) == 1200
    finally:
        project.client.drop_database(other.name)
        project.client.drop_database(project.name + "_seed")

    # down runs Backward.
    mongoshift.down(project.uri, path=project.dir).run()
    back = project.db.users.find_one({"_id": 7})
    assert back is not None and back["name"] == "Linus Turing" and back["signup"] == "2022-08-17"
    assert project.ledger("20260110090000_split_name")["state"] == "rolled_back"


def test_beanie_free_fall_runs_with_beanie_initialised(project: Project) -> None:
    seed(project, 20)
    project.write("20260101000000_domain.py", FREE_FALL)
    events: list[dict[str, Any]] = []
    mongoshift.up(project.uri, path=project.dir, on_progress=events.append).run()
    assert project.db.users.count_documents({"email": {"$regex": "@EXAMPLE.org$"}}) == 20
    assert any(
        e["event"] == "step_started" and "beanie free_fall_migration Forward.lower_domain" in e["description"]
        for e in events
    )
    mongoshift.down(project.uri, path=project.dir).run()
    assert project.db.users.count_documents({"email": {"$regex": "@example.com$"}}) == 20


def test_beanie_file_error_has_traceback(project: Project) -> None:
    seed(project, 5)
    text = SPLIT.read_text().replace(
        'output_document.status = "active"', 'output_document.status = 1 / 0'
    )
    project.write("20260110090000_split_name.py", text)
    try:
        mongoshift.up(project.uri, path=project.dir).run()
        raise AssertionError("expected a failure")
    except mongoshift.TransformError as e:
        assert "ZeroDivisionError: division by zero" in str(e)
        assert "in split_name" in str(e)
