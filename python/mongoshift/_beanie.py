"""Beanie migration files, run unchanged.

A Beanie file has ``Forward`` and ``Backward`` classes whose attributes are
Beanie migration controllers (what ``iterative_migration(...)`` and
``free_fall_migration(...)`` turn the decorated methods into):

- iterative: each document is parsed into the input model, the function is
  called with ``input_document`` and ``output_document`` as Beanie calls it,
  the result is merged and validated into the output model as Beanie does, and
  the engine writes its dump; batches go through the engine (per-batch
  transactions, checkpoints, resume) instead of Beanie's single pass;
- free fall: ``init_beanie`` with the controller's models, then the function
  with a session, as Beanie's runner does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from inspect import signature
from typing import Any

from mongoshift._runtime import Worker, batch_worker


def plan(
    migration_id: str, classes: list[Any], direction: str, uri: str, database: str
) -> dict[str, Any]:
    from beanie.migrations.controllers.base import BaseMigrationController

    forward, backward = classes
    cls = forward if direction == "up" else backward
    steps: list[dict[str, Any]] = []
    if cls is not None:
        for name in dir(cls):
            ctrl = getattr(cls, name)
            if not isinstance(ctrl, BaseMigrationController):
                continue
            where = f"{cls.__name__}.{ctrl.function.__name__}"
            if hasattr(ctrl, "input_document_model"):
                steps.append(_iterative(where, ctrl, uri, database))
            else:
                steps.append(
                    {
                        "kind": "bulk",
                        "description": f"beanie free_fall_migration {where}",
                        "run": _free_fall(ctrl, uri),
                    }
                )
    return {"steps": steps, "reversible": backward is not None}


def _init(uri: str, database: str, models: list[Any]) -> None:
    """``init_beanie`` for ``models``, as Beanie's runner does before a migration."""
    from beanie import init_beanie
    from pymongo import AsyncMongoClient

    async def go() -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
        try:
            await init_beanie(database=client[database], document_models=models)
        finally:
            await client.close()

    asyncio.run(go())


def _iterative(where: str, ctrl: Any, uri: str, database: str) -> dict[str, Any]:
    _init(uri, database, list(ctrl.models))
    inp = ctrl.input_document_model
    return {
        "kind": "iterative",
        "description": f"beanie iterative_migration {where}: "
        f"{inp.__name__} -> {ctrl.output_document_model.__name__}, batches of {ctrl.batch_size}",
        "collection": inp.get_collection_name(),
        "filter": b"\x05\x00\x00\x00\x00",
        "batch_size": ctrl.batch_size,
        "threads": 1,
        "worker": lambda: _worker(where, ctrl),
    }


def _worker(where: str, ctrl: Any) -> Worker:
    from beanie.migrations.controllers.iterative import DummyOutput
    from beanie.migrations.utils import update_dict
    from beanie.odm.utils.dump import get_dict
    from beanie.odm.utils.parsing import parse_obj
    from beanie.odm.utils.pydantic import parse_model

    loop = asyncio.new_event_loop()
    inp_model, out_model = ctrl.input_document_model, ctrl.output_document_model
    with_self = "self" in signature(ctrl.function).parameters
    keep_nulls = out_model.get_settings().keep_nulls

    async def one(raw: dict[str, Any]) -> dict[str, Any]:
        input_document = parse_obj(inp_model, raw)
        output = DummyOutput()  # type: ignore[no-untyped-call]
        kwargs: dict[str, Any] = {"input_document": input_document, "output_document": output}
        if with_self:
            kwargs["self"] = None
        await ctrl.function(**kwargs)
        output_dict = input_document.model_dump()
        update_dict(output_dict, output.dict())  # type: ignore[no-untyped-call]
        output_document = parse_model(out_model, output_dict)
        encoded: dict[str, Any] = get_dict(output_document, to_db=True, keep_nulls=keep_nulls)
        # The model may hold an int64 `_id` as a Python int, which encodes as
        # int32 when small: keep the stored `_id` itself (same value, same type).
        if "_id" in raw and encoded.get("_id") == raw["_id"]:
            encoded["_id"] = raw["_id"]
        return encoded

    async def batch(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [await one(d) for d in docs]

    def call(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return loop.run_until_complete(batch(docs))

    return batch_worker(where, call)


def _free_fall(ctrl: Any, uri: str) -> Callable[[str], None]:
    def run(database: str) -> None:
        from beanie import init_beanie
        from pymongo import AsyncMongoClient

        async def go() -> None:
            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
            try:
                await init_beanie(database=client[database], document_models=list(ctrl.models))
                kwargs: dict[str, Any] = {}
                if "self" in signature(ctrl.function).parameters:
                    kwargs["self"] = None
                # As `beanie migrate` runs it by default: in one transaction.
                async with client.start_session() as session:
                    async with await session.start_transaction():
                        await ctrl.function(session=session, **kwargs)
            finally:
                await client.close()

        asyncio.run(go())

    return run
