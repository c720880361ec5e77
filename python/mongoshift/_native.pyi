"""The compiled part of mongoshift (private: use the ``mongoshift`` package)."""

from collections.abc import Callable

__all__ = [
    "ChecksumMismatch",
    "ConnectError",
    "LockError",
    "MigrationError",
    "PolicyError",
    "SelectionError",
    "SourceError",
    "TransformError",
    "__version__",
    "audit",
    "down",
    "fleet_down",
    "fleet_plan",
    "fleet_status",
    "fleet_up",
    "fleet_verify",
    "main",
    "plan",
    "run_fixtures",
    "status",
    "up",
    "verify",
]

__version__: str

class MigrationError(Exception):
    """A migration command failed."""

    applied: list[str]

class LockError(MigrationError):
    """Another run holds the migration lock, or this run lost it."""

class ChecksumMismatch(MigrationError):
    """An applied migration's file changed, or is missing on disk."""

class SourceError(MigrationError):
    """The migrations directory holds something invalid."""

class ConnectError(MigrationError):
    """The server cannot be reached, or the URI is invalid."""

class TransformError(MigrationError):
    """A transform failed on a batch, or a Python migration failed."""

class SelectionError(MigrationError):
    """A database selection chose nothing, or cannot be read."""

class PolicyError(MigrationError):
    """The operator's policy refuses a migration, or cannot be used."""

def status(uri: str, path: str, db: str | None = None) -> str: ...
def verify(uri: str, path: str, db: str | None = None) -> str: ...
def plan(
    uri: str,
    path: str,
    db: str | None = None,
    options: str | None = None,
    down_steps: int | None = None,
) -> str: ...
def up(
    uri: str,
    path: str,
    db: str | None = None,
    options: str | None = None,
    on_progress: Callable[[str], object] | None = None,
) -> str: ...
def down(
    uri: str,
    path: str,
    db: str | None = None,
    options: str | None = None,
    on_progress: Callable[[str], object] | None = None,
) -> str: ...
def audit(
    uri: str,
    db: str | None = None,
    limit: int | None = None,
    migration: str | None = None,
    since: str | None = None,
) -> str: ...
def fleet_status(uri: str, path: str, selection: str) -> str: ...
def fleet_verify(uri: str, path: str, selection: str) -> str: ...
def fleet_plan(
    uri: str,
    path: str,
    selection: str,
    options: str | None = None,
    down_steps: int | None = None,
) -> str: ...
def fleet_up(
    uri: str,
    path: str,
    selection: str,
    options: str | None = None,
    on_progress: Callable[[str], object] | None = None,
) -> str: ...
def fleet_down(
    uri: str,
    path: str,
    selection: str,
    options: str | None = None,
    on_progress: Callable[[str], object] | None = None,
) -> str: ...
def main(argv: list[str]) -> int: ...
def run_fixtures(path: str, id: str | None = None) -> str: ...
