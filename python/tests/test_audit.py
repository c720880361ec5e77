"""``mongoshift.audit()``: the audit trail of runs made from Python."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import mongoshift
import pytest
from conftest import Project, users

STATUS = "20260101000000_add_status"
ADD_STATUS = """
description = "give every user a status"
kind = "update"
collection = "users"

[[forward]]
op = "update_many"
filter = {}
update = { "$set" = { status = "active" } }

[[backward]]
op = "update_many"
filter = {}
update = { "$unset" = { status = "" } }
"""


def test_up_and_down_from_python_are_recorded_newest_first(project: Project) -> None:
    project.db.users.insert_many(users(12))
    project.write(f"{STATUS}.toml", ADD_STATUS)
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    mongoshift.up(project.uri, path=project.dir).run()
    mongoshift.down(project.uri, path=project.dir).run()

    rows = mongoshift.audit(project.uri).run()

    assert [(r["command"], r["status"]) for r in rows] == [("down", "ok"), ("up", "ok")]
    up = rows[1]
    assert up["migrations"] == [STATUS]
    assert up["counts"] == {"users": 12}
    assert up["command_line"].startswith("mongoshift.up() in ")
    assert up["tool_version"] == mongoshift.__version__
    assert (up["policy_hash"], up["signer"], up["error"]) == (None, None, None)
    assert rows[0]["command_line"].startswith("mongoshift.down() in ")
    assert [r["command"] for r in mongoshift.audit(project.uri, limit=1).run()] == ["down"]
    assert len(mongoshift.audit(project.uri, migration=STATUS, since=before).run()) == 2
    assert mongoshift.audit(project.uri, migration="20990101000000_other").run() == []
    assert mongoshift.audit(project.uri, since="2999-01-01T00:00:00Z").run() == []


def test_a_refused_run_is_recorded_with_its_code(project: Project) -> None:
    project.db.users.insert_many(users(3))
    project.write(f"{STATUS}.toml", ADD_STATUS)
    mongoshift.up(project.uri, path=project.dir).run()
    project.write(f"{STATUS}.toml", ADD_STATUS.replace('"active"', '"busy"'))
    with pytest.raises(mongoshift.ChecksumMismatch):
        mongoshift.up(project.uri, path=project.dir).run()

    newest = mongoshift.audit(project.uri, limit=1).run()[0]

    assert newest["status"] == "refused"
    assert newest["migrations"] == [STATUS]
    assert newest["error"]["code"] == "checksum_mismatch"
    assert STATUS in newest["error"]["message"]


def test_bad_arguments_are_refused_before_connecting(project: Project) -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        mongoshift.audit(project.uri, since="yesterday").run()
    with pytest.raises(ValueError, match="time zone"):
        mongoshift.audit(project.uri, since=datetime(2026, 1, 1)).run()
    with pytest.raises(ValueError, match="limit"):
        mongoshift.audit(project.uri, limit=-1)
