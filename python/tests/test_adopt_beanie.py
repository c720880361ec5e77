"""A database migrated by `beanie migrate`, adopted by mongoshift: what
Beanie's `migrations_log` records as applied is not run again, and the log is
kept current so `beanie migrate` agrees afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mongoshift
from conftest import Project
from test_beanie import beanie_migrate, seed

STEP = '''
from beanie import Document, free_fall_migration


class User(Document):
    id: int
    email: str

    class Settings:
        name = "users"


class Forward:
    @free_fall_migration(document_models=[User])
    async def step_{n}(self, session):
        users = User.get_pymongo_collection()
        await users.update_many({{}}, {{"$inc": {{"n": 1}}}}, session=session)
        await users.database["archive"].insert_one({{"by": {n}}}, session=session)


class Backward:
    @free_fall_migration(document_models=[User])
    async def undo_{n}(self, session):
        users = User.get_pymongo_collection()
        await users.update_many({{}}, {{"$inc": {{"n": -1}}}}, session=session)
        await users.database["archive"].delete_many({{"by": {n}}}, session=session)
'''

FILES = ["20260101000000_one.py", "20260102000000_two.py", "20260103000000_three.py"]


def write(directory: Path, k: int) -> None:
    (directory / FILES[k]).write_text(STEP.format(n=k + 1))


def current(db: Any) -> list[str]:
    return [e["name"] for e in db["migrations_log"].find({"is_current": True})]


def test_a_beanie_migrated_database_is_adopted_not_run_again(project: Project, server_uri: str) -> None:
    seed(project, 5)
    write(project.dir, 0)
    write(project.dir, 1)
    beanie_migrate(server_uri, project.name, project.dir)
    assert project.db.users.count_documents({"n": 2}) == 5
    write(project.dir, 2)

    report = mongoshift.up(project.uri, path=project.dir).run()
    assert [c["id"] for c in report["completed"]] == ["20260103000000_three"], "only the third ran"
    assert project.db.users.count_documents({"n": 3}) == 5, "nothing ran twice"
    assert sorted(d["by"] for d in project.db.archive.find()) == [1, 2, 3], "nothing duplicated"
    for one in ("20260101000000_one", "20260102000000_two"):
        entry = project.ledger(one)
        assert entry["state"] == "baselined"
        assert entry["baselined_from"] == "beanie migrations_log"
    rows = {r["id"]: r for r in mongoshift.status(project.uri, path=project.dir).run()}
    assert rows["20260101000000_one"]["baselined_from"] == "beanie migrations_log"
    assert current(project.db) == [FILES[2]], "the log names the file mongoshift applied"

    # Beanie finds nothing to do.
    beanie_migrate(server_uri, project.name, project.dir)
    assert project.db.users.count_documents({"n": 3}) == 5
    assert project.db.archive.count_documents({}) == 3

    # Rolling all three back matches Beanie's own backward run.
    mongoshift.down(project.uri, path=project.dir, steps=3).run()
    other = project.client[project.name + "_b"]
    try:
        other.users.insert_many([{**u, "n": 0} for u in project.db.users.find()])
        beanie_migrate(server_uri, other.name, project.dir)
        beanie_migrate(server_uri, other.name, project.dir, "--backward", "--distance", "3")
        assert list(project.db.users.find(sort=[("_id", 1)])) == list(other.users.find(sort=[("_id", 1)]))
        assert project.db.archive.count_documents({}) == 0 == other.archive.count_documents({})
        assert current(project.db) == current(other) == ["root"], "as Beanie leaves it"
    finally:
        project.client.drop_database(other.name)
    # From there, mongoshift runs everything again.
    mongoshift.up(project.uri, path=project.dir).run()
    assert project.db.users.count_documents({"n": 3}) == 5


def test_a_log_naming_a_file_not_in_the_folder_is_refused(project: Project) -> None:
    seed(project, 2)
    write(project.dir, 0)
    project.db["migrations_log"].insert_one({"ts": __import__("datetime").datetime.now(), "name": "20251231000000_gone.py", "is_current": True})
    try:
        mongoshift.up(project.uri, path=project.dir).run()
        raise AssertionError("refused")
    except mongoshift.MigrationError as e:
        assert "20251231000000_gone.py" in str(e)
    assert project.db["mongoshift_ledger"].count_documents({}) == 0, "nothing adopted"
    assert project.db.users.count_documents({"n": 1}) == 0, "nothing run"


def test_a_log_entry_not_in_beanies_shape_is_refused_naming_it(project: Project) -> None:
    seed(project, 2)
    write(project.dir, 0)
    project.db["migrations_log"].insert_one({"_id": "odd", "name": FILES[0], "is_current": "yes"})
    try:
        mongoshift.up(project.uri, path=project.dir).run()
        raise AssertionError("refused")
    except mongoshift.MigrationError as e:
        assert '"odd"' in str(e) and "is_current" in str(e)
    assert project.db["mongoshift_ledger"].count_documents({}) == 0
    assert project.db.users.count_documents({"n": 1}) == 0


def cli(project: Project, *args: str) -> Any:
    import subprocess
    import sys

    env = {"MONGODB_URI": project.uri, "PATH": "/usr/bin:/bin", "MONGOSHIFT_PROGRESS": "none"}
    return subprocess.run(
        [sys.executable, "-m", "mongoshift", "--path", str(project.dir), *args],
        capture_output=True, text=True, env=env,
    )


def test_plan_says_what_is_adopted_and_no_beanie_log_leaves_the_log(project: Project, server_uri: str) -> None:
    seed(project, 3)
    write(project.dir, 0)
    beanie_migrate(server_uri, project.name, project.dir)
    write(project.dir, 1)
    plan = cli(project, "plan")
    assert plan.returncode == 0, plan.stderr
    first = plan.stdout.splitlines()[0]
    assert "would adopt 1 migration(s) Beanie's migrations_log records as applied" in first
    assert "20260101000000_one" in first
    assert "would apply 1 migration(s)" in plan.stdout and "20260102000000_two" in plan.stdout
    assert project.db["mongoshift_ledger"].count_documents({}) == 0, "plan writes nothing"

    up = cli(project, "up", "--no-beanie-log")
    assert up.returncode == 0, up.stderr
    assert project.db.users.count_documents({"n": 2}) == 3
    assert current(project.db) == [FILES[0]], "the log left as Beanie wrote it"
    st = cli(project, "status")
    assert "baselined (from beanie migrations_log)" in st.stdout, st.stdout


def test_the_python_api_applies_out_of_order_when_allowed(project: Project) -> None:
    seed(project, 2)
    write(project.dir, 0)
    write(project.dir, 2)
    mongoshift.up(project.uri, path=project.dir).run()
    write(project.dir, 1)
    try:
        mongoshift.up(project.uri, path=project.dir).run()
        raise AssertionError("refused")
    except mongoshift.MigrationError as e:
        assert "20260102000000_two is pending but sorts before 20260103000000_three" in str(e)
    mongoshift.up(project.uri, path=project.dir, allow_out_of_order=True).run()
    assert project.ledger("20260102000000_two")["out_of_order"] is True
    assert project.db.users.count_documents({"n": 3}) == 2
