"""Running migrations from Python: ``up``, ``down``, ``status``, ``plan``,
``verify``, and reading the audit trail: ``audit``. Each returns an
:class:`Operation`: ``await`` it in asyncio code
(the engine runs in a worker thread, the event loop stays free), or call
``.run()`` to run it here and now.

Each runs on one database (the URI's, or ``db=``), or over a fleet of them
chosen by ``databases=``, ``exclude=``, ``all_databases=`` or
``databases_from=`` (see :mod:`mongoshift._fleet`): then the result is
per database."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from collections.abc import Callable, Generator
from collections.abc import Sequence
from typing import Any, Generic, Literal, TextIO, TypedDict, TypeVar, Unpack, overload

from mongoshift import _fleet, _native
from mongoshift._fleet import DatabaseOutcome, DatabaseRun, FleetPlan, FleetStatus

T = TypeVar("T")

#: How a migration writes: ``"in-place"``, ``"rewrite"`` (copy and swap) or
#: ``"auto"``; as ``--strategy`` and a manifest's ``strategy``.
StrategyName = Literal["in-place", "rewrite", "auto"]
#: ``"batch"``, ``"migration"`` or ``"none"``; as ``--transactions``.
Transactions = Literal["batch", "migration", "none"]
#: ``"abort"`` or ``"quarantine"``; as ``--on-error``.
OnErrorName = Literal["abort", "quarantine"]
#: ``"set"`` or ``"replace"``; as ``--in-place-writes``.
InPlaceWrites = Literal["set", "replace"]

#: A progress callback: gets each event as a dict, e.g.
#: ``{"event": "documents", "id": "…", "done": 1000, "total": 5000, …}``;
#: over a fleet, a database's events carry its name (``"database"``) and
#: the fleet adds its own (``"database_finished"``, ...).
ProgressCallback = Callable[[dict[str, Any]], object]
#: A migrations directory, or a file.
PathArg = str | os.PathLike[str]


class Selection(TypedDict, total=False):
    """The keywords that choose a fleet's databases."""

    #: Glob patterns (``*``, ``?``, ``[...]``); each must match a database.
    databases: Sequence[str] | None
    #: Glob patterns of databases left out.
    exclude: Sequence[str]
    #: Every database of the deployment but ``admin``, ``local``, ``config``.
    all_databases: bool
    #: A file naming databases, one a line.
    databases_from: PathArg | None


class Rollout(Selection, total=False):
    """How ``up`` and ``down`` go through a fleet's databases."""

    #: Databases migrated at once (default: as ``plan`` says).
    concurrency: int | None
    #: After the first failure, start no other database.
    fail_fast: bool
    #: Migrate the first N databases first, the rest only if all succeed.
    canary: int | None
    #: Raise :class:`FleetFailed` when a database failed.
    check: bool


class UpOptions(TypedDict, total=False):
    """``up``'s options that do not depend on a selection."""

    to: str | None
    strategy: StrategyName | None
    transactions: Transactions | None
    on_error: OnErrorName | None
    quarantine: bool
    pre_images: bool | None
    in_place_writes: InPlaceWrites | None
    dangerously_allow_changed: Sequence[str]
    dangerously_resume_changed: Sequence[str]
    max_rate: int | None
    max_lag: int | None
    max_latency: int | None
    pause_at: float | None
    metrics_addr: str | None
    policy: PathArg | None
    allow_out_of_order: bool
    no_beanie_log: bool


class FleetUp(UpOptions, Rollout, total=False):
    """``up`` over a fleet."""


class DownOptions(TypedDict, total=False):
    """``down``'s options that do not depend on a selection."""

    steps: int | None
    to: str | None
    set_aside_writes_since_swap: bool
    dangerously_allow_changed: Sequence[str]


class FleetDown(DownOptions, Rollout, total=False):
    """``down`` over a fleet."""


