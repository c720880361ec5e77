"""Where a Python transform's CPU time goes, per document, without a server:
pymongo's C extension decoding a batch of raw BSON into dicts (what the engine
hands the function), the benchmark's `split` function itself (and the
`datetime.strptime` inside it), and encoding the results back: the engine's
`encode_all`, one `bson.encode` for a batch of dicts (the engine takes it
apart in Rust, without the GIL, and checks each document there), and item by
item, as for results that are not all dicts or None.

    python bench/python/python_costs.py [ROUNDS]

Run it with the bench virtualenv (`scripts/python-env`), which has the
mongoshift package installed.
"""

import datetime
import importlib.util
import sys
import time
from pathlib import Path

import bson

from mongoshift import _runtime

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 50
here = Path(__file__).parent
spec = importlib.util.spec_from_file_location(
    "split_name", here / "mongoshift_migrations" / "20260110090000_split_name.py"
)
assert spec and spec.loader
migration = importlib.util.module_from_spec(spec)
spec.loader.exec_module(migration)

# The shape scripts/bench seeds (host/examples/seed.rs), 1000 per batch.
docs = [
    {
        "_id": i,
        "name": "Ada Lovelace",
        "email": f"ada{i}@example.com",
        "age": 36,
        "signup": "2015-12-10",
        "address": {"street": "1 Main St", "city": "London", "zip": "12345"},
        "tags": ["a", "b"],
    }
    for i in range(1000)
]
data = b"".join(bson.encode(d) for d in docs)


def per_doc(f) -> float:
    """Best of `rounds`, in microseconds per document."""
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best / len(docs) * 1e6


decoded = bson.decode_all(data, _runtime.CODEC)
out = [migration.split(d) for d in decoded]
rows = [
    ("decode (bson.decode_all)", lambda: bson.decode_all(data, _runtime.CODEC)),
    ("split (the transform)", lambda: [migration.split(d) for d in decoded]),
    ("  of which strptime", lambda: [datetime.datetime.strptime(d["signup"], "%Y-%m-%d") for d in decoded]),
    ("encode (engine's encode_all)", lambda: _runtime.encode_all("bench", out)),
    ("  item by item", lambda: [_runtime.encode("bench", i, d) for i, d in enumerate(out)]),
]
for name, f in rows:
    print(f"{name:28} {per_doc(f):6.2f} µs/doc")
