"""Run a migrations directory's test fixtures from pytest.

The fixtures of a migration (``tests/*.json`` in its directory, or
``tests/<id>/*.json`` beside a migration file; the format is in
``docs/testing.md``) go through its transform with no database, exactly as
``mongoshift test`` runs them: Wasm modules in their sandbox, Python
migrations through this package::

    from mongoshift.testing import assert_fixtures_pass

    def test_migrations() -> None:
        assert_fixtures_pass("migrations")

A bad fixture file, or a transform that cannot load, raises
:class:`mongoshift.SourceError` or :class:`mongoshift.MigrationError` naming
the file, the case or the migration.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from mongoshift._native import run_fixtures as _run_fixtures

__all__ = ["CaseResult", "FixtureResults", "MigrationResult", "assert_fixtures_pass", "run_fixtures"]


@dataclass(frozen=True)
class CaseResult:
    """One case: where it is, the direction it ran and what differed (empty
    when it passed)."""

    file: str
    case: str
    direction: str
    problems: list[str]

    @property
    def passed(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class MigrationResult:
    """One migration's cases, or why they did not run (``skipped``)."""

    id: str
    skipped: str | None
    cases: list[CaseResult]


@dataclass(frozen=True)
class FixtureResults:
    """Every migration's results and the counts."""

    migrations: list[MigrationResult]
    passed: int
    failed: int

    @property
    def failures(self) -> list[tuple[str, CaseResult]]:
        """Each failing case with its migration's id."""
        return [(m.id, c) for m in self.migrations for c in m.cases if not c.passed]

    def report(self) -> str:
        """The failing cases and their diffs, and the summary line, as
        ``mongoshift test`` prints them."""
        lines = []
        for mid, c in self.failures:
            lines.append(f"{mid}: {c.file} case {c.case} ({c.direction})")
            lines.extend(f"    {p}" for p in c.problems)
        lines.append(f"{self.passed} passed, {self.failed} failed")
        return "\n".join(lines)


def _case(d: dict[str, Any]) -> CaseResult:
    return CaseResult(
        file=str(d["file"]), case=str(d["case"]), direction=str(d["direction"]), problems=list(d["problems"])
    )


def run_fixtures(migrations_dir: str | os.PathLike[str], id: str | None = None) -> FixtureResults:
    """Runs the fixtures of every migration in ``migrations_dir`` (or only
    the one ``id`` names) and returns the results."""
    raw = json.loads(_run_fixtures(os.fspath(migrations_dir), id))
    migrations = [
        MigrationResult(id=m["id"], skipped=m["skipped"], cases=[_case(c) for c in m["cases"]])
        for m in raw["migrations"]
    ]
    return FixtureResults(
        migrations=migrations, passed=int(raw["summary"]["passed"]), failed=int(raw["summary"]["failed"])
    )


def assert_fixtures_pass(migrations_dir: str | os.PathLike[str], id: str | None = None) -> FixtureResults:
    """Runs the fixtures like :func:`run_fixtures` and raises
    ``AssertionError`` with every failing case's diff when one fails."""
    results = run_fixtures(migrations_dir, id)
    if results.failed:
        raise AssertionError("mongoshift fixtures failed:\n" + results.report())
    return results