class PlanOptions(TypedDict, total=False):
    """``plan``'s options that do not depend on a selection."""

    to: str | None
    down_steps: int | None
    strategy: StrategyName | None
    transactions: Transactions | None
    on_error: OnErrorName | None
    pre_images: bool | None
    in_place_writes: InPlaceWrites | None
    policy: PathArg | None


class FleetPlanOptions(PlanOptions, Selection, total=False):
    """``plan`` over a fleet."""


class Operation(Generic[T]):
    """A command not yet run: ``await op`` or ``op.run()``."""

    def __init__(self, call: Callable[[], T]) -> None:
        self._call = call

    def run(self) -> T:
        """Runs the command in this thread and returns its result."""
        return self._call()

    def __await__(self) -> Generator[Any, None, T]:
        # Imported here: a run from the command line never awaits, and
        # asyncio is a good part of the package's start.
        import asyncio

        return asyncio.to_thread(self._call).__await__()


def _events(cb: ProgressCallback | None) -> Callable[[str], object] | None:
    if cb is None:
        return None
    return lambda text: cb(json.loads(text))


def _path(path: str | os.PathLike[str]) -> str:
    return os.fspath(path)


def _options(**given: Any) -> str:
    """The options the caller set, as the JSON object the engine reads;
    ``None`` and empty lists leave the engine's defaults."""
    return json.dumps(
        {
            k: list(v) if isinstance(v, (list, tuple)) else v
            for k, v in given.items()
            if v is not None and v != () and v != []
        }
    )


