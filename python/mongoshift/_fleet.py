"""Fleets from Python: the same migrations over many databases of one
deployment, chosen as ``mongoshift --databases`` chooses them, with each
database's result as data. See docs/fleets.md."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any, Literal, TypedDict

from mongoshift._native import MigrationError

#: What happened in one database: its run ended well, failed, or was never
#: started (``fail_fast`` after a failure, or a failed canary).
DatabaseState = Literal["done", "failed", "skipped"]


class DatabaseRun(TypedDict):
    """What :func:`~mongoshift.up` or :func:`~mongoshift.down` did in one
    database of a fleet."""

    #: The database.
    database: str
    #: ``"done"``, ``"failed"`` or ``"skipped"``.
    state: DatabaseState
    #: The ids applied (or rolled back) there, a failed database's too.
    migrations: list[str]
    #: The database's report, as a single-database run returns it (``None``
    #: when skipped, or when it failed before any migration).
    report: dict[str, Any] | None
    #: The error, when it failed: the message a single-database run raises.
    error: str | None


class DatabaseOutcome(TypedDict):
    """One database's result of :func:`~mongoshift.plan` or
    :func:`~mongoshift.verify` over a fleet."""

    #: The database.
    database: str
    #: ``"done"`` or ``"failed"``.
    state: DatabaseState
    #: What a single-database call returns, when done.
    result: Any
    #: The error, when it failed.
    error: str | None


class FleetPlan(TypedDict):
    """:func:`~mongoshift.plan` over a fleet."""

    #: Databases a run would migrate at once.
    concurrency: int
    #: Each database's plan.
    databases: list[DatabaseOutcome]


class DatabaseStatus(TypedDict):
    """Where one database stands (a row of ``status --json``'s
    ``databases``)."""

    database: str
    applied: int
    pending: int
    failed: int
    running: int
    #: The newest applied migration.
    newest_applied: str | None
    #: The holder of the database's lock (``host:pid``), when held.
    lock_holder: str | None
    #: Why the database could not be read, when it could not.
    error: str | None


class MigrationStatus(TypedDict):
    """How many databases have one migration in each state (a row of
    ``status --json``'s ``migrations``)."""

    id: str
    applied: int
    pending: int
    failed: int
    running: int


class FleetStatus(TypedDict):
    """:func:`~mongoshift.status` over a fleet, as ``status --json``."""

    databases: list[DatabaseStatus]
    migrations: list[MigrationStatus]


class FleetFailed(MigrationError):
    """Some databases of a fleet run failed (raised only with
    ``check=True``); :attr:`results` holds every database's run."""

    results: list[DatabaseRun]

    def __init__(self, results: list[DatabaseRun]) -> None:
        failed = [r for r in results if r["state"] == "failed"]
        names = "; ".join(
            f"{r['database']}: {(r['error'] or '').splitlines()[0]}" for r in failed[:5]
        )
        more = f" (and {len(failed) - 5} more)" if len(failed) > 5 else ""
        super().__init__(
            f"{len(failed)} of {len(results)} databases failed: {names}{more}; "
            "the other databases' runs stand, and a rerun resumes the failed ones"
        )
        self.results = results
        self.applied = []


def selection(
    db: str | None,
    databases: Sequence[str] | None,
    exclude: Sequence[str],
    all_databases: bool,
    databases_from: str | os.PathLike[str] | None,
    run: dict[str, Any] | None = None,
) -> str | None:
    """The selection keywords as the JSON object the engine reads, or
    ``None`` when they choose no database (a single-database call); ``run``:
    how ``up`` or ``down`` goes through the databases (``concurrency``,
    ...), refused without a selection. Raises ``ValueError`` as the command
    line refuses its flags."""
    run = run or {}
    chooses = bool(databases) or all_databases or databases_from is not None
    if not chooses:
        given = [k for k, v in run.items() if v not in (None, False)]
        if exclude:
            given.insert(0, "exclude")
        if given:
            raise ValueError(
                f"{'=, '.join(given)}= need a database selection: "
                "pass databases=, all_databases=True or databases_from="
            )
        return None
    if db is not None:
        raise ValueError(
            f"db={db!r} names one database, databases=/all_databases=/databases_from= "
            "choose a fleet: pass one or the other"
        )
    if isinstance(databases, str):
        raise ValueError("databases= takes a list of patterns, e.g. databases=['tenant_*']")
    chosen = {
        "databases": list(databases or []),
        "exclude": list(exclude),
        "all_databases": all_databases,
        "databases_from": os.fspath(databases_from) if databases_from is not None else None,
        **{k: v for k, v in run.items() if k != "check"},
    }
    return json.dumps({k: v for k, v in chosen.items() if v is not None})


def runs(text: str, check: bool) -> list[DatabaseRun]:
    """Each database's run from the engine's JSON; with ``check``, raises
    :class:`FleetFailed` when any failed."""
    results: list[DatabaseRun] = json.loads(text)
    if check and any(r["state"] == "failed" for r in results):
        raise FleetFailed(results)
    return results
