"""`mongoshift quarantine replay` of a Python transform: the documents it
set aside, run again through the fixed file."""

from __future__ import annotations

import json
import subprocess
import sys

import mongoshift
from conftest import Project, users

SPLIT = '''
from mongoshift import Migration, iterative_migration


def check(doc):
    if doc.get("poison"){fix}:
        raise ValueError(f"cannot split {{doc['name']!r}}")
    doc["ok"] = True
    return doc


class Split(Migration):
    collection = "users"

    @iterative_migration(batch_size=10)
    def forward(self, batch):
        return [check(d) for d in batch]
'''
MIG = "20260101000000_split"


def cli(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"MONGODB_URI": project.uri, "PATH": "/usr/bin:/bin", "MONGOSHIFT_PROGRESS": "none"}
    return subprocess.run(
        [sys.executable, "-m", "mongoshift", "--path", str(project.dir), *args],
        capture_output=True, text=True, env=env,
    )


def test_replay_runs_the_fixed_python_file_over_what_it_set_aside(project: Project) -> None:
    docs = users(30)
    for i in (3, 17):
        docs[i]["poison"] = True
    project.db.users.insert_many(docs)
    project.write(f"{MIG}.py", SPLIT.format(fix=""))
    mongoshift.up(project.uri, path=project.dir, quarantine=True).run()
    assert project.ledger(MIG)["state"] == "applied_with_errors"

    listed = cli(project, "quarantine", "list", MIG)
    assert listed.returncode == 0, listed.stderr
    assert "ValueError: cannot split" in listed.stdout and "2 document(s)" in listed.stdout

    # Still failing: the entries stay, with the error of the file run now.
    again = cli(project, "quarantine", "replay", MIG, "--json")
    assert again.returncode == 1, again.stderr
    assert json.loads(again.stdout)["failing"] == 2

    project.write(f"{MIG}.py", SPLIT.format(fix=' and doc["poison"] == "never"'))
    fixed = cli(project, "quarantine", "replay", MIG, "--json")
    assert fixed.returncode == 0, fixed.stderr
    report = json.loads(fixed.stdout)
    assert (report["fixed"], report["failing"], report["gone"]) == (2, 0, 0)
    assert project.db.users.count_documents({"ok": True}) == 30
    assert project.db.mongoshift_quarantine.count_documents({}) == 0
    entry = project.ledger(MIG)
    assert entry["state"] == "applied" and entry["quarantined"] == 0
