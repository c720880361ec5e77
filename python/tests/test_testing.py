"""`mongoshift.testing`: a migrations directory's fixtures from pytest, with
no database: a Python migration's passing and failing cases, the diff in the
assertion, and a bad fixture named by file and case."""

from __future__ import annotations

from pathlib import Path

import pytest

import mongoshift
from mongoshift.testing import assert_fixtures_pass, run_fixtures

PY = '''"""upper-case the code"""
from mongoshift import Migration, document_migration


class Upper(Migration):
    collection = "items"

    @document_migration(batch_size=10)
    def forward(self, doc):
        doc["code"] = doc["code"].upper()
        return doc

    @document_migration(batch_size=10)
    def backward(self, doc):
        doc["code"] = doc["code"].lower()
        return doc
'''

ID = "20260101000000_upper"


def project(tmp_path: Path, cases: str) -> Path:
    d = tmp_path / "migrations"
    (d / "tests" / ID).mkdir(parents=True)
    (d / f"{ID}.py").write_text(PY)
    (d / "tests" / ID / "cases.json").write_text(cases)
    return d


def test_passing_fixtures_pass(tmp_path: Path) -> None:
    d = project(
        tmp_path,
        '[{"name": "upper", "input": {"_id": 1, "code": "ab"}, "expect": {"replace": {"_id": 1, "code": "AB"}}},'
        ' {"name": "back", "direction": "backward", "input": {"_id": 2, "code": "CD"},'
        ' "expect": {"replace": {"_id": 2, "code": "cd"}}}]',
    )
    results = assert_fixtures_pass(d)
    assert (results.passed, results.failed) == (2, 0)
    assert [c.direction for c in results.migrations[0].cases] == ["forward", "backward"]
    assert run_fixtures(d, ID).passed == 2


def test_a_failing_case_raises_with_its_typed_diff(tmp_path: Path) -> None:
    d = project(
        tmp_path,
        '{"name": "typed", "input": {"_id": 1, "code": "ab", "n": 1},'
        ' "expect": {"replace": {"_id": 1, "code": "AB", "n": {"$numberLong": "1"}}}}',
    )
    results = run_fixtures(d)
    assert (results.passed, results.failed) == (0, 1)
    with pytest.raises(AssertionError) as err:
        assert_fixtures_pass(d)
    text = str(err.value)
    assert 'case 1 ("typed") (forward)' in text
    assert "n: expected int64 1, got int32 1" in text
    assert "0 passed, 1 failed" in text


def test_a_bad_fixture_names_the_file_and_the_case(tmp_path: Path) -> None:
    d = project(tmp_path, '[{"input": {"_id": 1, "code": "a"}, "expect": "nope"}]')
    with pytest.raises(mongoshift.SourceError) as err:
        run_fixtures(d)
    assert f"tests/{ID}/cases.json, case 1" in str(err.value)


def test_an_unknown_migration_is_named(tmp_path: Path) -> None:
    d = project(tmp_path, '{"input": {"_id": 1, "code": "a"}, "expect": "keep"}')
    with pytest.raises(mongoshift.MigrationError) as err:
        run_fixtures(d, "20260102000000_missing")
    assert "no migration 20260102000000_missing" in str(err.value)
