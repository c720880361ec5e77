"""Writing migrations: the ``Migration`` base class and the decorators that say
how each of its ``forward``/``backward`` methods runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, overload

from mongoshift import _cross

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


@dataclass(frozen=True, kw_only=True)
class Lookup:
    """A read-only join the engine resolves for each batch (one query per
    lookup, never one per document) and gives each input document: the
    documents of ``from_`` whose ``foreign_field`` equals the document's
    ``local_field`` (each element, when that is an array), read in the
    batch's transaction. A step reads them with :meth:`Migration.lookup`.
    The same rules as a manifest's ``[[lookup]]``.
    """

    #: The collection read: ``"name"`` or ``"database.name"``.
    from_: str
    #: The input document's field (a dotted path).
    local_field: str
    #: The field of ``from_`` it is matched against (a dotted path).
    foreign_field: str
    #: The name the step reads the matches by, without dots.
    as_: str
    #: Which fields of each match the step gets (default: all).
    projection: Mapping[str, Any] | None = None
    #: The order of the matches (default: by ``_id``).
    sort: Mapping[str, Any] | None = None
    #: The most matches one document may have; more fail the batch.
    limit: int = 1000
    #: A document without a match fails instead of getting an empty list.
    required: bool = False


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

    A migration that touches other collections declares them: :attr:`outputs`
    (what its steps may write with :meth:`emit`, :meth:`upsert` and
    :meth:`delete`) and :attr:`lookups` (what they read with :meth:`lookup`).
    The engine writes the outputs in each batch's transaction with its
    outcomes and checkpoint, so every output is written exactly once; ``down``
    without a ``backward`` puts every touched collection back.
    """

    #: The collection iterative and per-document methods run on.
    collection: ClassVar[str | None] = None
    #: Which of its documents (a query document).
    filter: ClassVar[dict[str, Any]] = {}
    #: The target database, set before a bulk method runs.
    db: Any = None
    #: The client of :attr:`db`.
    client: Any = None
    #: The collections iterative and per-document steps may write besides
    #: :attr:`collection`: ``"name"`` or ``"database.name"``.
    outputs: ClassVar[Sequence[str]] = ()
    #: The related documents each input document is given.
    lookups: ClassVar[Sequence[Lookup]] = ()

    def lookup(self, doc: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
        """The matches of the lookup declared ``as_=name`` for input document
        ``doc`` (the dict the step was given, or one with its ``_id``)."""
        return _cross.current(self, "lookup").lookup(doc, name)

    def emit(
        self,
        collection: str,
        document: Mapping[str, Any],
        *,
        source: Mapping[str, Any] | None = None,
    ) -> None:
        """Inserts ``document`` into ``collection`` (one of :attr:`outputs`);
        an ``_id`` already there fails the batch. ``source``: the input
        document it is for (per-document steps: their document)."""
        _cross.current(self, "emit").add(_cross.INSERT, collection, document, source)

    def upsert(
        self,
        collection: str,
        document: Mapping[str, Any],
        *,
        source: Mapping[str, Any] | None = None,
    ) -> None:
        """Replaces the document of ``collection`` with ``document``'s
        ``_id``, or inserts it."""
        _cross.current(self, "upsert").add(_cross.UPSERT, collection, document, source)

    def delete(
        self, collection: str, _id: Any, *, source: Mapping[str, Any] | None = None
    ) -> None:
        """Deletes the document of ``collection`` with this ``_id``."""
        _cross.current(self, "delete").add(_cross.DELETE, collection, {"_id": _id}, source)


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
