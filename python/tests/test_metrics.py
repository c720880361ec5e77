"""Prometheus metrics of a run (``metrics_addr=``, ``--metrics-addr``),
scraped while it is paused half-way and read with Prometheus's own parser."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any

import mongoshift
import pytest
from conftest import ROOT, Project, users
from prometheus_client.openmetrics.parser import text_string_to_metric_families

SPLIT = ROOT / "bench/python/mongoshift_migrations/20260110090000_split_name.py"
ID = "20260110090000_split_name"
N = 20_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(addr: str) -> dict[str, list[Any]]:
    """Every sample, by metric family name, parsed as Prometheus does."""
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=5) as r:
        assert r.headers["Content-Type"].startswith("application/openmetrics-text")
        text = r.read().decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def value(families: dict[str, list[Any]], family: str, sample: str, **labels: str) -> float:
    for s in families[family]:
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
            return float(s.value)
    raise AssertionError(f"no {sample}{labels} in {families[family]}")


def cli(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"MONGODB_URI": project.uri, "PATH": "/usr/bin:/bin", "MONGOSHIFT_PROGRESS": "none"}
    return subprocess.run(
        [sys.executable, "-m", "mongoshift", "--path", str(project.dir), *args],
        capture_output=True, text=True, env=env,
    )


def wait_paused(addr: str) -> dict[str, list[Any]]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            families = scrape(addr)
            if value(families, "mongoshift_phase", "mongoshift_phase", migration=ID, phase="paused"):
                return families
        except (OSError, KeyError, AssertionError):
            pass
        time.sleep(0.1)
    raise AssertionError("the run never paused")


def check_half_way(families: dict[str, list[Any]]) -> None:
    read = value(families, "mongoshift_documents_read", "mongoshift_documents_read_total", migration=ID)
    assert N * 0.5 <= read < N, read
    written = value(
        families, "mongoshift_documents_written", "mongoshift_documents_written_total",
        migration=ID, op="replaced",
    )
    assert written == read
    assert value(families, "mongoshift_batches", "mongoshift_batches_total", migration=ID) >= 1
    assert value(families, "mongoshift_phase", "mongoshift_phase", migration=ID, phase="applying") == 0
    assert value(families, "mongoshift_throttled", "mongoshift_throttled", migration=ID, reason="rate") == 0
    rate = value(families, "mongoshift_documents_per_second", "mongoshift_documents_per_second", migration=ID)
    assert rate > 0
    [info] = families["mongoshift_build"]
    assert info.labels["version"] == mongoshift.__version__


def test_up_serves_metrics_while_it_runs(project: Project) -> None:
    project.db.users.insert_many(users(N))
    shutil.copy(SPLIT, project.dir / SPLIT.name)
    addr = f"127.0.0.1:{free_port()}"
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["report"] = mongoshift.up(project.uri, path=project.dir, pause_at=50, metrics_addr=addr).run()
        except Exception as e:  # noqa: BLE001 (reported by the assertion below)
            result["error"] = e

    t = threading.Thread(target=run)
    t.start()
    try:
        check_half_way(wait_paused(addr))
    finally:
        resumed = cli(project, "resume", ID)
        t.join(timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "error" not in result, result
    assert project.db.users.count_documents({"first_name": {"$exists": True}}) == N
    # The endpoint lives as long as the run.
    with pytest.raises(OSError):
        scrape(addr)


def test_the_cli_serves_the_same_and_refuses_a_port_in_use(project: Project) -> None:
    project.db.users.insert_many(users(N))
    shutil.copy(SPLIT, project.dir / SPLIT.name)
    addr = f"127.0.0.1:{free_port()}"
    env = {"MONGODB_URI": project.uri, "PATH": "/usr/bin:/bin", "MONGOSHIFT_PROGRESS": "none"}
    up = subprocess.Popen(
        [sys.executable, "-m", "mongoshift", "--path", str(project.dir), "up", "--pause-at", "50",
         "--metrics-addr", addr],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        check_half_way(wait_paused(addr))
        # Another run on the same address is refused before it does anything.
        busy = cli(project, "up", "--metrics-addr", addr)
        assert busy.returncode == 2, busy.stderr
        assert f"cannot serve metrics on {addr}" in busy.stderr and "nothing was run" in busy.stderr
    finally:
        assert cli(project, "resume", ID).returncode == 0
        out, err = up.communicate(timeout=300)
    assert up.returncode == 0, err
    assert project.db.users.count_documents({"first_name": {"$exists": True}}) == N
    # So is up(metrics_addr=) on an address in use.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = f"127.0.0.1:{s.getsockname()[1]}"
        with pytest.raises(mongoshift.MigrationError, match=f"cannot serve metrics on {taken}"):
            mongoshift.up(project.uri, path=project.dir, metrics_addr=taken).run()
