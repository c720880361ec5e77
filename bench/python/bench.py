"""Side-by-side benchmark of split_name over the same users, on the same
server: `beanie migrate` vs mongoshift (its Python API, and the unchanged
Beanie file). Prints docs/s and the peak RSS of each run's process.

    python bench/python/bench.py URI COUNT [COUNT ...]
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from pymongo import MongoClient

HERE = Path(__file__).resolve().parent
FIRST = ["Ada", "Alan", "Grace", "Linus", "Barbara", "Dennis", "Margaret", "Ken", "Frances",
         "Edsger", "Radia", "Donald"]
LAST = ["Lovelace", "Turing", "Hopper", "Torvalds", "Liskov", "Ritchie", "Hamilton", "Thompson",
        "Allen", "Dijkstra", "Perlman", "Knuth"]
CITIES = ["Lisbon", "Oslo", "Nairobi", "Lima", "Osaka", "Quebec", "Tallinn", "Perth"]
TAGS = ["beta", "admin", "newsletter", "mobile", "trial", "vip", "eu", "us"]
M64 = (1 << 64) - 1


def user(i: int) -> dict[str, object]:
    """`host/src/sample.rs`'s deterministic user `i`, field for field."""
    h = (i * 0x9E3779B97F4A7C15) & M64
    first, last = FIRST[h % 12], LAST[(h >> 8) % 12]
    year, month, day = 2015 + (h >> 16) % 10, 1 + (h >> 24) % 12, 1 + (h >> 32) % 28
    tags = [TAGS[(h >> (44 + 4 * k)) % 8] for k in range(1 + (h >> 40) % 3)]
    from bson import Int64

    return {
        "_id": Int64(i),
        "name": f"{first} {last}",
        "email": f"{first.lower()}.{last.lower()}{i}@example.com",
        "age": 18 + (h >> 48) % 60,
        "signup": f"{year:04}-{month:02}-{day:02}",
        "address": {"street": f"{1 + i % 999} Main Street", "city": CITIES[(h >> 52) % 8],
                    "zip": f"{(h >> 20) % 100_000:05}"},
        "tags": tags,
    }


def seed(client: MongoClient, db: str, n: int) -> None:
    client.drop_database(db)
    coll = client[db]["users"]
    for start in range(0, n, 10_000):
        coll.insert_many([user(i) for i in range(start, min(n, start + 10_000))], ordered=False)


def measure(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    secs = time.monotonic() - started
    if status != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        last = [line for line in err.strip().splitlines() if line.strip()][-1:] or ["?"]
        raise RuntimeError(f"failed after {secs:.1f} s: {last[0][:300]}")
    return secs, usage.ru_maxrss // 1024


def main(uri: str, counts: list[int]) -> None:
    client: MongoClient = MongoClient(uri)
    py = sys.executable
    beanie = str(Path(py).parent / "beanie")
    up = "import mongoshift,sys; mongoshift.up(sys.argv[1], path=sys.argv[2], db=sys.argv[3]).run()"
    runs = {
        # Beanie's default: one transaction for the file. Without it
        # (--no-use-transaction) its concurrent replace_many calls share one
        # session and the server refuses them (TransactionTooOld).
        "beanie migrate (iterative)": lambda db: [
            beanie, "migrate", "-uri", uri, "-db", db, "-p", str(HERE / "beanie_migrations")],
        "mongoshift, Python API (parallel=True)": lambda db: [
            py, "-c", up, uri, str(HERE / "mongoshift_migrations"), db],
        "mongoshift, the unchanged Beanie file": lambda db: [
            py, "-c", up, uri, str(HERE / "beanie_migrations"), db],
    }
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
          f"{platform.python_version()}; server: {uri.split('@')[-1]}")
    for n in counts:
        base = None
        for label, cmd in runs.items():
            db = f"bench_py_{n}"
            seed(client, db, n)
            try:
                secs, rss = measure(cmd(db))
            except RuntimeError as e:
                print(f"{n:>9} docs  {label:<50} {e}", flush=True)
                base = base or -1.0
                client.drop_database(db)
                continue
            assert client[db]["users"].count_documents({"status": "active"}) == n, label
            rate = n / secs
            base = base or rate
            vs = f"x{rate / base:4.1f}" if base > 0 else "  -  "
            print(f"{n:>9} docs  {label:<50} {secs:7.1f} s  {rate:9.0f} docs/s  "
                  f"{vs}  peak RSS {rss:5d} MiB", flush=True)
            client.drop_database(db)


if __name__ == "__main__":
    main(sys.argv[1], [int(c.replace("_", "")) for c in sys.argv[2:]] or [100_000])
