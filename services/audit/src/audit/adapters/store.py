"""The audit log's store: insert and find only. There is no code path that changes or removes
a stored document; in production the database role (deploy/mongo-init/01-users.js) refuses it
as well.

Layout
------
``audit_entries``: one document per audit entry, the fields of ``AuditEntry`` exactly as
sealed, plus ``_id`` = the entry's position in the log, written once as its ``seq``. Reads
that prove the log (verification, checkpoints, proofs) walk the log by ``_id``, so an entry
whose ``seq`` was altered afterwards shows up out of place instead of silently moving.

The unique indexes are what lets several appenders share the one chain: ``seq`` (and ``_id``)
is the fence, so of two writers sealing entry N only the first insert lands and the other
gets a duplicate key; ``event_id`` makes an event recorded once for good. Every query of a
hot path is served by an index (``INDEXES``; ``tests/integration/audit/test_audit_indexes.py``
checks each plan).

``checkpoints``: one document per signed checkpoint, ``_id`` = its tree size, with the Merkle
frontier at that size (hex) so the next checkpoint resumes without re-reading the log.

Plain MongoDB: no transactions, no change streams (the local store, FerretDB 2 on
PostgreSQL with DocumentDB, has neither; production runs MongoDB).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence
from typing import Any

from pydantic import ValidationError
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import BulkWriteError, DuplicateKeyError

from audit.domain.chain import AuditEntry, MalformedEntryError
from audit.domain.checkpoint import Checkpoint
from audit.domain.documents import ISSUE_EVENT_TYPE
from audit.domain.export import MalformedCheckpointError
from audit.domain.recording import ChainHead
from audit.service.ports import DuplicateEntry, EntryFilter, StoredCheckpoint
from chassis.mongo import StoreCursor, StoreDatabase

__all__ = ["CHECKPOINTS", "ENTRIES", "INDEXES", "AuditStore", "entry_query"]

ENTRIES = "audit_entries"
CHECKPOINTS = "checkpoints"
_DUPLICATE_KEY = 11000
_HEAD_FIELDS = {"seq": 1, "entry_hash": 1}
_CHECKPOINT_FIELDS = tuple(Checkpoint.model_fields)


# Secondary indexes of ``audit_entries``: the two fences, then one per query path with seq
# last, so each path reads its matches in log order. Names as existing databases have them
# (None: the server's default name), since re-creating an index under another name fails.
INDEXES: tuple[tuple[str | None, list[tuple[str, int]], bool], ...] = (
    ("seq_unique", [("seq", ASCENDING)], True),
    ("event_id_unique", [("event_id", ASCENDING)], True),
    (None, [("dossier_id", ASCENDING), ("seq", ASCENDING)], False),
    (None, [("actor", ASCENDING), ("seq", ASCENDING)], False),
    (None, [("event_type", ASCENDING), ("seq", ASCENDING)], False),
    (None, [("occurred_at", ASCENDING), ("seq", ASCENDING)], False),
    # A document's entries by its SHA-256: the issue a verifier looks up (and the reads
    # of one document). Only result-issued and document-read events carry the field.
    (None, [("payload.sha256", ASCENDING), ("seq", ASCENDING)], False),
)


def entry_query(
    where: EntryFilter, after_seq: int = 0, to_seq: int | None = None
) -> dict[str, Any]:
    """The query an auditor's filter becomes: only the fields asked for, compared as values."""
    query: dict[str, Any] = {}
    for field in ("dossier_id", "actor", "event_type"):
        value = getattr(where, field)
        if value is not None:
            query[field] = value
    # Timestamps are stored as fixed-width UTC strings, so text order is time order.
    occurred: dict[str, str] = {}
    if where.occurred_from is not None:
        occurred["$gte"] = where.occurred_from
    if where.occurred_to is not None:
        occurred["$lt"] = where.occurred_to
    if occurred:
        query["occurred_at"] = occurred
    # With a field to match, that field's index selects and seq only orders: a seq bound
    # that excludes nothing (after_seq 0) would only widen the index range read. Without
    # one, the keyset bound is what the seq index serves.
    seq: dict[str, int] = {}
    if after_seq > 0 or not query:
        seq["$gt"] = after_seq
    if to_seq is not None:
        seq["$lte"] = to_seq
    if seq:
        query["seq"] = seq
    return query


def _entry_document(entry: AuditEntry) -> dict[str, Any]:
    return {"_id": entry.seq, **entry.model_dump(mode="json")}


def _stored_fields(document: dict[str, Any]) -> dict[str, Any]:
    document.pop("_id", None)
    return document


