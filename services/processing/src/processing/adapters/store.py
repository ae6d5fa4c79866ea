"""Processing's store. A dossier document carries its own outbox: a state change and the
events it emits are written in one single-document update, so no multi-document
transaction is needed.

MongoDB applies a conditional update atomically. FerretDB 1.x on SQLite applies it as
a read-modify-write of the whole document, so two updates of one dossier running at
once can both pass a version check, or one can undo the other (a relay pulling sent
events would put back the status it read). Every write of a dossier therefore goes
through one in-process lock per dossier: within a process the conditions hold on both
stores. With FerretDB run one processing replica; with MongoDB any number. FerretDB
also uses an index only for a filter on nothing but the id, so there the conditions are
checked here after a look-up by id (`chassis.mongo.GuardedWrites`) instead of scanning
the collection.

Every query here stays inside what FerretDB 1.x and MongoDB share: equality, range,
``$in``/``$ne``/``$or`` filters, ``$set``/``$push``/``$inc`` updates, and ``$group``
counting with ``$sum: 1``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from chassis.mongo import GuardedWrites
from processing.domain.dossier import (
    RUNNING_STATUSES,
    SCAN_FIELDS,
    Apology,
    Dossier,
    Outcome,
)
from processing.domain.statistics import OutcomeCount, OverdueCount
from processing.domain.workflow import DossierStatus

OutboxEntry = dict[str, Any]

# Another process may append between our read of an outbox and our rewrite of it.

_RUNNING = sorted(s.value for s in RUNNING_STATUSES)

# The scan needs the dossier, not what it carries along.
_SCAN_PROJECTION = {"outbox": 0, "notes": 0, "form": 0, "applied_events": 0, "history": 0}

# What the queue shows of each dossier; the form, history and outbox stay behind.
_QUEUE_FIELDS = {
    "receipt_code": 1,
    "procedure_code": 1,
    "procedure_name_vi": 1,
    "procedure_name_en": 1,
    "kind": 1,
    "status": 1,
    "version": 1,
    "submitted_at": 1,
    "due_date": 1,
    "apology": 1,
    "assignee": 1,
}


def to_document(value: Any) -> Any:
    """BSON has no date-only type: dates are kept as ISO strings, which sort and compare
    like the dates themselves; datetimes stay BSON dates."""
    if isinstance(value, dict):
        return {k: to_document(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_document(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    return value


def dossier_document(dossier: Dossier, *, exclude: Iterable[str] = ()) -> dict[str, Any]:
    dumped = dossier.model_dump(mode="python", by_alias=True, exclude=set(exclude))
    return to_document(dumped)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class QueueFilter:
    agency: str
    statuses: Sequence[DossierStatus]
    procedure_code: str | None = None
    due_on_or_before: date | None = None
    overdue_before: date | None = None
    assignee: str | None = None
    unassigned: bool = False


class DossierLocks:
    """One asyncio lock per dossier, created on demand and dropped when nobody holds or
    waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, dossier_ids: Iterable[str]) -> AsyncIterator[None]:
        # A fixed order keeps two holders of overlapping sets from deadlocking.
        keys = sorted(set(dossier_ids))
        registered: list[str] = []
        held: set[str] = set()
        try:
            for key in keys:
                lock, users = self._locks.get(key, (asyncio.Lock(), 0))
                self._locks[key] = (lock, users + 1)
                registered.append(key)
                await lock.acquire()
                held.add(key)
            yield
        finally:
            for key in reversed(registered):
                lock, users = self._locks[key]
                if key in held:
                    lock.release()
                if users <= 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class DossierStore:
    def __init__(
        self, db: AsyncIOMotorDatabase[Any], *, conditions_in_filter: bool | None = None
    ) -> None:
        """``conditions_in_filter`` None asks the store at start-up which way suits it."""
        self._db = db
        self._dossiers = db["dossiers"]
        self._locks = DossierLocks()
        self._conditions_chosen = conditions_in_filter
        self._guarded = GuardedWrites(self._dossiers)
        if conditions_in_filter is not None:
            self._guarded.check_here = not conditions_in_filter
        # FerretDB's SQLite answers concurrent writes to one database with "database is
        # locked" instead of queueing them; there this process's writes take turns.
        self._write_turns = asyncio.Lock()

    async def create_indexes(self) -> None:
        if self._conditions_chosen is None:
            # On FerretDB the per-dossier lock is what makes the conditions hold.
            await self._guarded.adapt(self._db)
        await self._dossiers.create_index("outbox_pending", sparse=True)
        # The officers' queue in its two orders, always within one agency.
        await self._dossiers.create_index(
            [("agency", ASCENDING), ("due_date", ASCENDING), ("_id", ASCENDING)]
        )
        await self._dossiers.create_index(
            [("agency", ASCENDING), ("submitted_at", ASCENDING), ("_id", ASCENDING)]
        )
        # The deadline scan and the statistics.
        await self._dossiers.create_index([("status", ASCENDING), ("due_date", ASCENDING)])
        await self._dossiers.create_index(
            [("received_on", ASCENDING), ("agency", ASCENDING), ("procedure_code", ASCENDING)]
        )

    @contextlib.asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        if not self._guarded.check_here:
            yield
            return
        async with self._write_turns:
            yield

    async def _update_if(
        self, dossier_id: str, condition: Mapping[str, Any], update: Mapping[str, Any]
    ) -> bool:
        """Apply ``update`` if the dossier meets ``condition``; the caller holds its lock."""
        async with self._turn():
            return await self._guarded.update_one(dossier_id, condition, update)

    # ----------------------------------------------------------------- writes

    async def insert(
        self,
        dossier: Dossier,
        outbox: Sequence[OutboxEntry],
        event_id: str,
        trace: Mapping[str, str] | None = None,
    ) -> bool:
        """Insert a dossier born from ``event_id``; False if it already exists.

        ``trace`` is the trace context of the submission, kept so that later work on the
        dossier (an officer's action) can link its own trace to it."""
        document = dossier_document(dossier) | {
            "applied_events": [event_id],
            "outbox": list(outbox),
            "outbox_seq": len(outbox),
            "outbox_pending": True,
            "notes": [],
            "trace": dict(trace or {}),
        }
        try:
            async with self._turn():
                await self._dossiers.insert_one(document)
        except DuplicateKeyError:
            return False
        return True

    async def commit(
        self,
        dossier: Dossier,
        expected_version: int,
        outbox: Sequence[OutboxEntry],
        event_id: str | None = None,
    ) -> bool:
        """Write a changed dossier and its events if nobody changed it since it was read
        (and, for an inbound event, if that event was not applied yet)."""
        condition: dict[str, Any] = {"version": expected_version}
        push: dict[str, Any] = {"outbox": {"$each": list(outbox)}}
        if event_id is not None:
            condition["applied_events"] = {"$ne": event_id}
            push["applied_events"] = event_id
        fields = dossier_document(dossier, exclude={"id", *SCAN_FIELDS})
        async with self._locks.hold([dossier.id]):
            return await self._update_if(
                dossier.id,
                condition,
                {
                    "$set": fields | {"outbox_pending": True},
                    "$push": push,
                    "$inc": {"outbox_seq": len(outbox)},
                },
            )

    async def mark_applied(self, dossier_id: str, event_id: str) -> None:
        """Remember an inbound event that changed nothing, so a redelivery is skipped too."""
        async with self._locks.hold([dossier_id]):
            await self._update_if(
                dossier_id,
                {"applied_events": {"$ne": event_id}},
                {"$push": {"applied_events": event_id}},
            )

    async def add_note(
        self, dossier_id: str, note: dict[str, Any], outbox: Sequence[OutboxEntry]
    ) -> bool:
        """Append a note to a dossier the caller has already found in their agency (a
        dossier never changes agency)."""
        # A note leaves the version alone: writing one must not make an officer's
        # pending decision fail its If-Match.
        async with self._locks.hold([dossier_id]), self._turn():
            result = await self._dossiers.update_one(
                {"_id": dossier_id},
                {
                    "$push": {"notes": to_document(note), "outbox": {"$each": list(outbox)}},
                    "$set": {"outbox_pending": True},
                    "$inc": {"outbox_seq": len(outbox)},
                },
            )
        return result.matched_count == 1

    async def flag_overdue(
        self, dossier_id: str, due_date: date, at: datetime, outbox: Sequence[OutboxEntry]
    ) -> bool:
        """Record the overdue event unless it was recorded already or the dossier moved on."""
        async with self._locks.hold([dossier_id]):
            return await self._update_if(
                dossier_id,
                {"overdue_at": None, "status": {"$in": _RUNNING}, "due_date": due_date.isoformat()},
                {
                    "$set": {"overdue_at": at, "outbox_pending": True},
                    "$push": {"outbox": {"$each": list(outbox)}},
                    "$inc": {"outbox_seq": len(outbox)},
                },
            )

    async def record_apology(
        self, dossier_id: str, apology: Apology, outbox: Sequence[OutboxEntry]
    ) -> bool:
        async with self._locks.hold([dossier_id]):
            return await self._update_if(
                dossier_id,
                {
                    "apology": None,
                    "status": {"$in": _RUNNING},
                    "due_date": apology.old_due_date.isoformat(),
                },
                {
                    "$set": {"apology": to_document(apology.model_dump()), "outbox_pending": True},
                    "$push": {"outbox": {"$each": list(outbox)}},
                    "$inc": {"outbox_seq": len(outbox)},
                },
            )

    # ----------------------------------------------------------------- reads

    async def get(self, dossier_id: str) -> Dossier | None:
        document = await self._dossiers.find_one({"_id": dossier_id}, {"outbox": 0, "notes": 0})
        return None if document is None else Dossier.model_validate(document)

    async def trace_context(self, dossier_id: str) -> dict[str, str]:
        """The trace context the dossier was created in; empty if none was kept."""
        found = await self._dossiers.find_one({"_id": dossier_id}, {"trace": 1})
        return dict((found or {}).get("trace") or {})

    async def applied(self, dossier_id: str, event_id: str) -> bool:
        found = await self._dossiers.find_one({"_id": dossier_id}, {"applied_events": 1})
        return found is not None and event_id in (found.get("applied_events") or [])

    async def get_for_agency(
        self, dossier_id: str, agency: str
    ) -> tuple[Dossier, list[dict[str, Any]]] | None:
        """The dossier with its notes, only if ``agency`` handles it."""
        # Looked up by id alone and the agency compared here: FerretDB uses its index only
        # for a filter on nothing but the id.
        document = await self._dossiers.find_one(
            {"_id": dossier_id}, {"outbox": 0, "applied_events": 0}
        )
        if document is None or document.get("agency") != agency:
            return None
        return Dossier.model_validate(document), list(document.get("notes") or [])

    async def queue(
        self,
        where: QueueFilter,
        sort_field: str,
        after: tuple[Any, str] | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """One page of the queue in (``sort_field``, id) order, after the ``after`` key."""
        query: dict[str, Any] = {
            "agency": where.agency,
            "status": {"$in": [s.value for s in where.statuses]},
        }
        if where.procedure_code:
            query["procedure_code"] = where.procedure_code
        due: dict[str, Any] = {}
        if where.due_on_or_before is not None:
            due["$lte"] = where.due_on_or_before.isoformat()
        if where.overdue_before is not None:
            due["$lt"] = where.overdue_before.isoformat()
        if due:
            query["due_date"] = due
        if where.assignee is not None:
            query["assignee"] = where.assignee
        elif where.unassigned:
            query["assignee"] = None
        if after is not None:
            value, last_id = after
            query["$or"] = [
                {sort_field: {"$gt": value}},
                {sort_field: value, "_id": {"$gt": last_id}},
            ]
        cursor = self._dossiers.find(query, _QUEUE_FIELDS).sort(
            [(sort_field, ASCENDING), ("_id", ASCENDING)]
        )
        return [document async for document in cursor.limit(limit)]

    async def overdue_candidates(self, today: date, limit: int = 500) -> list[Dossier]:
        cursor = self._dossiers.find(
            {
                "status": {"$in": _RUNNING},
                "due_date": {"$lt": today.isoformat()},
                "overdue_at": None,
            },
            _SCAN_PROJECTION,
            limit=limit,
        )
        return [Dossier.model_validate(document) async for document in cursor]

    async def apology_candidates(self, due_up_to: date, limit: int = 500) -> list[Dossier]:
        cursor = self._dossiers.find(
            {
                "status": {"$in": _RUNNING},
                "due_date": {"$lte": due_up_to.isoformat()},
                "apology": None,
            },
            _SCAN_PROJECTION,
            limit=limit,
        )
        return [Dossier.model_validate(document) async for document in cursor]

    async def outcome_counts(
        self,
        first: date,
        last: date,
        agency: str | None = None,
        procedure_code: str | None = None,
    ) -> list[OutcomeCount]:
        match = self._cohort(first, last, agency, procedure_code)
        pipeline = [
            {"$match": match},
            {
                "$group": {
                    "_id": {
                        "agency": "$agency",
                        "procedure_code": "$procedure_code",
                        "outcome": "$outcome",
                        "working_days": "$working_days_taken",
                    },
                    "count": {"$sum": 1},
                }
            },
        ]
        rows = []
        async for group in self._dossiers.aggregate(pipeline):
            key = group["_id"]
            rows.append(
                OutcomeCount(
                    agency=key["agency"],
                    procedure_code=key["procedure_code"],
                    outcome=Outcome(key["outcome"]),
                    working_days=key.get("working_days"),
                    count=int(group["count"]),
                )
            )
        return rows

    async def overdue_counts(
        self,
        first: date,
        last: date,
        today: date,
        agency: str | None = None,
        procedure_code: str | None = None,
    ) -> list[OverdueCount]:
        match = self._cohort(first, last, agency, procedure_code) | {
            "status": {"$in": _RUNNING},
            "due_date": {"$lt": today.isoformat()},
        }
        pipeline = [
            {"$match": match},
            {
                "$group": {
                    "_id": {"agency": "$agency", "procedure_code": "$procedure_code"},
                    "count": {"$sum": 1},
                }
            },
        ]
        return [
            OverdueCount(
                agency=group["_id"]["agency"],
                procedure_code=group["_id"]["procedure_code"],
                count=int(group["count"]),
            )
            async for group in self._dossiers.aggregate(pipeline)
        ]

    @staticmethod
    def _cohort(
        first: date, last: date, agency: str | None, procedure_code: str | None
    ) -> dict[str, Any]:
        match: dict[str, Any] = {
            "received_on": {"$gte": first.isoformat(), "$lte": last.isoformat()}
        }
        if agency:
            match["agency"] = agency
        if procedure_code:
            match["procedure_code"] = procedure_code
        return match

    # ----------------------------------------------------------------- outbox

    async def outboxes_of(self, dossier_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The outboxes of the named dossiers, read by id (the one lookup FerretDB does
        not answer by scanning the collection)."""
        found = await asyncio.gather(
            *(
                self._dossiers.find_one({"_id": dossier_id}, {"outbox": 1})
                for dossier_id in dossier_ids
            )
        )
        return [document for document in found if document and document.get("outbox")]

    async def pending_outboxes(self, limit: int = 200) -> list[dict[str, Any]]:
        cursor = self._dossiers.find({"outbox_pending": True}, {"outbox": 1}, limit=limit)
        return [doc async for doc in cursor]

    async def mark_published(self, published: Sequence[tuple[str, Sequence[str]]]) -> None:
        """Drop published entries from their dossiers' outboxes.

        Each outbox is rewritten without the sent entries, under the dossier's lock so
        no append of this process can slip in between; on MongoDB the filter also
        requires ``outbox_seq`` (which counts appends) to be the one read, so another
        replica's append is never erased: that rewrite is skipped and its entries are
        published again later, under the same event ids. ``$pull`` with a condition
        would be shorter, but FerretDB 1.x pulls only elements equal to the condition as
        a whole. One update per dossier, not one bulk write: FerretDB 1.24 on SQLite
        stalls on a bulk update of a hundred documents.
        """
        for dossier_id, event_ids in published:
            sent = set(event_ids)
            async with self._locks.hold([dossier_id]):
                document = await self._dossiers.find_one(
                    {"_id": dossier_id}, {"outbox": 1, "outbox_seq": 1}
                )
                if document is None:
                    continue
                remaining = [e for e in document.get("outbox") or [] if e["id"] not in sent]
                update: dict[str, Any] = {"$set": {"outbox": remaining}}
                if not remaining:
                    update["$unset"] = {"outbox_pending": ""}
                where: dict[str, Any] = {"_id": dossier_id}
                if not self._guarded.check_here:
                    where["outbox_seq"] = document.get("outbox_seq")
                async with self._turn():
                    await self._dossiers.update_one(where, update)