@overload
def up(
    uri: str,
    *,
    path: PathArg = "migrations",
    db: str | None = None,
    dry_run: bool = False,
    sample: int | None = None,
    on_progress: ProgressCallback | None = None,
    **options: Unpack[UpOptions],
) -> Operation[dict[str, Any]]: ...
@overload
def up(
    uri: str,
    *,
    path: PathArg = "migrations",
    on_progress: ProgressCallback | None = None,
    **options: Unpack[FleetUp],
) -> Operation[list[DatabaseRun]]: ...
def up(
    uri: str,
    *,
    path: PathArg = "migrations",
    db: str | None = None,
    databases: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    all_databases: bool = False,
    databases_from: PathArg | None = None,
    concurrency: int | None = None,
    fail_fast: bool = False,
    canary: int | None = None,
    check: bool = False,
    to: str | None = None,
    strategy: StrategyName | None = None,
    transactions: Transactions | None = None,
    on_error: OnErrorName | None = None,
    quarantine: bool = False,
    pre_images: bool | None = None,
    in_place_writes: InPlaceWrites | None = None,
    dry_run: bool = False,
    sample: int | None = None,
    dangerously_allow_changed: Sequence[str] = (),
    dangerously_resume_changed: Sequence[str] = (),
    max_rate: int | None = None,
    max_lag: int | None = None,
    max_latency: int | None = None,
    pause_at: float | None = None,
    metrics_addr: str | None = None,
    policy: PathArg | None = None,
    allow_out_of_order: bool = False,
    no_beanie_log: bool = False,
    on_progress: ProgressCallback | None = None,
) -> Operation[dict[str, Any]] | Operation[list[DatabaseRun]]:
    """Applies pending migrations in order, under the lock. Returns the report
    (``{"completed": [{"id": …, "matched": …, "modified": …}, …]}``).

    The options are those of ``mongoshift up``: ``strategy``,
    ``transactions``, ``on_error`` (``quarantine=True`` is
    ``on_error="quarantine"``: documents a transform fails are set aside
    instead of stopping the run), ``pre_images``, ``in_place_writes``,
    ``dangerously_allow_changed`` and ``dangerously_resume_changed`` (ids),
    ``allow_out_of_order`` and ``no_beanie_log``. With ``dry_run=True`` nothing is written and the report says what would
    change (``sample``: how many changed documents to show per migration).
    On a live deployment, ``max_rate`` (documents per second), ``max_lag``
    (seconds), ``max_latency`` (milliseconds) and ``pause_at`` (percent) are
    ``mongoshift up``'s throttle flags, and ``metrics_addr="HOST:PORT"``
    serves Prometheus metrics at ``/metrics`` while the run goes on (one
    database only; an address in use raises before anything runs).
    ``policy`` is ``--policy``: the operator's policy file (see
    ``docs/untrusted.md``); a migration it refuses raises
    :class:`PolicyError` before anything runs.

    Raises :class:`MigrationError` (or a subclass); its ``applied`` attribute
    lists what was applied before the failure, and ``ValueError`` for an
    option the engine does not know.

    Over a fleet (``databases=["tenant_*"]``, ``exclude=``,
    ``all_databases=True`` or ``databases_from=path``), each database runs as
    a single-database ``up`` would, ``concurrency`` at once, in name order
    (``fail_fast``, ``canary`` as ``mongoshift up`` takes them), and the
    result is a :class:`DatabaseRun` per database: a failed database does not
    raise, it is in the results (with ``check=True``, :class:`FleetFailed`
    is raised once the run ends). A pattern matching no database raises
    :class:`SelectionError`."""
    run = {"concurrency": concurrency, "fail_fast": fail_fast, "canary": canary, "check": check}
    fleet = _fleet.selection(db, databases, exclude, all_databases, databases_from, run)
    if quarantine and on_error not in (None, "quarantine"):
        raise ValueError(f"quarantine=True contradicts on_error={on_error!r}")
    if sample is not None and not dry_run:
        raise ValueError("sample= is for dry_run=True")
    if dry_run and fleet is not None:
        raise ValueError("dry_run=True runs on one database: pass db= instead of a selection")
    if metrics_addr is not None and fleet is not None:
        raise ValueError("metrics_addr= serves one database's run: pass db= instead of a selection")
    for name, value in (("max_rate", max_rate), ("max_lag", max_lag), ("max_latency", max_latency)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be at least 1, not {value!r}")
    opts = _options(
        to=to,
        strategy=strategy,
        transactions=transactions,
        on_error="quarantine" if quarantine else on_error,
        pre_images=pre_images,
        in_place_writes=in_place_writes,
        dry_run=dry_run,
        sample=sample,
        dangerously_allow_changed=dangerously_allow_changed,
        dangerously_resume_changed=dangerously_resume_changed,
        max_rate=max_rate,
        max_lag=max_lag,
        max_latency=max_latency,
        pause_at=pause_at,
        metrics_addr=metrics_addr,
        policy=None if policy is None else _path(policy),
        allow_out_of_order=allow_out_of_order,
        no_beanie_log=no_beanie_log,
    )
    p, cb = _path(path), _events(on_progress)
    if fleet is not None:
        return Operation(lambda: _fleet.runs(_native.fleet_up(uri, p, fleet, opts, cb), check))
    return Operation(lambda: json.loads(_native.up(uri, p, db, opts, on_progress=cb)))


@overload
def down(
    uri: str,
    *,
    path: PathArg = "migrations",
    db: str | None = None,
    on_progress: ProgressCallback | None = None,
    **options: Unpack[DownOptions],
) -> Operation[dict[str, Any]]: ...
@overload
def down(
    uri: str,
    *,
    path: PathArg = "migrations",
    on_progress: ProgressCallback | None = None,
    **options: Unpack[FleetDown],
) -> Operation[list[DatabaseRun]]: ...
def down(
    uri: str,
    *,
    path: PathArg = "migrations",
    db: str | None = None,
    databases: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    all_databases: bool = False,
    databases_from: PathArg | None = None,
    concurrency: int | None = None,
    fail_fast: bool = False,
    canary: int | None = None,
    check: bool = False,
    steps: int | None = None,
    to: str | None = None,
    set_aside_writes_since_swap: bool = False,
    dangerously_allow_changed: Sequence[str] = (),
    on_progress: ProgressCallback | None = None,
) -> Operation[dict[str, Any]] | Operation[list[DatabaseRun]]:
    """Rolls back the last ``steps`` applied migrations (default 1), or every
    one applied after ``to``. The options are those of ``mongoshift down``:
    ``set_aside_writes_since_swap`` (a rewrite rolled back to its originals
    although the application wrote since the swap: its versions are kept in
    ``mongoshift_conflicts_<id>``) and ``dangerously_allow_changed`` (ids).

    Over a fleet, as :func:`up`: each database rolls back its own last
    ``steps``, and the result is a :class:`DatabaseRun` per database."""
    run = {"concurrency": concurrency, "fail_fast": fail_fast, "canary": canary, "check": check}
    fleet = _fleet.selection(db, databases, exclude, all_databases, databases_from, run)
    opts = _options(
        to=to,
        steps=steps,
        set_aside_writes_since_swap=set_aside_writes_since_swap,
        dangerously_allow_changed=dangerously_allow_changed,
    )
    p, cb = _path(path), _events(on_progress)
    if fleet is not None:
        return Operation(lambda: _fleet.runs(_native.fleet_down(uri, p, fleet, opts, cb), check))
    return Operation(lambda: json.loads(_native.down(uri, p, db, opts, on_progress=cb)))


@overload
def status(
    uri: str, *, path: PathArg = "migrations", db: str | None = None
) -> Operation[list[dict[str, Any]]]: ...
@overload
def status(
    uri: str, *, path: PathArg = "migrations", **selection: Unpack[Selection]
) -> Operation[FleetStatus]: ...
def status(
    uri: str,
    *,
    path: PathArg = "migrations",
    db: str | None = None,
    databases: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    all_databases: bool = False,
    databases_from: PathArg | None = None,
) -> Operation[list[dict[str, Any]]] | Operation[FleetStatus]:
    """Every migration on disk or in the ledger, and where it stands.

    Over a fleet (the selection keywords of :func:`up`), as ``mongoshift
    status --json``: a :class:`FleetStatus`, one row per database (applied,
    pending, failed and running counts, the newest applied id, the lock
    holder, or why it could not be read) and one per migration (how many
    databases have it in each state)."""
    p = _path(path)
    fleet = _fleet.selection(db, databases, exclude, all_databases, databases_from)
    if fleet is not None:
        return Operation(lambda: json.loads(_native.fleet_status(uri, p, fleet)))
    return Operation(lambda: json.loads(_native.status(uri, p, db)))


@overload
def verify(
    uri: str, *, path: PathArg = "migrations", db: str | None = None
) -> Operation[list[dict[str, Any]]]: ...
@overload
def verify(
    uri: str, *, path: PathArg = "migrations", **selection: Unpack[Selection]
) -> Operation[list[DatabaseOutcome]]: ...
def verify(
    uri: str,
    *,
    path: PathArg = "migrations",
    db: str | None = None,
    databases: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    all_databases: bool = False,
    databases_from: PathArg | None = None,
) -> Operation[list[dict[str, Any]]] | Operation[list[DatabaseOutcome]]:
    """The checksums of applied migrations against the files on disk; over a
    fleet (the selection keywords of :func:`up`), each database's."""
    p = _path(path)
    fleet = _fleet.selection(db, databases, exclude, all_databases, databases_from)
    if fleet is not None:
        return Operation(lambda: json.loads(_native.fleet_verify(uri, p, fleet)))
    return Operation(lambda: json.loads(_native.verify(uri, p, db)))


@overload
def plan(
    uri: str,
    *,
    path: PathArg = "migrations",
    db: str | None = None,
    **options: Unpack[PlanOptions],
) -> Operation[dict[str, Any]]: ...
@overload
def plan(
    uri: str, *, path: PathArg = "migrations", **options: Unpack[FleetPlanOptions]
) -> Operation[FleetPlan]: ...
def plan(
    uri: str,
    *,
    path: PathArg = "migrations",
    db: str | None = None,
    databases: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    all_databases: bool = False,
    databases_from: PathArg | None = None,
    to: str | None = None,
    down_steps: int | None = None,
    strategy: StrategyName | None = None,
    transactions: Transactions | None = None,
    on_error: OnErrorName | None = None,
    pre_images: bool | None = None,
    in_place_writes: InPlaceWrites | None = None,
    policy: PathArg | None = None,
) -> Operation[dict[str, Any]] | Operation[FleetPlan]:
    """What ``up`` (or, with ``down_steps``, ``down``) would do now, with
    ``up``'s options as :func:`up` takes them. Every migration is marked
    ``sandboxed`` or not; with ``policy`` (a policy file), each carries the
    policy's verdict (``{"verdict": "allowed"}``, or ``"refused"`` with the
    ``rule``, its ``line`` and the ``reason``). Over a fleet (the selection
    keywords of :func:`up`): each database's plan and the concurrency a run
    would use, as ``mongoshift plan --json``."""
    fleet = _fleet.selection(db, databases, exclude, all_databases, databases_from)
    opts = _options(
        to=to,
        strategy=strategy,
        transactions=transactions,
        on_error=on_error,
        pre_images=pre_images,
        in_place_writes=in_place_writes,
        policy=None if policy is None else _path(policy),
    )
    p = _path(path)
    if fleet is not None:
        return Operation(lambda: json.loads(_native.fleet_plan(uri, p, fleet, opts, down_steps)))
    return Operation(lambda: json.loads(_native.plan(uri, p, db, opts, down_steps)))


def audit(
    uri: str,
    *,
    db: str | None = None,
    limit: int | None = None,
    migration: str | None = None,
    since: str | datetime | None = None,
) -> Operation[list[dict[str, Any]]]:
    """The audit trail of the database, newest first, as ``mongoshift audit
    --json`` gives it: one dict per run of ``up``, ``down``, ``swap``,
    ``pause`` or ``resume`` (``command``, ``status``: ``"running"``,
    ``"ok"``, ``"failed"``, ``"refused"`` or ``"interrupted"``, ``host``,
    ``user``, ``tool_version``, ``command_line`` with passwords masked,
    ``migrations``, ``counts`` per collection, ``changes``, ``error``,
    ``started_at`` and ``finished_at`` in RFC 3339, ...).

    ``limit``: at most that many; ``migration``: only runs of that id;
    ``since``: only runs started then or later (an RFC 3339 string, or a
    :class:`~datetime.datetime` with its time zone)."""
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be at least 0, not {limit!r}")
    if isinstance(since, datetime):
        if since.tzinfo is None:
            raise ValueError("since= needs a time zone (datetime.now(timezone.utc), say)")
        since = since.isoformat()
    when = since

    def call() -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = json.loads(
            _native.audit(uri, db, limit=limit, migration=migration, since=when)
        )
        return rows

    return Operation(call)


def print_progress(event: dict[str, Any], file: TextIO | None = None) -> None:
    """A simple progress renderer: one line per migration and every few
    thousand documents. Pass it as ``on_progress``."""
    out = file or sys.stderr
    kind = event.get("event")
    if kind == "migration_started":
        print(f"{event['direction']} {event['id']} ({event['kind']})", file=out)
    elif kind == "documents":
        total = event.get("total")
        of = f"/{total}" if total is not None else ""
        print(f"  {event['id']}: {event['done']}{of} documents", file=out)
    elif kind == "migration_finished":
        print(f"  done {event['id']} in {event['duration_ms']} ms", file=out)
    elif kind == "migration_failed":
        print(f"  FAILED {event['id']}: {event['error']}", file=out)
    elif kind == "warning":
        print(f"warning: {event['id']}: {event['message']}", file=out)
