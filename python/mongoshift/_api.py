"""Writing migrations: the ``Migration`` base class and the decorators that say
how each of its ``forward``/``backward`` methods runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, overload

F = TypeVar("F", bound=Callable[..., Any])

#: The attribute a decorated function carries.
MARK = "__mongoshift_step__"


@dataclass(frozen=True)
class StepSpec:
    """How a decorated method runs."""

    #: ``"iterative"`` (batches), ``"document"`` (one document per call) or ``"bulk"``.
    kind: str
    batch_size: int = 1000
    parallel: bool = False


class Migration:
    """A migration written in Python. Subclass it in a ``<version>_<name>.py``
    file of the migrations directory and give it a ``forward`` method (and a
    ``backward`` one to make it reversible), decorated with
    :func:`iterative_migration`, :func:`document_migration` or
    :func:`bulk_migration`.

    Iterative and per-document methods run on the documents of
    :attr:`collection` matching :attr:`filter`; the Rust engine reads, batches,
    writes and checkpoints them. Bulk methods get :attr:`db` (a pymongo
    ``AsyncDatabase`` for ``async def``, a ``Database`` otherwise) and do their
    own work on the server.
    """

    #: The collection iterative and per-document methods run on.
    collection: ClassVar[str | None] = None
    #: Which of its documents (a query document).
    filter: ClassVar[dict[str, Any]] = {}
    #: The target database, set before a bulk method runs.
    db: Any = None
    #: The client of :attr:`db`.
    client: Any = None


def iterative_migration(*, batch_size: int = 1000, parallel: bool = False) -> Callable[[F], F]:
    """The method takes a list of documents (dicts) and returns a list with one
    entry per input: the new document, or ``None`` to delete it. A document
    returned unchanged is left as it is, byte for byte.

    ``parallel=True`` lets the engine read, convert and write other batches
    while Python runs this one (the GIL is held only for the call).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")

    def mark(f: F) -> F:
        setattr(f, MARK, StepSpec("iterative", batch_size, parallel))
        return f

    return mark


def document_migration(*, batch_size: int = 1000, parallel: bool = False) -> Callable[[F], F]:
    """The per-document form: the method takes one document and returns the
    new document, or ``None`` to delete it. A document whose call raises
    fails alone (quarantined with ``quarantine=True``)."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")

    def mark(f: F) -> F:
        setattr(f, MARK, StepSpec("document", batch_size, parallel))
        return f

    return mark


@overload
def bulk_migration(f: F, /) -> F: ...
@overload
def bulk_migration() -> Callable[[F], F]: ...
def bulk_migration(f: F | None = None, /) -> F | Callable[[F], F]:
    """The method runs once with :attr:`Migration.db` and does its work on the
    server (``update_many``, aggregation pipelines, index changes): documents
    never leave it. Use as ``@bulk_migration`` or ``@bulk_migration()``."""

    def mark(g: F) -> F:
        setattr(g, MARK, StepSpec("bulk"))
        return g

    return mark if f is None else mark(f)


#: Another name for :func:`bulk_migration`.
rust_optimized_migration = bulk_migration
