"""Processing's store. A dossier document carries its own outbox: a state change and the
events it emits are written in one single-document update, so no multi-document
transaction is needed (none is used, and no change stream either).

Every conditional write puts its condition in the update's filter, where MongoDB (and
FerretDB 2 on PostgreSQL/DocumentDB locally) checks and applies it atomically. Every
query a hot path makes has an index (see ``create_indexes``); the integration tests
check each plan with ``explain``.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.errors import BulkWriteError

from chassis.events import DossierKind
from chassis.mongo import StoreDatabase
from processing.domain.dossier import (
    RUNNING_STATUSES,
    SCAN_FIELDS,
    Dossier,
    Outcome,
)
from processing.domain.statistics import OutcomeCount, OverdueCount
from processing.domain.workflow import DossierStatus
from processing.service.ports import (
    ClaimedOutbox,
    NewDossier,
    OutboxClaim,
    OutboxEntry,
    QueueFilter,
    QueueRow,
)

__all__ = [
    "ClaimedOutbox",
    "DossierStore",
    "NewDossier",
    "OutboxClaim",
    "OutboxEntry",
    "QueueFilter",
    "claimable_query",
    "outcome_pipeline",
    "overdue_pipeline",
    "overdue_query",
    "queue_order",
    "queue_query",
]

# The store's code for a write that would repeat a unique key (here: the dossier's id).
DUPLICATE_KEY = 11000

_RUNNING = sorted(s.value for s in RUNNING_STATUSES)

# The scan needs the dossier, not what it carries along.
_SCAN_PROJECTION = {
    "outbox": 0,
    "notes": 0,
    "form": 0,
    "applied_events": 0,
    "history": 0,
    "relay_lease": 0,
}

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


def new_dossier_document(new: NewDossier) -> dict[str, Any]:
    """A new dossier as stored: with the submission's event id, its outbox to send and
    the trace context it was created in."""
    return dossier_document(new.dossier) | {
        "applied_events": [new.event_id],
        "outbox": list(new.outbox),
        "outbox_seq": len(new.outbox),
        "outbox_pending": True,
        "notes": [],
        "trace": dict(new.trace),
    }


class DossierStore:
    """The `processing.service.ports.DossierStore` on MongoDB.

    Every write of a dossier is one ``update_one`` whose filter carries the condition
    it depends on (the version read, an inbound event not applied yet, a scan field still
    unset), so the store applies the check and the write atomically and any number of
    processing replicas can share the database."""

    def __init__(self, db: StoreDatabase) -> None:
        self._dossiers = db["dossiers"]

    async def create_indexes(self) -> None:
        # The relay's scan for pending outboxes; sparse, as a drained outbox unsets it.
        await self._dossiers.create_index("outbox_pending", sparse=True)
        # The officers' queue in its two orders, always within one agency; the keyset
        # page continues from (sort value, id).
        await self._dossiers.create_index(
            [("agency", ASCENDING), ("due_date", ASCENDING), ("_id", ASCENDING)]
        )
        await self._dossiers.create_index(
            [("agency", ASCENDING), ("submitted_at", ASCENDING), ("_id", ASCENDING)]
        )
        # The deadline scan and the overdue counts: running statuses due before a date.
        await self._dossiers.create_index([("status", ASCENDING), ("due_date", ASCENDING)])
        # The officers' search by receipt code, and by the applicant's keyed hashes (a
        # multikey index; sparse, as a dossier without them has nothing to find it by).
        await self._dossiers.create_index([("receipt_code", ASCENDING)])
        await self._dossiers.create_index(
            [("applicant_lookup", ASCENDING), ("agency", ASCENDING)], sparse=True
        )
        # The public statistics: a cohort by date of receipt.
        await self._dossiers.create_index(
            [("received_on", ASCENDING), ("agency", ASCENDING), ("procedure_code", ASCENDING)]
        )

    async def _update_if(
        self, dossier_id: str, condition: Mapping[str, Any], update: Mapping[str, Any]
    ) -> bool:
        result = await self._dossiers.update_one({"_id": dossier_id, **condition}, update)
        return result.matched_count == 1

    # ----------------------------------------------------------------- writes

    async def insert_many(self, dossiers: Sequence[NewDossier]) -> list[bool]:
        """Insert the dossiers in one unordered ``insert_many``; for each, False if it
        already exists (a duplicate ``_id``: its submission was received before).

        The submissions a consumer batch brings are opened together: each store command
        is a commit of its own (a PostgreSQL transaction under FerretDB), so one write
        for the whole batch rather than one per dossier. Unordered, so one duplicate
        does not stop the dossiers after it."""
        if not dossiers:
            return []
        documents = [new_dossier_document(new) for new in dossiers]
        created = [True] * len(documents)
        try:
            await self._dossiers.insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors") or []
            others = [e for e in errors if e.get("code") != DUPLICATE_KEY]
            if others or not errors:
                raise
            for error in errors:
                created[int(error["index"])] = False
        return created

    async def insert(
        self,
        dossier: Dossier,
        outbox: Sequence[OutboxEntry],
        event_id: str,
        trace: Mapping[str, str] | None = None,
    ) -> bool:
        """One dossier born from ``event_id``; False if it already exists."""
        new = NewDossier(dossier, outbox, event_id, dict(trace or {}))
        return (await self.insert_many([new]))[0]

    async def commit(
        self,
        dossier: Dossier,
        expected_version: int,
        outbox: Sequence[OutboxEntry],
        event_id: str | None = None,
        clear_overdue: bool = False,
    ) -> bool:
        """Write a changed dossier and its events if nobody changed it since it was read
        (and, for an inbound event, if that event was not applied yet)."""
        condition: dict[str, Any] = {"version": expected_version}
        push: dict[str, Any] = {"outbox": {"$each": list(outbox)}}
        if event_id is not None:
            condition["applied_events"] = {"$ne": event_id}
            push["applied_events"] = event_id
        # The issued result is written by its own announcement only (record_result),
        # which leaves the version alone: a command read before it must not erase it.
        fields = dossier_document(dossier, exclude={"id", "result_document", *SCAN_FIELDS})
        if clear_overdue:
            # A new due date: the scan may flag it again once it passes.
            fields["overdue_at"] = None
        return await self._update_if(
            dossier.id,
            condition,
            {
                "$set": fields | {"outbox_pending": True},
                "$push": push,
                "$inc": {"outbox_seq": len(outbox)},
            },
        )

    async def record_result(self, dossier_id: str, result: dict[str, Any]) -> bool:
        """The first issued result stays: intake issues one per dossier, and a
        redelivered announcement carries the same one."""
        if await self._update_if(
            dossier_id, {"result_document": None}, {"$set": {"result_document": result}}
        ):
            return True
        return await self._dossiers.find_one({"_id": dossier_id}, {"_id": 1}) is not None

    async def mark_applied(self, dossier_id: str, event_id: str) -> None:
        """Remember an inbound event that changed nothing, so a redelivery is skipped too."""
        await self._update_if(
            dossier_id,
            {"applied_events": {"$ne": event_id}},
            {"$push": {"applied_events": event_id}},
        )

    async def add_note(
        self,
        dossier_id: str,
        agency: str,
        note: dict[str, Any],
        outbox: Sequence[OutboxEntry],
        versions: Collection[int] | None = None,
    ) -> bool:
        """Append a note if the dossier is ``agency``'s and, when the caller named
        ``versions`` (If-Match), still at one of them."""
        condition: dict[str, Any] = {"agency": agency}
        if versions is not None:
            condition["version"] = {"$in": sorted(versions)}
        # A note leaves the version alone: writing one must not make an officer's
        # pending decision fail its If-Match.
        return await self._update_if(
            dossier_id,
            condition,
            {
                "$push": {"notes": to_document(note), "outbox": {"$each": list(outbox)}},
                "$set": {"outbox_pending": True},
                "$inc": {"outbox_seq": len(outbox)},
            },
        )

    async def flag_overdue(
        self, dossier_id: str, due_date: date, at: datetime, outbox: Sequence[OutboxEntry]
    ) -> bool:
        """Record the overdue event unless it was recorded already or the dossier moved on."""
        return await self._update_if(
            dossier_id,
            {"overdue_at": None, "status": {"$in": _RUNNING}, "due_date": due_date.isoformat()},
            {
                "$set": {"overdue_at": at, "outbox_pending": True},
                "$push": {"outbox": {"$each": list(outbox)}},
                "$inc": {"outbox_seq": len(outbox)},
            },
        )

    # ----------------------------------------------------------------- reads

    async def get(self, dossier_id: str) -> Dossier | None:
        document = await self._dossiers.find_one({"_id": dossier_id}, {"outbox": 0, "notes": 0})
        return None if document is None else Dossier.model_validate(document)

    async def get_for_event(self, dossier_id: str, event_id: str) -> tuple[Dossier, bool] | None:
        """The dossier and whether ``event_id`` was applied to it, in one read."""
        document = await self._dossiers.find_one({"_id": dossier_id}, {"outbox": 0, "notes": 0})
        if document is None:
            return None
        applied = event_id in (document.get("applied_events") or [])
        return Dossier.model_validate(document), applied

    async def get_for_agency(
        self, dossier_id: str, agency: str
    ) -> tuple[Dossier, list[dict[str, Any]]] | None:
        """The dossier with its notes, only if ``agency`` handles it."""
        document = await self._dossiers.find_one(
            {"_id": dossier_id, "agency": agency},
            {"outbox": 0, "applied_events": 0, "relay_lease": 0},
        )
        if document is None:
            return None
        return Dossier.model_validate(document), list(document.get("notes") or [])

    async def get_for_officer(
        self, dossier_id: str, agency: str
    ) -> tuple[Dossier, dict[str, str]] | None:
        """The dossier with the trace context it was created in, only if ``agency``
        handles it: what an officer's action reads, in one read."""
        document = await self._dossiers.find_one(
            {"_id": dossier_id, "agency": agency},
            {"outbox": 0, "notes": 0, "applied_events": 0, "relay_lease": 0},
        )
        if document is None:
            return None
        return Dossier.model_validate(document), dict(document.get("trace") or {})

    async def queue(
        self,
        where: QueueFilter,
        sort_field: str,
        after: tuple[Any, str] | None,
        limit: int,
    ) -> list[QueueRow]:
        """One page of the queue in (``sort_field``, id) order, after the ``after`` key."""
        cursor = self._dossiers.find(queue_query(where, sort_field, after), _QUEUE_FIELDS)
        cursor = cursor.sort(queue_order(sort_field)).limit(limit)
        return [queue_row(document) async for document in cursor]

    async def overdue_candidates(self, today: date, limit: int = 500) -> list[Dossier]:
        cursor = self._dossiers.find(overdue_query(today), _SCAN_PROJECTION, limit=limit)
        return [Dossier.model_validate(document) async for document in cursor]

    async def outcome_counts(
        self,
        first: date,
        last: date,
        agency: str | None = None,
        procedure_code: str | None = None,
    ) -> list[OutcomeCount]:
        pipeline = outcome_pipeline(first, last, agency, procedure_code)
        return [
            OutcomeCount(
                agency=group["_id"]["agency"],
                procedure_code=group["_id"]["procedure_code"],
                outcome=Outcome(group["_id"]["outcome"]),
                count=int(group["count"]),
                working_days=int(group["working_days"] or 0),
            )
            async for group in await self._dossiers.aggregate(pipeline)
        ]

    async def overdue_counts(
        self,
        first: date,
        last: date,
        today: date,
        agency: str | None = None,
        procedure_code: str | None = None,
    ) -> list[OverdueCount]:
        pipeline = overdue_pipeline(first, last, today, agency, procedure_code)
        return [
            OverdueCount(
                agency=group["_id"]["agency"],
                procedure_code=group["_id"]["procedure_code"],
                count=int(group["count"]),
            )
            async for group in await self._dossiers.aggregate(pipeline)
        ]

    # ----------------------------------------------------------------- outbox

    async def pending_outboxes(self, limit: int) -> list[str]:
        """Ids of dossiers whose outbox holds events and no relay holds a live lease on."""
        cursor = self._dossiers.find(claimable_query(datetime.now(UTC)), {"_id": 1}, limit=limit)
        return [document["_id"] async for document in cursor]

    async def claim_outboxes(self, dossier_ids: Sequence[str], lease_s: float) -> OutboxClaim:
        """Lease the pending outboxes of the named dossiers to one relay pass.

        One ``update_many`` sets the lease on every named dossier that is pending and not
        leased (or whose lease ran out), so of two relays only one gets each dossier;
        one read by id then brings the outboxes this pass now holds."""
        claim = OutboxClaim(token=uuid.uuid4().hex)
        if not dossier_ids:
            return claim
        now = datetime.now(UTC)
        await self._dossiers.update_many(
            {"_id": {"$in": list(dossier_ids)}, **claimable_query(now)},
            {
                "$set": {
                    "relay_lease": {"token": claim.token, "until": now + timedelta(seconds=lease_s)}
                }
            },
        )
        cursor = self._dossiers.find(
            {"_id": {"$in": list(dossier_ids)}},
            {"outbox": 1, "outbox_seq": 1, "outbox_pending": 1, "relay_lease": 1},
        )
        async for document in cursor:
            lease = document.get("relay_lease") or {}
            if lease.get("token") == claim.token:
                claim.outboxes.append(
                    ClaimedOutbox(
                        dossier_id=document["_id"],
                        entries=list(document.get("outbox") or []),
                        seq=int(document.get("outbox_seq") or 0),
                    )
                )
            elif document.get("outbox_pending"):
                claim.busy.append(document["_id"])
        return claim

    async def mark_published(self, claim: OutboxClaim) -> None:
        """Drop the claimed entries, all sent, from their outboxes and end the lease, in
        one bulk write.

        For each dossier the first update empties the outbox if nothing was appended
        since the claim (``outbox_seq`` unchanged) and clears ``outbox_pending``; if
        something was, the second pulls only the sent entries and leaves the dossier
        pending. Both require the lease still to be this pass's: a pass that outlived
        its lease leaves the entries to the relay that took over."""
        requests: list[UpdateOne] = []
        for outbox in claim.outboxes:
            held = {"_id": outbox.dossier_id, "relay_lease.token": claim.token}
            requests.append(
                UpdateOne(
                    held | {"outbox_seq": outbox.seq},
                    {"$set": {"outbox": []}, "$unset": {"outbox_pending": "", "relay_lease": ""}},
                )
            )
            requests.append(
                UpdateOne(
                    held,
                    {
                        "$pull": {"outbox": {"id": {"$in": [e["id"] for e in outbox.entries]}}},
                        "$unset": {"relay_lease": ""},
                    },
                )
            )
        if requests:
            # Ordered: the second update of a dossier must see the first's outcome.
            await self._dossiers.bulk_write(requests, ordered=True)

    async def release(self, claim: OutboxClaim) -> None:
        """Give the claimed outboxes back unsent, so any relay may take them at once."""
        if claim.outboxes:
            await self._dossiers.update_many(
                {
                    "_id": {"$in": [o.dossier_id for o in claim.outboxes]},
                    "relay_lease.token": claim.token,
                },
                {"$unset": {"relay_lease": ""}},
            )


