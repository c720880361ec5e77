"""What the Rust engine calls to run Python migration files.

``load`` reads one file and returns its plan for one direction: a list of
steps. An iterative step carries a ``worker`` factory; the engine makes one
worker per thread and calls it once per batch with the raw BSON of the batch.
A worker returns one item per document: ``None`` (keep; the engine also keeps
a replacement equal to the input), ``bytes`` (replace with this BSON),
``False`` (delete) or ``str`` (this document fails, with this message).
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import bson
from bson.codec_options import CodecOptions, DatetimeConversion

from mongoshift._api import MARK, Migration, StepSpec

#: Decoding that round-trips every BSON type: int64 stays ``Int64``, binary
#: subtypes stay ``Binary``, dates out of Python's range stay ``DatetimeMS``.
CODEC: CodecOptions[dict[str, Any]] = CodecOptions(
    document_class=dict, datetime_conversion=DatetimeConversion.DATETIME_AUTO
)

Outcome = None | bytes | bool | str
Worker = Callable[[str, bytes, int], list[Outcome]]


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
        return _mongoshift_plan(migration_id, classes, direction, uri, database)
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
    migration_id: str, classes: list[type[Migration]], direction: str, uri: str, database: str
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
            }
        )
    return {"steps": steps, "reversible": reversible}


def _bulk_runner(cls: type[Migration], fn: Callable[..., Any], uri: str) -> Callable[[str], None]:
    def run(database: str) -> None:
        inst = cls()
        if inspect.iscoroutinefunction(fn):
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
        loop = asyncio.new_event_loop() if inspect.iscoroutinefunction(fn) else None

        def call(*args: Any) -> Any:
            out = fn(inst, *args)
            if loop is not None and inspect.isawaitable(out):
                out = loop.run_until_complete(out)
            return out

        if spec.kind == "document":
            return per_document_worker(where, call)
        return batch_worker(where, call)

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


def _failure(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)).rstrip()


def batch_worker(where: str, call: Callable[[list[dict[str, Any]]], Any]) -> Worker:
    """A worker for a function over a whole batch."""

    def run(direction: str, data: bytes, count: int) -> list[Outcome]:
        docs = bson.decode_all(data, CODEC)
        try:
            out = call(docs)
        except Exception as exc:
            if len(docs) < 2:
                raise
            # Which documents make it raise? Each alone, as the engine does
            # for Wasm traps; those fail (abort, or quarantine), the rest go on.
            singles: list[Outcome] = []
            for doc in bson.decode_all(data, CODEC):
                try:
                    one = call([doc])
                    _check_list(where, one, 1)
                    singles.append(encode(where, 0, one[0]))
                except Exception as e:
                    singles.append(_failure(e))
            if not any(isinstance(s, str) for s in singles):
                raise exc
            return singles
        _check_list(where, out, len(docs))
        return [encode(where, i, d) for i, d in enumerate(out)]

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


def per_document_worker(where: str, call: Callable[[dict[str, Any]], Any]) -> Worker:
    """A worker for a function over one document at a time."""

    def run(direction: str, data: bytes, count: int) -> list[Outcome]:
        outs: list[Outcome] = []
        for i, doc in enumerate(bson.decode_all(data, CODEC)):
            try:
                new = call(doc)
            except Exception as exc:
                outs.append(_failure(exc))
                continue
            outs.append(encode(where, i, new))
        return outs

    return run
