"""What the Rust engine calls to run Python migration files.

``load`` reads one file and returns its plan for one direction: a list of
steps. An iterative step carries a ``worker`` factory; the engine makes one
worker per thread and calls it once per batch with the raw BSON of the batch.
A worker returns one item per document: ``None`` (keep; the engine also keeps
a replacement equal to the input), ``bytes`` (replace with this BSON),
``False`` (delete) or ``str`` (this document fails, with this message). When
the function returned a dict or None for every document, the worker returns
them packed instead (``encode_all``): the bytes of one BSON document whose
array ``o`` holds each replacement, or null to delete.

A step whose class declares ``outputs`` or ``lookups`` is cross-collection:
its batch holds each document followed by its lookups document, and its
worker returns ``(items, outputs)``, the outputs of each document as
``(op, collection, bson)`` tuples (see ``_cross``).
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bson

from mongoshift import _cross
from mongoshift._logs import BatchLog, LoggedWorker
from mongoshift._api import MARK, Lookup, Migration, StepSpec
from mongoshift._cross import CODEC

Outcome = None | bytes | bool | str
Outputs = list[list[_cross.Emitted]]
Worker = Callable[[str, bytes, int], list[Outcome] | tuple[list[Outcome], Outputs]]


def load(path: str, migration_id: str, direction: str, uri: str, database: str) -> dict[str, Any]:
    """The plan of the migration file ``path`` for ``direction`` (``up``/``down``)."""
    module = _import(Path(path), migration_id)
    beanie_classes = [getattr(module, n, None) for n in ("Forward", "Backward")]
    classes = [
        c
        for c in vars(module).values()
        if isinstance(c, type)
        and issubclass(c, Migration)
        and c is not Migration
        and c.__module__ == module.__name__
    ]
    if classes:
        return _mongoshift_plan(path, migration_id, classes, direction, uri, database)
    if any(c is not None for c in beanie_classes):
        from mongoshift import _beanie

        return _beanie.plan(migration_id, beanie_classes, direction, uri, database)
    raise LookupError(
        f"{path} defines no mongoshift.Migration subclass and no Beanie Forward/Backward class"
    )


def _import(path: Path, migration_id: str) -> Any:
    # The migrations directory is importable, as with Beanie: helper modules
    # beside the migrations import by name.
    folder = str(path.parent.resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = f"mongoshift_migration_{migration_id}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _mongoshift_plan(
    path: str,
    migration_id: str,
    classes: list[type[Migration]],
    direction: str,
    uri: str,
    database: str,
) -> dict[str, Any]:
    method = "forward" if direction == "up" else "backward"
    steps: list[dict[str, Any]] = []
    reversible = True
    for cls in classes:
        if getattr(cls, "forward", None) is not None and getattr(cls, "backward", None) is None:
            reversible = False
        fn = getattr(cls, method, None)
        if fn is None:
            continue
        spec: StepSpec | None = getattr(fn, MARK, None)
        where = f"{cls.__name__}.{method}"
        if spec is None:
            raise TypeError(
                f"{where} has no mongoshift decorator: use @iterative_migration(...), "
                "@document_migration(...) or @bulk_migration"
            )
        if spec.kind == "bulk":
            steps.append(
                {
                    "kind": "bulk",
                    "description": f"python bulk {where}",
                    "run": _bulk_runner(cls, fn, uri),
                }
            )
            continue
        if not cls.collection:
            raise TypeError(
                f"{where} is an iterative migration but {cls.__name__} has no `collection`"
            )
        steps.append(
            {
                "kind": "iterative",
                "description": f"python {where} on {cls.collection} where {cls.filter}, "
                f"batches of {spec.batch_size}",
                "collection": cls.collection,
                "filter": bson.encode(dict(cls.filter)),
                "batch_size": spec.batch_size,
                "threads": 0 if spec.parallel else 1,
                "worker": _worker_factory(migration_id, where, cls, fn, spec),
                "class": cls.__name__,
                "outputs": _outputs(path, cls),
                "lookups": [_lookup(path, cls, i, lk) for i, lk in enumerate(cls.lookups)],
            }
        )
    return {"steps": steps, "reversible": reversible}


class DeclarationError(ValueError):
    """A migration class declares ``outputs`` or ``lookups`` wrongly; the
    message names the file, the class and the field."""


def _outputs(path: str, cls: type[Migration]) -> list[str]:
    """``cls.outputs``, typed; the engine checks the names (as a manifest's)."""
    names = cls.outputs
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise DeclarationError(
            f"{path}: {cls.__name__}.outputs must be a list of collection names (str), "
            f"not {names!r}"
        )
    return list(names)


def _lookup(path: str, cls: type[Migration], i: int, lk: object) -> dict[str, Any]:
    """One of ``cls.lookups``, typed; the engine checks it (as a manifest's)."""
    where = f"{path}: {cls.__name__}.lookups[{i}]"
    if not isinstance(lk, Lookup):
        raise DeclarationError(f"{where} must be a mongoshift.Lookup, not {type(lk).__name__}")
    for field in ("from_", "local_field", "foreign_field", "as_"):
        if not isinstance(getattr(lk, field), str):
            raise DeclarationError(f"{where}: `{field}` must be a str, not {getattr(lk, field)!r}")
    for field in ("projection", "sort"):
        value = getattr(lk, field)
        if value is not None and not isinstance(value, Mapping):
            raise DeclarationError(f"{where}: `{field}` must be a dict or None, not {value!r}")
    if not isinstance(lk.limit, int) or isinstance(lk.limit, bool):
        raise DeclarationError(f"{where}: `limit` must be an int, not {lk.limit!r}")

    def doc(value: Mapping[str, Any] | None) -> bytes | None:
        return None if value is None else bson.encode(value, codec_options=CODEC)

    return {
        "from": lk.from_,
        "local_field": lk.local_field,
        "foreign_field": lk.foreign_field,
        "as": lk.as_,
        "projection": doc(lk.projection),
        "sort": doc(lk.sort),
        "limit": lk.limit,
        "required": bool(lk.required),
    }


def _bulk_runner(cls: type[Migration], fn: Callable[..., Any], uri: str) -> Callable[[str], None]:
    def run(database: str) -> None:
        inst = cls()
        if inspect.iscoroutinefunction(fn):
            import asyncio

            from pymongo import AsyncMongoClient

            async def go() -> None:
                client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
                try:
                    inst.client, inst.db = client, client[database]
                    await fn(inst)
                finally:
                    await client.close()

            asyncio.run(go())
        else:
            from pymongo import MongoClient

            sync_client: MongoClient[dict[str, Any]] = MongoClient(uri)
            try:
                inst.client, inst.db = sync_client, sync_client[database]
                fn(inst)
            finally:
                sync_client.close()

    return run


def _worker_factory(
    migration_id: str,
    where: str,
    cls: type[Migration],
    fn: Callable[..., Any],
    spec: StepSpec,
) -> Callable[[], Worker]:
    def factory() -> Worker:
        inst = cls()
        loop = None
        if inspect.iscoroutinefunction(fn):
            # Imported only for async functions: asyncio is slow to import.
            import asyncio

            loop = asyncio.new_event_loop()

        def call(*args: Any) -> Any:
            out = fn(inst, *args)
            if loop is not None and inspect.isawaitable(out):
                out = loop.run_until_complete(out)
            return out

        crossing = None
        if cls.outputs or cls.lookups:
            crossing = Crossing(inst, frozenset(lk.as_ for lk in cls.lookups))
        log = BatchLog()
        if spec.kind == "document":
            return LoggedWorker(per_document_worker(where, call, crossing, log), log)
        return LoggedWorker(batch_worker(where, call, crossing), log)

    return factory


def encode(where: str, i: int, doc: object) -> Outcome:
    """One returned item as an outcome."""
    if doc is None:
        return False
    if not isinstance(doc, Mapping):
        raise TypeError(
            f"{where} returned {type(doc).__name__} for document {i} of the batch; "
            "return a document (dict), or None to delete it"
        )
    return bson.encode(doc, codec_options=CODEC)


#: The items ``encode_all`` packs: plain dicts (replace) and None (delete).
_PACKED = frozenset({dict, type(None)})


def _pack(out: list[Any]) -> bytes | None:
    """``out`` packed, when every item is a dict or None and encodes."""
    if not set(map(type, out)) <= _PACKED:
        return None
    try:
        return bson.encode({"o": out}, codec_options=CODEC)
    except Exception:
        # Encoded again one by one, which raises naming the document.
        return None


def encode_all(where: str, out: list[Any]) -> bytes | list[Outcome]:
    """The outcomes of the items ``out`` a function returned for a batch.

    When every item is a dict or None: one ``bson.encode`` of ``{"o": out}``
    (the engine takes each replacement out of it, its ``_id`` first as
    ``bson.encode`` puts it), about half the cost of one call per document.
    Otherwise, or when a value cannot be encoded, item by item (``encode``),
    which raises for the first document at fault, naming it.
    """
    packed = _pack(out)
    if packed is not None:
        return packed
    return [encode(where, i, d) for i, d in enumerate(out)]


def _failure(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)).rstrip()


