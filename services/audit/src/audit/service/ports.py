"""What the use cases need from the outside world, as protocols and plain values.

``AuditLog`` is the one store port: ``audit.adapters.store.AuditStore`` implements it on
MongoDB, ``tests/unit/audit/fakes.py`` in memory. Its contract carries the fencing that lets
several replicas append to one chain: ``insert_entries`` inserts a run in order and stops at
the first entry whose position (seq) or event id is taken, raising `DuplicateEntry` with the
number of entries that landed before it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from audit.domain.chain import AuditEntry
from audit.domain.checkpoint import Checkpoint
from audit.domain.recording import ChainHead

__all__ = [
    "AuditLog",
    "Clock",
    "DuplicateEntry",
    "EntryFilter",
    "Sleep",
    "StoredCheckpoint",
]

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


class DuplicateEntry(Exception):
    """An insert met an entry already stored (same seq: another writer sealed that position
    first; or same event id: the event is recorded already).

    ``inserted`` entries of the run landed before it, in order.
    """

    def __init__(self, inserted: int) -> None:
        super().__init__(f"duplicate audit entry after {inserted} inserted")
        self.inserted = inserted


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    checkpoint: Checkpoint
    frontier: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class EntryFilter:
    """What an auditor asked for. Values are only ever compared, never used as field names."""

    dossier_id: str | None = None
    actor: str | None = None
    event_type: str | None = None
    occurred_from: str | None = None  # inclusive, ISO-8601 as iso_utc() writes it
    occurred_to: str | None = None  # exclusive


class AuditLog(Protocol):
    """The audit log's store: insert and find only; nothing stored is ever changed."""

    # ------------------------------------------------------------------ appending

    async def head(self, *, at_least: int = 0) -> ChainHead:
        """The last entry; ``at_least`` is a position known to be taken already."""
        ...

    async def recorded_event_ids(self, event_ids: Sequence[str]) -> set[str]: ...

    async def insert_entries(self, entries: Sequence[AuditEntry]) -> None:
        """Insert in order; raises `DuplicateEntry` at the first taken seq or event id."""
        ...

    # ------------------------------------------------------------------ reading

    async def find_entries(
        self, where: EntryFilter, *, after_seq: int, limit: int
    ) -> list[dict[str, Any]]:
        """Stored entries in seq order, as documents (a damaged one is shown, not hidden)."""
        ...

    def stream_entries(
        self, where: EntryFilter, *, after_seq: int, to_seq: int | None, batch: int
    ) -> AsyncIterator[dict[str, Any]]: ...

    async def leaf_entry_hashes(self, tree_size: int) -> list[str]:
        """``entry_hash`` at positions 1..tree_size, in log order."""
        ...

    async def entry_at(self, position: int) -> dict[str, Any] | None: ...

    async def find_issue(self, sha256: str) -> dict[str, Any] | None:
        """The first stored ``dossier.result-issued.v1`` entry whose document has this
        SHA-256, as a document; None when no entry records it."""
        ...

    def log_pages(
        self, *, after_position: int, batch: int
    ) -> AsyncGenerator[list[AuditEntry], None]:
        """Every entry after ``after_position`` in log (position) order, up to ``batch`` a
        page. Raises ``MalformedEntryError`` where a document is not an entry, once the
        entries before it are handed out."""
        ...

    # ------------------------------------------------------------------ checkpoints

    async def insert_checkpoint(self, checkpoint: Checkpoint, frontier: Iterable[bytes]) -> bool:
        """False when a checkpoint of that size is stored already."""
        ...

    async def latest_checkpoint(self, *, at_most: int | None = None) -> StoredCheckpoint | None:
        """Raises ``MalformedCheckpointError`` when the newest one is damaged."""
        ...

    async def checkpoint(self, tree_size: int) -> StoredCheckpoint | None: ...

    async def checkpoints(
        self, *, after_size: int, at_most: int | None = None, limit: int | None = None
    ) -> list[Checkpoint]: ...

    def checkpoint_documents(self, *, batch: int) -> AsyncIterator[dict[str, Any]]:
        """Stored checkpoints as signed, in tree-size order, without the frontier."""
        ...
