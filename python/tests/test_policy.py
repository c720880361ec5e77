"""The operator's policy from Python: ``policy=`` in ``plan()`` and ``up()``
(``--policy``), its verdicts, and :class:`mongoshift.PolicyError`."""

from __future__ import annotations

from pathlib import Path

import mongoshift
import pytest
from conftest import Project, users

TOUCH = '''"""touch every user"""
from mongoshift import Migration, iterative_migration


class Touch(Migration):
    collection = "users"

    @iterative_migration(batch_size=10)
    def forward(self, batch):
        for d in batch:
            d["touched"] = True
        return batch
'''


def policy(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "policy.toml"
    p.write_text(text)
    return p


def test_plan_shows_the_verdict_and_up_raises_policy_error(
    project: Project, tmp_path: Path
) -> None:
    project.db.users.insert_many(users(20))
    file = project.write("20260101000000_touch.py", TOUCH)
    strict = policy(tmp_path, "# sandboxed only\nrequire_sandbox = true\n")
    plan = mongoshift.plan(project.uri, path=project.dir, policy=strict).run()
    (m,) = plan["migrations"]
    assert m["sandboxed"] is False
    assert m["policy"]["verdict"] == "refused"
    assert m["policy"]["rule"] == "require_sandbox"
    assert m["policy"]["line"] == 2
    assert plan["policy"] == str(strict)

    with pytest.raises(mongoshift.PolicyError) as e:
        mongoshift.up(project.uri, path=project.dir, policy=strict).run()
    msg = str(e.value)
    assert "rule `require_sandbox`" in msg and f"{strict}, line 2" in msg
    assert file.name in msg
    assert project.db["mongoshift_ledger"].count_documents({}) == 0
    assert project.db.users.count_documents({"touched": True}) == 0

    allowing = policy(tmp_path, 'kinds = ["python"]\n')
    report = mongoshift.up(project.uri, path=project.dir, policy=allowing).run()
    assert report["completed"][0]["id"] == "20260101000000_touch"
    assert project.db.users.count_documents({"touched": True}) == 20


def test_a_bad_policy_raises_policy_error_naming_its_line(
    project: Project, tmp_path: Path
) -> None:
    project.write("20260101000000_touch.py", TOUCH)
    bad = policy(tmp_path, 'kinds = ["python"]\noperations = ["truncate"]\n')
    with pytest.raises(mongoshift.PolicyError) as e:
        mongoshift.plan(project.uri, path=project.dir, policy=bad).run()
    assert f"{bad}: line 2" in str(e.value)
    assert "unknown operation `truncate`" in str(e.value)
