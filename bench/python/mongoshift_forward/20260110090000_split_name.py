"""split_name with no backward transform and the decorator's defaults, as
most Python migrations are written: `down` restores the pre-images mongoshift
keeps by default, and one worker calls the function (no `parallel=True`). The
function is the two-way file's `split`, loaded from beside this folder."""

import importlib.util
from pathlib import Path
from typing import Any

from mongoshift import Migration, iterative_migration

_two_way = Path(__file__).resolve().parent.parent / "mongoshift_migrations"
_spec = importlib.util.spec_from_file_location(
    "split_name_two_way", _two_way / "20260110090000_split_name.py"
)
assert _spec and _spec.loader
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
split = _module.split


class SplitName(Migration):
    collection = "users"

    @iterative_migration()
    def forward(self, batch: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
        return [split(d) for d in batch]
