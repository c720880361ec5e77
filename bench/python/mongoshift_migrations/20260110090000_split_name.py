"""split name into first_name/last_name, status active, signup as a date"""

from datetime import datetime
from typing import Any

from mongoshift import Migration, iterative_migration


def split(doc: dict[str, Any]) -> dict[str, Any]:
    """The reference `split_name` Wasm transform, in Python: same output."""
    name = doc.get("name")
    if not isinstance(name, str):
        return doc
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "name":
            first, _, last = name.partition(" ")
            out["first_name"] = first
            out["last_name"] = last
        elif key == "signup" and isinstance(value, str):
            out["signup"] = datetime.strptime(value, "%Y-%m-%d")
        elif key == "status":
            out["status"] = "active"
        else:
            out[key] = value
    out.setdefault("status", "active")
    return out


def join(doc: dict[str, Any]) -> dict[str, Any]:
    first, last = doc.get("first_name"), doc.get("last_name")
    if not isinstance(first, str) or not isinstance(last, str):
        return doc
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "first_name":
            out["name"] = f"{first} {last}" if last else first
        elif key in ("last_name", "status"):
            continue
        elif key == "signup" and isinstance(value, datetime):
            out["signup"] = value.strftime("%Y-%m-%d")
        else:
            out[key] = value
    return out


class SplitName(Migration):
    collection = "users"

    @iterative_migration(batch_size=1000, parallel=True)
    def forward(self, batch: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
        return [split(d) for d in batch]

    @iterative_migration(batch_size=1000, parallel=True)
    def backward(self, batch: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
        return [join(d) for d in batch]