@dataclass(frozen=True)
class Crossing:
    """A cross-collection step's worker: the migration instance its calls
    run on and the lookups its class declares."""

    inst: Migration
    declared: frozenset[str]

    def start(
        self, where: str, docs: list[dict[str, Any]], lookups: list[dict[str, Any]]
    ) -> _cross.Call:
        call = _cross.Call(where, self.declared, docs, lookups)
        setattr(self.inst, _cross.ATTR, call)
        return call

    def end(self) -> None:
        setattr(self.inst, _cross.ATTR, None)


def _decode(
    data: bytes, crossing: Crossing | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The documents of a batch, and the lookups document of each."""
    found = bson.decode_all(data, CODEC)
    if crossing is None:
        # Not read without a crossing: one empty dict stands for all.
        return found, [{}] * len(found)
    return found[0::2], found[1::2]


def _answer(outcomes: bytes | list[Outcome], outputs: Outputs, crossing: Crossing | None) -> Any:
    return outcomes if crossing is None else (outcomes, outputs)


def batch_worker(
    where: str, call: Callable[[list[dict[str, Any]]], Any], crossing: Crossing | None = None
) -> Worker:
    """A worker for a function over a whole batch."""

    def once(docs: list[dict[str, Any]], lookups: list[dict[str, Any]]) -> tuple[Any, Outputs]:
        state = crossing.start(where, docs, lookups) if crossing else None
        try:
            out = call(docs)
        finally:
            if crossing:
                crossing.end()
        # Without a crossing the outputs are dropped (`_answer`): one empty
        # list stands for all.
        return out, (state.outputs if state else [[]] * len(docs))

    def run(direction: str, data: bytes, count: int) -> Any:
        docs, lookups = _decode(data, crossing)
        try:
            out, outputs = once(docs, lookups)
        except Exception as exc:
            if len(docs) < 2:
                raise
            # Which documents make it raise? Each alone, as the engine does
            # for Wasm traps; those fail (abort, or quarantine) with no
            # outputs, the rest go on.
            singles: list[Outcome] = []
            their: Outputs = []
            for doc, lk in zip(*_decode(data, crossing), strict=True):
                try:
                    one, emitted = once([doc], [lk])
                    _check_list(where, one, 1)
                    singles.append(encode(where, 0, one[0]))
                    their.append(emitted[0])
                except Exception as e:
                    singles.append(_failure(e))
                    their.append([])
            if not any(isinstance(s, str) for s in singles):
                raise exc
            return _answer(singles, their, crossing)
        _check_list(where, out, len(docs))
        return _answer(encode_all(where, out), outputs, crossing)

    return run


def _check_list(where: str, out: object, n: int) -> None:
    if not isinstance(out, list):
        raise TypeError(
            f"{where} returned {type(out).__name__}; it must return a list with one "
            "document (or None to delete it) per input document"
        )
    if len(out) != n:
        raise ValueError(
            f"{where} returned {len(out)} documents for a batch of {n}; "
            "return one per input document (None deletes it)"
        )


def per_document_worker(
    where: str,
    call: Callable[[dict[str, Any]], Any],
    crossing: Crossing | None = None,
    log: BatchLog | None = None,
) -> Worker:
    """A worker for a function over one document at a time."""

    def run(direction: str, data: bytes, count: int) -> Any:
        docs, lookups = _decode(data, crossing)
        state = crossing.start(where, docs, lookups) if crossing else None
        outs: list[Any] = []
        try:
            for i, doc in enumerate(docs):
                if state:
                    state.current = i
                if log:
                    # Lines logged from here on are this document's.
                    log.index = i
                try:
                    new = call(doc)
                except Exception as exc:
                    outs.append(_failure(exc))
                    if state:
                        state.outputs[i] = []
                    continue
                # Dicts and None are encoded with the batch (`_pack`).
                outs.append(new if type(new) in _PACKED else encode(where, i, new))
        finally:
            if crossing:
                crossing.end()
        packed = _pack(outs)
        if packed is None:
            # Failures (str) and replacements encoded alone (bytes) as they are.
            outs = [o if isinstance(o, (bytes, str)) else encode(where, i, o) for i, o in enumerate(outs)]
        return _answer(outs if packed is None else packed, state.outputs if state else [], crossing)

    return run
