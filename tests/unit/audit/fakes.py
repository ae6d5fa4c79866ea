"""In-memory stand-ins for the audit service's ports, with the store's guarantees.

``FakeAuditLog`` keeps what MongoDB keeps for the audit service and enforces what the unique
indexes enforce: an entry's position (``seq``) and its ``event_id`` are taken once, and an
ordered insert stops at the first taken one with ``DuplicateEntry(inserted)``. Hooks let a
test put another replica's insert between a head read and an insert, or make the store
unreachable for a while.
"""

from __future__ import annotations

from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Sequence,
)
from typing import Any

from pydantic import ValidationError

from audit.domain.chain import AuditEntry, MalformedEntryError
from audit.domain.checkpoint import Checkpoint
from audit.domain.documents import ISSUE_EVENT_TYPE
from audit.domain.export import MalformedCheckpointError
from audit.domain.recording import ChainHead
from audit.service.ports import DuplicateEntry, EntryFilter, StoredCheckpoint


class StoreDown(ConnectionError):
    """The fake's "unreachable": what the recorder is told to wait out."""


def _matches(document: dict[str, Any], where: EntryFilter) -> bool:
    for field in ("dossier_id", "actor", "event_type"):
        wanted = getattr(where, field)
        if wanted is not None and document.get(field) != wanted:
            return False
    occurred = str(document.get("occurred_at"))
    if where.occurred_from is not None and occurred < where.occurred_from:
        return False
    return where.occurred_to is None or occurred < where.occurred_to


