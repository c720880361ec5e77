"""mongoshift: fast, safe MongoDB data migrations.

Write migrations as Python classes (or keep your Beanie migration files); the
Rust engine reads, batches, writes, checkpoints and reports, and only your
function runs in Python::

    from mongoshift import Migration, iterative_migration

    class SplitName(Migration):
        collection = "users"

        @iterative_migration(batch_size=1000, parallel=True)
        def forward(self, batch: list[dict]) -> list[dict | None]:
            return [split(doc) for doc in batch]

A migration that writes other collections or reads related documents
declares them (``outputs = ["addresses"]``, ``lookups = [Lookup(...)]``) and
uses ``self.emit``/``self.upsert``/``self.delete`` and ``self.lookup`` in its
steps; the engine writes the outputs in each batch's transaction.

Run them with ``await mongoshift.up(uri, path="migrations")`` (or
``mongoshift.up(...).run()`` without asyncio), ``python -m mongoshift up``, or
the ``mongoshift`` binary. Over many tenant databases at once:
``mongoshift.up(uri, databases=["tenant_*"], concurrency=8)`` returns each
database's result, and ``mongoshift.status(uri, databases=["tenant_*"])``
where each database and each migration stands. ``mongoshift.audit(uri)``
lists who ran what against the database, and how it ended.
"""

from mongoshift._api import (
    Lookup,
    Migration,
    bulk_migration,
    document_migration,
    iterative_migration,
    rust_optimized_migration,
)
from mongoshift._commands import (
    Operation,
    ProgressCallback,
    audit,
    down,
    plan,
    print_progress,
    status,
    up,
    verify,
)
from mongoshift._fleet import (
    DatabaseOutcome,
    DatabaseRun,
    DatabaseState,
    DatabaseStatus,
    FleetFailed,
    FleetPlan,
    FleetStatus,
    MigrationStatus,
)
from mongoshift._native import (
    ChecksumMismatch,
    ConnectError,
    LockError,
    MigrationError,
    PolicyError,
    SelectionError,
    SourceError,
    TransformError,
    __version__,
)

__all__ = [
    "ChecksumMismatch",
    "ConnectError",
    "DatabaseOutcome",
    "DatabaseRun",
    "DatabaseState",
    "DatabaseStatus",
    "FleetFailed",
    "FleetPlan",
    "FleetStatus",
    "LockError",
    "Lookup",
    "Migration",
    "MigrationError",
    "MigrationStatus",
    "Operation",
    "PolicyError",
    "ProgressCallback",
    "SelectionError",
    "SourceError",
    "TransformError",
    "__version__",
    "audit",
    "bulk_migration",
    "document_migration",
    "down",
    "iterative_migration",
    "plan",
    "print_progress",
    "rust_optimized_migration",
    "status",
    "up",
    "verify",
]
