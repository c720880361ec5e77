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
from collections.abc import Sequence
from typing import Any, Generic, Literal, TextIO, TypeVar

from mongoshift import _native

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


def up(
    uri: str,
    *,
    path: str | os.PathLike[str] = "migrations",
    db: str | None = None,
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
    on_progress: ProgressCallback | None = None,
) -> Operation[dict[str, Any]]:
    """Applies pending migrations in order, under the lock. Returns the report
    (``{"completed": [{"id": …, "matched": …, "modified": …}, …]}``).

    The options are those of ``mongoshift up``: ``strategy``,
    ``transactions``, ``on_error`` (``quarantine=True`` is
    ``on_error="quarantine"``: documents a transform fails are set aside
    instead of stopping the run), ``pre_images``, ``in_place_writes``,
    ``dangerously_allow_changed`` and ``dangerously_resume_changed`` (ids).
    With ``dry_run=True`` nothing is written and the report says what would
    change (``sample``: how many changed documents to show per migration).

    Raises :class:`MigrationError` (or a subclass); its ``applied`` attribute
    lists what was applied before the failure, and ``ValueError`` for an
    option the engine does not know."""
    if quarantine and on_error not in (None, "quarantine"):
        raise ValueError(f"quarantine=True contradicts on_error={on_error!r}")
    if sample is not None and not dry_run:
        raise ValueError("sample= is for dry_run=True")
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
    )
    p, cb = _path(path), _events(on_progress)
    return Operation(lambda: json.loads(_native.up(uri, p, db, opts, on_progress=cb)))


def down(
    uri: str,
    *,
    path: str | os.PathLike[str] = "migrations",
    db: str | None = None,
    steps: int | None = None,
    to: str | None = None,
    set_aside_writes_since_swap: bool = False,
    dangerously_allow_changed: Sequence[str] = (),
    on_progress: ProgressCallback | None = None,
) -> Operation[dict[str, Any]]:
    """Rolls back the last ``steps`` applied migrations (default 1), or every
    one applied after ``to``. The options are those of ``mongoshift down``:
    ``set_aside_writes_since_swap`` (a rewrite rolled back to its originals
    although the application wrote since the swap: its versions are kept in
    ``mongoshift_conflicts_<id>``) and ``dangerously_allow_changed`` (ids)."""
    opts = _options(
        to=to,
        steps=steps,
        set_aside_writes_since_swap=set_aside_writes_since_swap,
        dangerously_allow_changed=dangerously_allow_changed,
    )
    p, cb = _path(path), _events(on_progress)
    return Operation(lambda: json.loads(_native.down(uri, p, db, opts, on_progress=cb)))


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
    strategy: StrategyName | None = None,
    transactions: Transactions | None = None,
    on_error: OnErrorName | None = None,
    pre_images: bool | None = None,
    in_place_writes: InPlaceWrites | None = None,
) -> Operation[dict[str, Any]]:
    """What ``up`` (or, with ``down_steps``, ``down``) would do now, with
    ``up``'s options as :func:`up` takes them."""
    opts = _options(
        to=to,
        strategy=strategy,
        transactions=transactions,
        on_error=on_error,
        pre_images=pre_images,
        in_place_writes=in_place_writes,
    )
    p = _path(path)
    return Operation(lambda: json.loads(_native.plan(uri, p, db, opts, down_steps)))


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