def queue_row(document: Mapping[str, Any]) -> QueueRow:
    apology = document.get("apology") or {}
    new_due = apology.get("new_due_date")
    return QueueRow(
        dossier_id=document["_id"],
        receipt_code=document["receipt_code"],
        procedure_code=document["procedure_code"],
        procedure_name_vi=document["procedure_name_vi"],
        procedure_name_en=document["procedure_name_en"],
        kind=DossierKind(document["kind"]),
        status=DossierStatus(document["status"]),
        version=document["version"],
        submitted_at=document["submitted_at"],
        due_date=date.fromisoformat(document["due_date"]),
        new_due_date=date.fromisoformat(new_due) if new_due else None,
        assignee=document.get("assignee"),
    )


def claimable_query(now: datetime) -> dict[str, Any]:
    """Pending outboxes no relay holds a live lease on."""
    return {
        "outbox_pending": True,
        "$or": [{"relay_lease": None}, {"relay_lease.until": {"$lte": now}}],
    }


# The queries of the hot paths, built apart from their execution so that the tests can
# ask the store to explain exactly these.


def queue_query(
    where: QueueFilter, sort_field: str, after: tuple[Any, str] | None
) -> dict[str, Any]:
    query: dict[str, Any] = {
        "agency": where.agency,
        "status": {"$in": [s.value for s in where.statuses]},
    }
    if where.procedure_code:
        query["procedure_code"] = where.procedure_code
    if where.receipt_code:
        query["receipt_code"] = where.receipt_code
    received: dict[str, Any] = {}
    if where.received_from is not None:
        received["$gte"] = where.received_from.isoformat()
    if where.received_to is not None:
        received["$lte"] = where.received_to.isoformat()
    if received:
        query["received_on"] = received
    if where.applicant_lookup:
        query["applicant_lookup"] = {"$all": list(where.applicant_lookup)}
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
    return query


