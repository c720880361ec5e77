"""Split, merge and archive as Python migrations through the API: up, checked as a
user would check it, then down leaving every touched collection as it was, byte for
byte (from pre-images: each empties what a backward step would read)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import mongoshift
import pytest
from bson import ObjectId
from bson.int64 import Int64
from conftest import Project
from test_cross import CROSS, raw


def install(project: Project, *names: str) -> None:
    for name in names:
        shutil.copy(CROSS / name, project.dir / name)


def event(i: int) -> dict[str, Any]:
    return {
        "_id": Int64(i),
        "type": "view" if i % 3 == 0 else "click",
        "at": datetime(2025, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=61 * i),
        "user_id": i % 97,
        "page": f"/products/{i % 50}",
        "meta": {"ua": "Mozilla/5.0", "ms": i % 800, "tags": ["web", "eu"]},
    }


def test_split_moves_each_event_to_its_types_collection_and_down_puts_them_back(
    project: Project,
) -> None:
    n = 3000
    project.db.events.insert_many([event(i) for i in range(n)])
    before = raw(project, "events")
    views = len(range(0, n, 3))
    install(project, "20260401000000_split_events.py")

    mongoshift.up(project.uri, path=project.dir).run()
    assert project.db.events.count_documents({}) == 0
    assert project.db.events_view.count_documents({}) == views
    assert project.db.events_click.count_documents({}) == n - views
    assert project.db.events_click.count_documents({"type": {"$ne": "click"}}) == 0
    # pymongo reads dates back naive (UTC).
    moved = {**event(43), "at": event(43)["at"].replace(tzinfo=None)}
    assert project.db.events_click.find_one({"_id": 43}) == moved
    checkpoint = project.ledger("20260401000000_split_events")["checkpoint"]
    assert checkpoint["outputs"] == {"events_click": n - views, "events_view": views}

    mongoshift.down(project.uri, path=project.dir).run()
    assert raw(project, "events") == before
    assert project.db.events_click.count_documents({}) == 0
    assert project.db.events_view.count_documents({}) == 0


def customer(region: int, i: int) -> dict[str, Any]:
    return {
        "_id": ObjectId(bytes([region]) + bytes(7) + i.to_bytes(4, "big")),
        "name": f"Customer {region}-{i}",
        "email": f"c{i}@region{region}.example",
        "since": datetime(2020, 9, 13) + timedelta(days=i),
        "orders": i % 12,
    }


def test_merge_moves_both_regions_into_customers_and_down_puts_them_back(
    project: Project,
) -> None:
    eu, us = 2000, 1500
    project.db.customers_eu.insert_many([customer(1, i) for i in range(eu)])
    project.db.customers_us.insert_many([customer(2, i) for i in range(us)])
    before = {c: raw(project, c) for c in ("customers_eu", "customers_us")}
    install(
        project,
        "merge_customers.py",
        "20260402000000_merge_customers_eu.py",
        "20260402000001_merge_customers_us.py",
    )

    mongoshift.up(project.uri, path=project.dir).run()
    assert project.db.customers.count_documents({}) == eu + us
    assert project.db.customers.count_documents({"region": "eu"}) == eu
    assert project.db.customers.count_documents({"region": "us"}) == us
    assert project.db.customers_eu.count_documents({}) == 0
    assert project.db.customers_us.count_documents({}) == 0
    c = customer(2, 7)
    assert project.db.customers.find_one({"_id": c["_id"]}) == {**c, "region": "us"}

    mongoshift.down(project.uri, path=project.dir, steps=2).run()
    assert {c: raw(project, c) for c in ("customers_eu", "customers_us")} == before
    assert project.db.customers.count_documents({}) == 0


@pytest.fixture
def archive_db(project: Project) -> Iterator[Any]:
    """`archive_db`, which is not the test's own database: dropped before and after."""
    project.client.drop_database("archive_db")
    yield project.client.archive_db
    project.client.drop_database("archive_db")


def order(i: int) -> dict[str, Any]:
    return {
        "_id": i,
        "customer_id": i % 211,
        "created_at": datetime(2023, 1, 1) + timedelta(hours=8 * i),
        "lines": [{"sku": f"SKU-{i % 40}", "qty": 1 + i % 3}],
        "total": i % 500 + 0.99,
        "status": "delivered",
    }


def test_archive_moves_old_orders_to_another_database_and_down_restores_them(
    project: Project, archive_db: Any
) -> None:
    n = 3300
    project.db.orders.insert_many([order(i) for i in range(n)])
    before = raw(project, "orders")
    cut_off = datetime(2025, 1, 1)
    old = project.db.orders.count_documents({"created_at": {"$lt": cut_off}})
    assert 1000 < old < n
    install(project, "20260403000000_archive_orders.py")

    mongoshift.up(project.uri, path=project.dir).run()
    assert archive_db.orders.count_documents({}) == old
    assert project.db.orders.count_documents({}) == n - old
    assert project.db.orders.count_documents({"created_at": {"$lt": cut_off}}) == 0
    assert archive_db.orders.find_one({"_id": 17}) == order(17)
    checkpoint = project.ledger("20260403000000_archive_orders")["checkpoint"]
    assert checkpoint["outputs"] == {"archive_db.orders": old}

    mongoshift.down(project.uri, path=project.dir).run()
    assert raw(project, "orders") == before
    assert archive_db.orders.count_documents({}) == 0
