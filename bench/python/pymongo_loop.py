"""The hand-written way: a pymongo load-modify-save loop running split_name
over `users` (one replace_one per document). A baseline for benchmarks:

    python bench/python/pymongo_loop.py URI DATABASE
"""

import sys
import time
from pathlib import Path

from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).parent / "mongoshift_migrations"))
split = __import__("20260110090000_split_name").split


def main(uri: str, database: str) -> None:
    client: MongoClient = MongoClient(uri)
    users = client[database]["users"]
    started = time.monotonic()
    n = 0
    for doc in users.find({}, sort=[("_id", 1)], batch_size=1000):
        new = split(doc)
        if new is not doc:
            users.replace_one({"_id": doc["_id"]}, new)
        n += 1
    secs = time.monotonic() - started
    print(f"pymongo loop: {n} documents in {secs:.1f} s ({n / secs:.0f} docs/s)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