class FakeAuditLog:
    def __init__(self) -> None:
        # Position in the log -> the stored document (the entry's fields as sealed).
        self.documents: dict[int, dict[str, Any]] = {}
        self.checkpoint_documents_by_size: dict[int, dict[str, Any]] = {}
        # Run once, just before the next insert: another writer acting in between.
        self.before_insert: list[Callable[[], Awaitable[None]]] = []
        self.before_checkpoint_insert: list[Callable[[], Awaitable[None]]] = []
        # Calls left that fail as if the store were unreachable.
        self.outages = 0
        self.insert_calls = 0
        # Reads made before an insert (head, event id look-ups): round trips a batch costs.
        self.read_calls = 0

    # ------------------------------------------------------------------ test helpers

    def entries(self) -> list[AuditEntry]:
        return [AuditEntry.model_validate(self.documents[p]) for p in sorted(self.documents)]

    def put(self, entries: Iterable[AuditEntry]) -> None:
        for entry in entries:
            self.documents[entry.seq] = entry.model_dump(mode="json")

    def _reachable(self) -> None:
        if self.outages > 0:
            self.outages -= 1
            raise StoreDown("store unreachable")

    # ------------------------------------------------------------------ appending

    async def head(self, *, at_least: int = 0) -> ChainHead:
        self._reachable()
        self.read_calls += 1
        taken = [p for p in self.documents if p >= at_least]
        if not taken:
            return await self.head() if at_least > 0 else ChainHead()
        last = self.documents[max(taken)]
        return ChainHead(int(last["seq"]), str(last.get("entry_hash", "")))

    async def recorded_event_ids(self, event_ids: Sequence[str]) -> set[str]:
        self._reachable()
        self.read_calls += 1
        wanted = set(event_ids)
        return {str(d["event_id"]) for d in self.documents.values() if d.get("event_id") in wanted}

    async def insert_entries(self, entries: Sequence[AuditEntry]) -> None:
        # The hooks set by now; one may set another for the insert after this one.
        hooks, self.before_insert = self.before_insert, []
        for hook in hooks:
            await hook()
        self._reachable()
        self.insert_calls += 1
        recorded = {d.get("event_id") for d in self.documents.values()}
        for inserted, entry in enumerate(entries):
            if entry.seq in self.documents or entry.event_id in recorded:
                raise DuplicateEntry(inserted)
            self.documents[entry.seq] = entry.model_dump(mode="json")
            recorded.add(entry.event_id)

    # ------------------------------------------------------------------ reading

    def _selected(
        self, where: EntryFilter, after_seq: int, to_seq: int | None
    ) -> list[dict[str, Any]]:
        found = [
            dict(d)
            for d in self.documents.values()
            if _matches(d, where)
            and d["seq"] > after_seq
            and (to_seq is None or d["seq"] <= to_seq)
        ]
        return sorted(found, key=lambda d: d["seq"])

    async def find_entries(
        self, where: EntryFilter, *, after_seq: int, limit: int
    ) -> list[dict[str, Any]]:
        self._reachable()
        return self._selected(where, after_seq, None)[:limit]

    async def stream_entries(
        self, where: EntryFilter, *, after_seq: int, to_seq: int | None, batch: int
    ) -> AsyncIterator[dict[str, Any]]:
        for document in self._selected(where, after_seq, to_seq):
            yield document

    async def leaf_entry_hashes(self, tree_size: int) -> list[str]:
        positions = sorted(p for p in self.documents if 1 <= p <= tree_size)
        return [str(self.documents[p].get("entry_hash", "")) for p in positions]

    async def entry_at(self, position: int) -> dict[str, Any] | None:
        found = self.documents.get(position)
        return dict(found) if found is not None else None

    async def find_issue(self, sha256: str) -> dict[str, Any] | None:
        self._reachable()
        for position in sorted(self.documents):
            document = self.documents[position]
            payload = document.get("payload")
            if (
                document.get("event_type") == ISSUE_EVENT_TYPE
                and isinstance(payload, dict)
                and payload.get("sha256") == sha256
            ):
                return dict(document)
        return None

    async def log_pages(
        self, *, after_position: int, batch: int
    ) -> AsyncGenerator[list[AuditEntry], None]:
        page: list[AuditEntry] = []
        for position in sorted(p for p in self.documents if p > after_position):
            try:
                page.append(AuditEntry.model_validate(self.documents[position]))
            except ValidationError as exc:
                if page:
                    yield page
                raise MalformedEntryError(f"stored document at position {position}") from exc
            if len(page) == batch:
                yield page
                page = []
        if page:
            yield page

    # ------------------------------------------------------------------ checkpoints

    def _parsed(self, document: dict[str, Any]) -> StoredCheckpoint:
        try:
            fields = {k: document.get(k) for k in Checkpoint.model_fields}
            return StoredCheckpoint(
                Checkpoint.model_validate(fields),
                tuple(bytes.fromhex(h) for h in document.get("frontier") or ()),
            )
        except (ValidationError, ValueError, TypeError) as exc:
            raise MalformedCheckpointError(f"checkpoint {document.get('tree_size')}") from exc

    async def insert_checkpoint(self, checkpoint: Checkpoint, frontier: Iterable[bytes]) -> bool:
        hooks, self.before_checkpoint_insert = self.before_checkpoint_insert, []
        for hook in hooks:
            await hook()
        if checkpoint.tree_size in self.checkpoint_documents_by_size:
            return False
        self.checkpoint_documents_by_size[checkpoint.tree_size] = {
            **checkpoint.model_dump(mode="json"),
            "frontier": [h.hex() for h in frontier],
        }
        return True

    async def latest_checkpoint(self, *, at_most: int | None = None) -> StoredCheckpoint | None:
        sizes = [s for s in self.checkpoint_documents_by_size if at_most is None or s <= at_most]
        return self._parsed(self.checkpoint_documents_by_size[max(sizes)]) if sizes else None

    async def checkpoint(self, tree_size: int) -> StoredCheckpoint | None:
        found = self.checkpoint_documents_by_size.get(tree_size)
        return self._parsed(found) if found is not None else None

    async def checkpoints(
        self, *, after_size: int, at_most: int | None = None, limit: int | None = None
    ) -> list[Checkpoint]:
        sizes = sorted(
            s
            for s in self.checkpoint_documents_by_size
            if s > after_size and (at_most is None or s <= at_most)
        )
        chosen = sizes[:limit] if limit is not None else sizes
        return [self._parsed(self.checkpoint_documents_by_size[s]).checkpoint for s in chosen]

    async def checkpoint_documents(self, *, batch: int) -> AsyncIterator[dict[str, Any]]:
        for size in sorted(self.checkpoint_documents_by_size):
            document = dict(self.checkpoint_documents_by_size[size])
            document.pop("frontier", None)
            yield document
