"""The hand-written ways, as baselines for benchmarks: a pymongo loop over
`users` that runs split_name and saves each changed document with one
`replace_one` (`loop`), or sends `bulk_write` batches of 1,000 replacements
(`bulk`):

    python bench/python/pymongo_baseline.py loop|bulk URI DATABASE
"""

import sys
import time
from pathlib import Path

from pymongo import MongoClient, ReplaceOne

sys.path.insert(0, str(Path(__file__).parent / "mongoshift_migrations"))
split = __import__("20260110090000_split_name").split


def main(mode: str, uri: str, database: str) -> None:
    if mode not in ("loop", "bulk"):
        sys.exit(f"unknown mode {mode!r}: use loop or bulk")
    client: MongoClient = MongoClient(uri)
    users = client[database]["users"]
    started = time.monotonic()
    n = 0
    ops = []
    for doc in users.find({}, sort=[("_id", 1)], batch_size=1000):
        new = split(doc)
        if new is not doc:
            if mode == "loop":
                users.replace_one({"_id": doc["_id"]}, new)
            else:
                ops.append(ReplaceOne({"_id": doc["_id"]}, new))
        n += 1
        if len(ops) == 1000:
            users.bulk_write(ops, ordered=False)
            ops = []
    if ops:
        users.bulk_write(ops, ordered=False)
    secs = time.monotonic() - started
    label = "pymongo loop" if mode == "loop" else "pymongo bulk_write"
    print(f"{label}: {n} documents in {secs:.1f} s ({n / secs:.0f} docs/s)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
