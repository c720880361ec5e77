"""Test harness: one local MongoDB-protocol server for the session (the
`secantusd-rs` that `scripts/install-server` installs), or `MONGODB_URI`; one
fresh database and migrations directory per test."""

from __future__ import annotations

import os
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def server_uri() -> Iterator[str]:
    if os.environ.get("MONGODB_URI"):
        yield os.environ["MONGODB_URI"]
        return
    storage = tempfile.mkdtemp(prefix="mongoshift-pytest-")
    # scripts/server holds the flags every local server gets; `run` execs it.
    proc = subprocess.Popen(
        [str(ROOT / "scripts/server"), "run", "--storage", storage, "--cache", "256M"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True,
    )
    assert proc.stdout is not None
    port = None
    for line in proc.stdout:
        if line.startswith("secantusd-rs listening on "):
            port = line.strip().rsplit(":", 1)[1]
            break
    assert port, "secantusd-rs exited before reporting its port"
    try:
        yield f"mongodb://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        subprocess.run(["rm", "-rf", storage], check=False)


class Project:
    """A test's database and migrations directory."""

    def __init__(self, uri: str, root: Path) -> None:
        self.name = f"py_{uuid.uuid4().hex[:12]}"
        self.base_uri = uri
        self.uri = uri.rstrip("/") + "/" + self.name if "?" not in uri else uri
        self.client: MongoClient[dict[str, Any]] = MongoClient(uri)
        self.db = self.client[self.name]
        self.dir = root / "migrations"
        self.dir.mkdir()

    def write(self, name: str, text: str) -> Path:
        p = self.dir / name
        p.write_text(text)
        return p

    def ledger(self, migration_id: str) -> dict[str, Any]:
        entry = self.db["mongoshift_ledger"].find_one({"_id": migration_id})
        assert entry is not None, f"{migration_id} is not in the ledger"
        return entry


@pytest.fixture
def project(server_uri: str, tmp_path: Path) -> Iterator[Project]:
    p = Project(server_uri, tmp_path)
    try:
        yield p
    finally:
        p.client.drop_database(p.name)
        p.client.close()


def users(n: int) -> list[dict[str, Any]]:
    """Users like `host/src/sample.rs` makes: `name` "First Last", `signup` a date string."""
    first = ["Ada", "Alan", "Grace", "Linus"]
    last = ["Lovelace", "Turing", "Hopper", "Torvalds"]
    return [
        {
            "_id": i,
            "name": f"{first[i % 4]} {last[(i // 4) % 4]}",
            "email": f"u{i}@example.com",
            "age": 20 + i % 50,
            "signup": f"20{15 + i % 10}-0{1 + i % 9}-1{i % 10}",
            "address": {"city": "Oslo", "zip": f"{i:05}"},
            "tags": ["beta"],
        }
        for i in range(n)
    ]