def queue_order(sort_field: str) -> list[tuple[str, int]]:
    return [(sort_field, ASCENDING), ("_id", ASCENDING)]


def overdue_query(today: date) -> dict[str, Any]:
    return {
        "status": {"$in": _RUNNING},
        "due_date": {"$lt": today.isoformat()},
        "overdue_at": None,
    }


def _cohort(
    first: date, last: date, agency: str | None, procedure_code: str | None
) -> dict[str, Any]:
    match: dict[str, Any] = {"received_on": {"$gte": first.isoformat(), "$lte": last.isoformat()}}
    if agency:
        match["agency"] = agency
    if procedure_code:
        match["procedure_code"] = procedure_code
    return match


def outcome_pipeline(
    first: date, last: date, agency: str | None, procedure_code: str | None
) -> list[dict[str, Any]]:
    return [
        {"$match": _cohort(first, last, agency, procedure_code)},
        {
            "$group": {
                "_id": {
                    "agency": "$agency",
                    "procedure_code": "$procedure_code",
                    "outcome": "$outcome",
                },
                "count": {"$sum": 1},
                # A dossier still in progress has taken none; $sum skips the nulls.
                "working_days": {"$sum": "$working_days_taken"},
            }
        },
    ]


def overdue_pipeline(
    first: date, last: date, today: date, agency: str | None, procedure_code: str | None
) -> list[dict[str, Any]]:
    match = _cohort(first, last, agency, procedure_code) | {
        "status": {"$in": _RUNNING},
        "due_date": {"$lt": today.isoformat()},
    }
    return [
        {"$match": match},
        {
            "$group": {
                "_id": {"agency": "$agency", "procedure_code": "$procedure_code"},
                "count": {"$sum": 1},
            }
        },
    ]
