"""Fleets from Python: ``up``, ``down``, ``status`` and ``plan`` over tenant
databases chosen by pattern, each database's result as data, a failure kept
with its database."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import mongoshift
import pytest
from conftest import Project, users

COUNTRY = "20260101000000_country"
MARK = "20260102000000_mark"

MARK_PY = '''
from mongoshift import Migration, iterative_migration


def mark(doc):
    if doc.get("poison"):
        raise ValueError(f"cannot mark {doc['name']!r}")
    doc["ok"] = True
    return doc


def unmark(doc):
    doc.pop("ok", None)
    return doc


class Mark(Migration):
    collection = "users"

    @iterative_migration(batch_size=10)
    def forward(self, batch):
        return [mark(d) for d in batch]

    @iterative_migration(batch_size=10)
    def backward(self, batch):
        return [unmark(d) for d in batch]
'''


class Fleet:
    """Five tenant databases of 20 users each, named ``<prefix>N``, and the
    project's migrations: an update, then a Python transform."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.prefix = f"pyf_{uuid.uuid4().hex[:8]}_"
        self.names = [f"{self.prefix}{i}" for i in range(5)]
        self.pattern = f"{self.prefix}*"
        for name in self.names:
            project.client[name].users.insert_many(users(20))
        project.write(
            f"{COUNTRY}.toml",
            'kind = "update"\ncollection = "users"\n[[forward]]\nop = "update_many"\n'
            'filter = {}\nupdate = { "$set" = { country = "NO" } }\n',
        )
        project.write(f"{MARK}.py", MARK_PY)

    def count(self, i: int, query: dict[str, Any]) -> int:
        return self.project.client[self.names[i]].users.count_documents(query)

    def drop(self) -> None:
        for name in self.names:
            self.project.client.drop_database(name)


@pytest.fixture
def fleet(project: Project) -> Iterator[Fleet]:
    f = Fleet(project)
    try:
        yield f
    finally:
        f.drop()


def test_up_over_five_tenants_keeps_a_failure_with_its_database(fleet: Fleet) -> None:
    p = fleet.project
    fleet.project.client[fleet.names[3]].users.update_one({"_id": 7}, {"$set": {"poison": True}})
    events: list[dict[str, Any]] = []

    results = mongoshift.up(
        p.base_uri, path=p.dir, databases=[fleet.pattern], concurrency=2, on_progress=events.append
    ).run()

    assert [r["database"] for r in results] == fleet.names
    broken = results[3]
    assert broken["state"] == "failed"
    assert broken["migrations"] == [COUNTRY]
    assert broken["error"] is not None
    assert MARK in broken["error"] and "document _id 7" in broken["error"]
    assert "ValueError: cannot mark" in broken["error"]
    for i, r in enumerate(results):
        if i != 3:
            assert (r["state"], r["migrations"], r["error"]) == ("done", [COUNTRY, MARK], None)
            assert r["report"] is not None
            assert [c["id"] for c in r["report"]["completed"]] == [COUNTRY, MARK]
            assert fleet.count(i, {"ok": True, "country": "NO"}) == 20
    finished = {e["database"] for e in events if e["event"] == "database_finished"}
    assert finished == set(fleet.names) - {fleet.names[3]}
    assert any(e["event"] == "database_failed" and e["database"] == fleet.names[3] for e in events)
    assert any(e["event"] == "migration_finished" and e.get("database") for e in events)

    status = mongoshift.status(p.base_uri, path=p.dir, databases=[fleet.pattern]).run()
    rows = {d["database"]: d for d in status["databases"]}
    assert list(rows) == fleet.names
    assert [(d["applied"], d["pending"], d["failed"]) for d in rows.values()] == [
        (2, 0, 0), (2, 0, 0), (2, 0, 0), (1, 0, 1), (2, 0, 0)
    ]
    assert rows[fleet.names[3]]["newest_applied"] == COUNTRY
    assert rows[fleet.names[0]]["newest_applied"] == MARK
    assert all(d["lock_holder"] is None and d["error"] is None for d in rows.values())
    assert [(m["id"], m["applied"], m["failed"]) for m in status["migrations"]] == [
        (COUNTRY, 5, 0), (MARK, 4, 1)
    ]

    # Asked to, the run raises once it ends; the results are on the error.
    with pytest.raises(mongoshift.FleetFailed) as e:
        mongoshift.up(p.base_uri, path=p.dir, databases=[fleet.pattern], check=True).run()
    assert f"1 of 5 databases failed: {fleet.names[3]}: " in str(e.value)
    assert isinstance(e.value, mongoshift.MigrationError)
    assert [r["state"] for r in e.value.results] == ["done", "done", "done", "failed", "done"]


def test_down_steps_one_over_the_fleet_and_plans_per_database(fleet: Fleet) -> None:
    p = fleet.project
    plan = mongoshift.plan(
        p.base_uri, path=p.dir, databases=[fleet.pattern], exclude=[fleet.names[0]]
    ).run()
    assert plan["concurrency"] >= 1
    assert [d["database"] for d in plan["databases"]] == fleet.names[1:]
    assert all(d["state"] == "done" and d["result"]["migrations"] for d in plan["databases"])
    up = mongoshift.up(p.base_uri, path=p.dir, databases=[fleet.pattern]).run()
    assert [r["state"] for r in up] == ["done"] * 5

    down = mongoshift.down(p.base_uri, path=p.dir, databases=[fleet.pattern], steps=1).run()

    assert [(r["database"], r["state"], r["migrations"]) for r in down] == [
        (name, "done", [MARK]) for name in fleet.names
    ]
    for i in range(5):
        assert (fleet.count(i, {"ok": True}), fleet.count(i, {"country": "NO"})) == (0, 20)
    status = mongoshift.status(p.base_uri, path=p.dir, databases=[fleet.pattern]).run()
    assert [(d["applied"], d["pending"]) for d in status["databases"]] == [(1, 1)] * 5
    assert [(m["id"], m["applied"], m["pending"]) for m in status["migrations"]] == [
        (COUNTRY, 5, 0), (MARK, 0, 5)
    ]


def test_a_selection_that_chooses_nothing_or_contradicts_itself_raises(fleet: Fleet) -> None:
    p = fleet.project
    nothing = f"{fleet.prefix}nothing_*"
    with pytest.raises(mongoshift.SelectionError, match=re.escape(f"no database matches `{nothing}`")):
        mongoshift.up(p.base_uri, path=p.dir, databases=[nothing]).run()
    with pytest.raises(mongoshift.SelectionError, match="no database matches"):
        mongoshift.status(p.base_uri, path=p.dir, databases=[fleet.pattern, nothing]).run()
    with pytest.raises(ValueError, match="names one database"):
        mongoshift.up(p.uri, path=p.dir, db=p.name, databases=[fleet.pattern])  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="dry_run=True runs on one database"):
        mongoshift.up(p.base_uri, path=p.dir, databases=[fleet.pattern], dry_run=True)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="concurrency= need a database selection"):
        mongoshift.up(p.uri, path=p.dir, concurrency=2)
    # Nothing was written anywhere.
    assert all(fleet.count(i, {"country": "NO"}) == 0 for i in range(5))