def _parse_entry(document: dict[str, Any]) -> AuditEntry:
    position = document.get("_id")
    try:
        return AuditEntry.model_validate(_stored_fields(document))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "document"
        raise MalformedEntryError(
            f"stored document at position {position}: {where}: {first['msg']}"
        ) from exc


def _parse_checkpoint(document: dict[str, Any]) -> StoredCheckpoint:
    try:
        checkpoint = Checkpoint.model_validate({k: document.get(k) for k in _CHECKPOINT_FIELDS})
        frontier = tuple(bytes.fromhex(h) for h in document.get("frontier") or ())
    except (ValidationError, ValueError, TypeError) as exc:
        raise MalformedCheckpointError(
            f"stored checkpoint {document.get('_id')!r} is not a checkpoint: {exc}"
        ) from exc
    return StoredCheckpoint(checkpoint, frontier)


class AuditStore:
    """The ``AuditLog`` port on MongoDB."""

    def __init__(self, db: StoreDatabase) -> None:
        self._entries = db[ENTRIES]
        self._checkpoints = db[CHECKPOINTS]

    @property
    def database_name(self) -> str:
        return str(self._entries.database.name)

    async def create_indexes(self) -> None:
        for name, keys, unique in INDEXES:
            options: dict[str, Any] = {"unique": True} if unique else {}
            if name is not None:
                options["name"] = name
            await self._entries.create_index(keys, **options)

    # ------------------------------------------------------------------ appending

    def head_cursor(self, at_least: int = 0) -> StoreCursor:
        # By `_id` (= seq): the primary key serves the descending walk on both stores,
        # where DocumentDB would sort the whole `seq` range first (0.4 ms against 39 ms at
        # 100,000 entries, side by side).
        return (
            self._entries.find({"_id": {"$gte": at_least}}, _HEAD_FIELDS)
            .sort("_id", DESCENDING)
            .limit(1)
        )

    async def head(self, *, at_least: int = 0) -> ChainHead:
        """The last entry of the log: the highest position in the primary key.

        ``at_least`` is a position known to be taken (the head as last seen: entries are
        never removed), so the index is read from there on instead of from the start.
        """
        async for document in self.head_cursor(at_least):
            return ChainHead(int(document["seq"]), str(document.get("entry_hash", "")))
        if at_least > 0:
            # The known position is gone (the store was tampered with or reset): the head
            # is still whatever is there; verification reports the rest.
            return await self.head()
        return ChainHead()

    def recorded_cursor(self, event_ids: Sequence[str]) -> StoreCursor:
        # At most one entry per event id: asking for that many in the first batch keeps a
        # look-up of a large batch one round trip (the server's default first batch is 101).
        wanted = sorted(set(event_ids))
        return (
            self._entries.find({"event_id": {"$in": wanted}}, {"event_id": 1})
            .limit(len(wanted))
            .batch_size(len(wanted))
        )

    async def recorded_event_ids(self, event_ids: Sequence[str]) -> set[str]:
        """Which of ``event_ids`` have an entry: one look-up in the event id index."""
        if not event_ids:
            return set()
        return {str(doc.get("event_id")) async for doc in self.recorded_cursor(event_ids)}

    async def insert_entries(self, entries: Sequence[AuditEntry]) -> None:
        """Insert a sealed run in order; stops at the first duplicate (see `DuplicateEntry`),
        so what lands is always a prefix of the run and the chain never gets a gap."""
        if not entries:
            return
        try:
            await self._entries.insert_many([_entry_document(e) for e in entries], ordered=True)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors") or []
            if errors and errors[0].get("code") == _DUPLICATE_KEY:
                raise DuplicateEntry(int(exc.details.get("nInserted", errors[0]["index"]))) from exc
            raise
        except DuplicateKeyError as exc:
            raise DuplicateEntry(0) from exc

    # ------------------------------------------------------------------ querying

    def entries_cursor(self, where: EntryFilter, *, after_seq: int, limit: int) -> StoreCursor:
        return self._entries.find(entry_query(where, after_seq)).sort("seq", ASCENDING).limit(limit)

    async def find_entries(
        self, where: EntryFilter, *, after_seq: int, limit: int
    ) -> list[dict[str, Any]]:
        """Stored entries in seq order, as documents: a damaged one is shown, not hidden.
        A dossier's trail is the same query with only ``dossier_id`` set."""
        cursor = self.entries_cursor(where, after_seq=after_seq, limit=limit)
        return [_stored_fields(doc) async for doc in cursor]

    async def stream_entries(
        self, where: EntryFilter, *, after_seq: int, to_seq: int | None, batch: int
    ) -> AsyncIterator[dict[str, Any]]:
        cursor = (
            self._entries.find(entry_query(where, after_seq, to_seq))
            .sort("seq", ASCENDING)
            .batch_size(batch)
        )
        async for document in cursor:
            yield _stored_fields(document)

    async def leaf_entry_hashes(self, tree_size: int) -> list[str]:
        """``entry_hash`` of the entries at positions 1..tree_size, in log order."""
        cursor = (
            self._entries.find({"_id": {"$gte": 1, "$lte": tree_size}}, {"entry_hash": 1})
            .sort("_id", ASCENDING)
            .batch_size(10_000)
        )
        return [str(doc.get("entry_hash", "")) async for doc in cursor]

    async def entry_at(self, position: int) -> dict[str, Any] | None:
        document = await self._entries.find_one({"_id": position})
        return _stored_fields(document) if document is not None else None

    def issue_cursor(self, sha256: str) -> StoreCursor:
        query = {"payload.sha256": sha256, "event_type": ISSUE_EVENT_TYPE}
        return self._entries.find(query).sort("seq", ASCENDING).limit(1)

    async def find_issue(self, sha256: str) -> dict[str, Any] | None:
        """The first entry recording the issue of the document with ``sha256``."""
        async for document in self.issue_cursor(sha256):
            return _stored_fields(document)
        return None

    async def log_pages(
        self, *, after_position: int, batch: int
    ) -> AsyncGenerator[list[AuditEntry], None]:
        """Every stored document after ``after_position`` in log order, parsed as entries,
        ``batch`` (one round trip) per page.

        Documents whose position is not a number come last, so an entry slipped in beside
        the numbering is still read. A document that is not an entry raises
        `MalformedEntryError` where it occurs: the entries before it in its page are
        handed out first.
        """
        cursor = (
            self._entries.find({"_id": {"$not": {"$lte": after_position}}})
            .sort("_id", ASCENDING)
            .batch_size(batch)
        )
        async with cursor:
            while documents := await cursor.to_list(batch):
                page: list[AuditEntry] = []
                unreadable: MalformedEntryError | None = None
                try:
                    for document in documents:
                        page.append(_parse_entry(document))
                except MalformedEntryError as exc:
                    unreadable = exc
                if page:
                    yield page
                if unreadable is not None:
                    raise unreadable

    async def count_entries(self) -> int:
        return await self._entries.count_documents({})

    # ------------------------------------------------------------------ checkpoints

    async def insert_checkpoint(self, checkpoint: Checkpoint, frontier: Iterable[bytes]) -> bool:
        """Store a checkpoint; False when one of that size exists already (another writer)."""
        document = {
            "_id": checkpoint.tree_size,
            **checkpoint.model_dump(mode="json"),
            "frontier": [h.hex() for h in frontier],
        }
        try:
            await self._checkpoints.insert_one(document)
        except DuplicateKeyError:
            return False
        return True

    async def latest_checkpoint(self, *, at_most: int | None = None) -> StoredCheckpoint | None:
        query: dict[str, Any] = {"_id": {"$gte": 0}}
        if at_most is not None:
            query["_id"]["$lte"] = at_most
        document = await self._checkpoints.find_one(query, sort=[("_id", DESCENDING)])
        return _parse_checkpoint(document) if document is not None else None

    async def checkpoint(self, tree_size: int) -> StoredCheckpoint | None:
        document = await self._checkpoints.find_one({"_id": tree_size})
        return _parse_checkpoint(document) if document is not None else None

    async def checkpoints(
        self, *, after_size: int, at_most: int | None = None, limit: int | None = None
    ) -> list[Checkpoint]:
        """Checkpoints by tree size; raises `MalformedCheckpointError` for a damaged one."""
        bounds: dict[str, int] = {"$gt": after_size}
        if at_most is not None:
            bounds["$lte"] = at_most
        cursor = self._checkpoints.find({"_id": bounds}).sort("_id", ASCENDING)
        if limit is not None:
            cursor = cursor.limit(limit)
        return [_parse_checkpoint(doc).checkpoint async for doc in cursor]

    async def checkpoint_documents(self, *, batch: int) -> AsyncIterator[dict[str, Any]]:
        """Stored checkpoints as signed, in tree-size order, without the frontier: the
        export form. A damaged one is passed on as it is for the offline verifier to judge."""
        cursor = (
            self._checkpoints.find({}, {"frontier": 0}).sort("_id", ASCENDING).batch_size(batch)
        )
        async for document in cursor:
            yield _stored_fields(document)
