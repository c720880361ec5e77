"""The hand-written way to move users.addresses[i] into `addresses`: a
pymongo loop over `users` in batches of 1,000, each written with one
`insert_many` of the addresses and one `bulk_write` of the users without
them. A baseline for benchmarks:

    python bench/python/pymongo_cross.py URI DATABASE
"""

import sys
import time

from pymongo import MongoClient, ReplaceOne


def main(uri: str, database: str) -> None:
    client: MongoClient = MongoClient(uri)
    db = client[database]
    started = time.monotonic()
    n = 0
    users, moved = [], []

    def flush() -> None:
        if moved:
            db.addresses.insert_many(moved, ordered=False)
        if users:
            db.users.bulk_write(users, ordered=False)
        users.clear()
        moved.clear()

    for user in db.users.find({}, sort=[("_id", 1)], batch_size=1000):
        addresses = user.pop("addresses", None) or []
        for i, a in enumerate(addresses):
            moved.append({"_id": f"{user['_id']}-{i}", "user_id": user["_id"], "i": i, **a})
        users.append(ReplaceOne({"_id": user["_id"]}, user))
        n += 1
        if len(users) == 1000:
            flush()
    flush()
    secs = time.monotonic() - started
    print(f"pymongo insert_many + bulk_write: {n} documents in {secs:.1f} s ({n / secs:.0f} docs/s)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
