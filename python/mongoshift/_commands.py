"""Running migrations from Python: ``up``, ``down``, ``status``, ``plan``,
``verify``. Each returns an :class:`Operation`: ``await`` it in asyncio code
(the engine runs in a worker thread, the event loop stays free), or call
``.run()`` to run it here and now."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable, Generator
from typing import Any, Generic, TextIO, TypeVar

from mongoshift import _native

T = TypeVar("T")

#: A progress callback: gets each event as a dict, e.g.
#: ``{"event": "documents", "id": "…", "done": 1000, "total": 5000, …}``.
ProgressCallback = Callable[[dict[str, Any]], object]


class Operation(Generic[T]):
    """A command not yet run: ``await op`` or ``op.run()``."""

    def __init__(self, call: Callable[[], T]) -> None:
        self._call = call

    def run(self) -> T:
        """Runs the command in this thread and returns its result."""
        return self._call()

    def __await__(self) -> Generator[Any, None, T]:
        return asyncio.to_thread(self._call).__await__()


def _events(cb: ProgressCallback | None) -> Callable[[str], object] | None:
    if cb is None:
        return None
    return lambda text: cb(json.loads(text))


def _path(path: str | os.PathLike[str]) -> str:
    return os.fspath(path)


def up(
    uri: str,
    *,
    path: str | os.PathLike[str] = "migrations",
    db: str | None = None,
    to: str | None = None,
    quarantine: bool = False,
    on_progress: ProgressCallback | None = None,
) -> Operation[dict[str, Any]]:
    """Applies pending migrations in order, under the lock. Returns the report
    (``{"completed": [{"id": …, "matched": …, "modified": …}, …]}``). With
    ``quarantine=True`` documents a transform fails are set aside instead of
    stopping the run. Raises :class:`MigrationError` (or a subclass); its
    ``applied`` attribute lists what was applied before the failure."""
    p, cb = _path(path), _events(on_progress)
    return Operation(
        lambda: json.loads(_native.up(uri, p, db, to, quarantine=quarantine, on_progress=cb))
    )


def down(
    uri: str,
    *,
    path: str | os.PathLike[str] = "migrations",
    db: str | None = None,
    steps: int | None = None,
    to: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> Operation[dict[str, Any]]:
    """Rolls back the last ``steps`` applied migrations (default 1), or every
    one applied after ``to``."""
    p, cb = _path(path), _events(on_progress)
    return Operation(lambda: json.loads(_native.down(uri, p, db, steps, to, on_progress=cb)))


def status(
    uri: str, *, path: str | os.PathLike[str] = "migrations", db: str | None = None
) -> Operation[list[dict[str, Any]]]:
    """Every migration on disk or in the ledger, and where it stands."""
    p = _path(path)
    return Operation(lambda: json.loads(_native.status(uri, p, db)))


def verify(
    uri: str, *, path: str | os.PathLike[str] = "migrations", db: str | None = None
) -> Operation[list[dict[str, Any]]]:
    """The checksums of applied migrations against the files on disk."""
    p = _path(path)
    return Operation(lambda: json.loads(_native.verify(uri, p, db)))


def plan(
    uri: str,
    *,
    path: str | os.PathLike[str] = "migrations",
    db: str | None = None,
    to: str | None = None,
    down_steps: int | None = None,
) -> Operation[dict[str, Any]]:
    """What ``up`` (or, with ``down_steps``, ``down``) would do now."""
    p = _path(path)
    return Operation(lambda: json.loads(_native.plan(uri, p, db, to, down_steps)))


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
