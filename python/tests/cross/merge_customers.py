"""What the regional merges share (no timestamp: a helper module, not a migration)."""
from typing import Any

from mongoshift import Migration

# The collection every region merges into.
CUSTOMERS = "customers"


def merge(migration: Migration, customer: dict[str, Any], region: str) -> None:
    """Moves `customer` into `customers` with `region` appended; None deletes it from its
    regional collection. `_id`s stay: one two regions share fails the insert, naming both."""
    if "region" in customer:
        raise ValueError(f"field `region`: the customer has one already ({customer['region']!r})")
    migration.emit(CUSTOMERS, {**customer, "region": region})
    return None
