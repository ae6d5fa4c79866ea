"""The delivery log: one document per (event, channel, recipient), written before sending.

Exclusivity rests on two MongoDB promises, so any number of replicas can share the log:

* the delivery's ``_id`` is its delivery key, so inserting it claims it: a redelivered
  event's insert meets the existing id and nothing more is done for it;
* every later change is one atomic ``find_one_and_update``/``update_one`` addressed by
  the id with the expected state in the filter ("``retry_scheduled``, attempt 2, due",
  "``sending``, attempt 3"). Of several callers racing for the same attempt exactly one
  matches; the others get nothing back and neither write nor send.

An outcome is recorded only for the attempt number it belongs to, so a process that was
presumed dead cannot overwrite a newer attempt. The rendered message is part of the
delivery, so claiming an attempt returns what is to be sent in the same round trip.

Every query the service makes on its hot path is served by one of the indexes made in
``create_indexes`` (checked with ``explain`` by the integration tests). No transactions
and no change streams are used.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from motor.motor_asyncio import (
    AsyncIOMotorCollection,
    AsyncIOMotorCursor,
    AsyncIOMotorDatabase,
)
from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError

from notification.domain.retry import CLAIMABLE, UNPUBLISHED, DeliveryStatus, published
from notification.service.ports import Due, Page, Position

__all__ = ["DUPLICATE_KEY", "DeliveryStore"]

DUPLICATE_KEY = 11000
# Listing sorts newest first; _id breaks ties between deliveries of one event.
_LIST_ORDER = [("created_at", DESCENDING), ("_id", DESCENDING)]
# What the operator API and the outcome events need; the rendered message is read only
# by whoever makes an attempt.
_WITHOUT_CONTENT = {"content": 0}
_ONE_MS = timedelta(milliseconds=1)


def _states(states: Iterable[DeliveryStatus]) -> list[str]:
    return [s.value for s in states]


# The filters of the hot path, shared by the queries and by `query_plans`.


def _due(now: datetime) -> dict[str, Any]:
    return {"status": {"$in": _states(CLAIMABLE)}, "next_attempt_at": {"$lte": now}}


def _stale(now: datetime) -> dict[str, Any]:
    return {"status": DeliveryStatus.SENDING.value, "lease_until": {"$lte": now}}


def _unpublished(now: datetime) -> dict[str, Any]:
    return {"status": {"$in": _states(UNPUBLISHED)}, "publish_at": {"$lte": now}}


def _attempt_due(delivery_id: str, attempts: int, now: datetime) -> dict[str, Any]:
    return {"_id": delivery_id, "attempts": attempts, **_due(now)}


def _attempt_abandoned(delivery_id: str, attempts: int, now: datetime) -> dict[str, Any]:
    return {"_id": delivery_id, "attempts": attempts, **_stale(now)}


def _attempt_under_way(delivery_id: str, attempts: int) -> dict[str, Any]:
    return {"_id": delivery_id, "status": DeliveryStatus.SENDING.value, "attempts": attempts}


def _listing(
    dossier_id: str | None,
    status: str | None,
    channel: str | None,
    after: Position | None,
) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if dossier_id is not None:
        query["dossier_id"] = dossier_id
    if status is not None:
        query["status"] = status
    if channel is not None:
        query["channel"] = channel
    if after is not None:
        created_at, last_id = after
        query["$or"] = [
            {"created_at": {"$lt": created_at}},
            {"created_at": created_at, "_id": {"$lt": last_id}},
        ]
    return query


class DeliveryStore:
    """The delivery log (`notification.service.ports.DeliveryLog`) on MongoDB."""

    def __init__(self, db: AsyncIOMotorDatabase[Any]) -> None:
        self._deliveries: AsyncIOMotorCollection[Any] = db["deliveries"]

    async def create_indexes(self) -> None:
        d = self._deliveries
        # The retry worker, every poll: attempts due, leases run out, outcomes whose
        # event was not acknowledged in time.
        await d.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
        await d.create_index([("status", ASCENDING), ("lease_until", ASCENDING)])
        await d.create_index([("status", ASCENDING), ("publish_at", ASCENDING)])
        # The operators' listing: everything, one dossier's, or one status's (failed).
        await d.create_index(_LIST_ORDER)
        await d.create_index([("dossier_id", ASCENDING), *_LIST_ORDER])
        await d.create_index([("status", ASCENDING), *_LIST_ORDER])

    # ------------------------------------------------------------------ claiming

    async def insert_new(self, documents: Sequence[dict[str, Any]]) -> set[str]:
        """Claim deliveries (each carrying its rendered ``content``); returns the ids this
        call created. An id that exists already was claimed before (a redelivered event)
        and is left to whoever holds it."""
        if not documents:
            return set()
        wanted = [doc["_id"] for doc in documents]
        try:
            # Unordered: a duplicate does not keep the deliveries after it from being made.
            await self._deliveries.insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(err.get("code") != DUPLICATE_KEY for err in errors):
                raise
            existing = {wanted[err["index"]] for err in errors}
            return {i for i in wanted if i not in existing}
        return set(wanted)

    async def start_attempt(
        self, delivery_id: str, attempts: int, *, now: datetime, lease_s: float
    ) -> dict[str, Any] | None:
        """A due ``pending``/``retry_scheduled`` delivery that has had ``attempts``
        attempts → ``sending`` as the next one, if this caller wins it."""
        return await self._next_attempt(
            _attempt_due(delivery_id, attempts, now), now=now, lease_s=lease_s
        )

    async def retake_stale(
        self, delivery_id: str, attempts: int, *, now: datetime, lease_s: float
    ) -> dict[str, Any] | None:
        """A 'sending' delivery whose lease ran out (its process died) → the next attempt."""
        return await self._next_attempt(
            _attempt_abandoned(delivery_id, attempts, now), now=now, lease_s=lease_s
        )

    async def _next_attempt(
        self, where: dict[str, Any], *, now: datetime, lease_s: float
    ) -> dict[str, Any] | None:
        document: dict[str, Any] | None = await self._deliveries.find_one_and_update(
            where,
            {
                "$set": {
                    "status": DeliveryStatus.SENDING.value,
                    "lease_until": now + timedelta(seconds=lease_s),
                    "next_attempt_at": None,
                    "updated_at": now,
                },
                "$inc": {"attempts": 1},
            },
            return_document=ReturnDocument.AFTER,
        )
        return document

    async def finish_attempt(
        self,
        delivery: dict[str, Any],
        attempt: int,
        *,
        fields: dict[str, Any],
        history: dict[str, Any],
    ) -> dict[str, Any] | None:
        """Record the outcome of attempt number ``attempt``, unless a newer one started.
        Returns the delivery as recorded (``delivery`` with the change applied)."""
        result = await self._deliveries.update_one(
            _attempt_under_way(delivery["_id"], attempt),
            {"$set": {**fields, "lease_until": None}, "$push": {"history": history}},
        )
        if result.matched_count != 1:
            return None
        return {
            **delivery,
            **fields,
            "lease_until": None,
            "history": [*delivery.get("history", []), history],
        }

    async def give_up_stale(
        self,
        delivery_id: str,
        attempts: int,
        *,
        now: datetime,
        fields: dict[str, Any],
        history: dict[str, Any],
    ) -> dict[str, Any] | None:
        """Fail a 'sending' delivery whose lease ran out, if this caller wins doing so."""
        document: dict[str, Any] | None = await self._deliveries.find_one_and_update(
            _attempt_abandoned(delivery_id, attempts, now),
            {"$set": {**fields, "lease_until": None}, "$push": {"history": history}},
            projection=_WITHOUT_CONTENT,
            return_document=ReturnDocument.AFTER,
        )
        return document

    async def mark_published(self, documents: Iterable[dict[str, Any]], now: datetime) -> None:
        """``*_unpublished`` → final, for outcomes whose event the broker acknowledged.

        While a delivery is ``*_unpublished`` its outcome cannot change (only a failed,
        published delivery can be resent), so matching on the status is enough.
        """
        writes = [
            UpdateOne(
                {"_id": document["_id"], "status": document["status"]},
                {
                    "$set": {
                        "status": published(DeliveryStatus(document["status"])).value,
                        "published_at": now,
                        "publish_at": None,
                    }
                },
            )
            for document in documents
        ]
        if writes:
            await self._deliveries.bulk_write(writes, ordered=False)

    # ------------------------------------------------------------------ the retry worker

    def _due_cursor(self, now: datetime, limit: int) -> AsyncIOMotorCursor[Any]:
        return (
            self._deliveries.find(_due(now), {"attempts": 1})
            .sort("next_attempt_at", ASCENDING)
            .limit(limit)
        )

    def _stale_cursor(self, now: datetime, limit: int) -> AsyncIOMotorCursor[Any]:
        return self._deliveries.find(_stale(now), _WITHOUT_CONTENT).limit(limit)

    def _unpublished_cursor(self, now: datetime, limit: int) -> AsyncIOMotorCursor[Any]:
        return self._deliveries.find(_unpublished(now), {"publish_at": 1}).limit(limit)

    async def due(self, now: datetime, limit: int) -> list[Due]:
        """Deliveries whose next attempt is due, longest waiting first."""
        return [(doc["_id"], int(doc["attempts"])) async for doc in self._due_cursor(now, limit)]

    async def stale(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        """'sending' deliveries whose lease ran out: their process died mid-attempt."""
        return [doc async for doc in self._stale_cursor(now, limit)]

    async def claim_unpublished(
        self, now: datetime, hold_s: float, limit: int
    ) -> list[dict[str, Any]]:
        """Settled outcomes whose event nobody acknowledged by their ``publish_at``, each
        claimed for publishing by moving ``publish_at`` on by ``hold_s``: of several
        replicas that found it, one publishes it now, and if that one fails, somebody
        does after the hold."""
        found = [doc async for doc in self._unpublished_cursor(now, limit)]
        claimed: list[dict[str, Any]] = []
        for doc in found:
            # Strictly later than what was read, so the read value can be claimed once.
            until = max(now + timedelta(seconds=hold_s), doc["publish_at"] + _ONE_MS)
            document = await self._deliveries.find_one_and_update(
                {
                    "_id": doc["_id"],
                    "status": {"$in": _states(UNPUBLISHED)},
                    "publish_at": doc["publish_at"],
                },
                {"$set": {"publish_at": until}},
                projection=_WITHOUT_CONTENT,
                return_document=ReturnDocument.AFTER,
            )
            if document is not None:
                claimed.append(document)
        return claimed

    # ------------------------------------------------------------------ operators

    async def get(self, delivery_id: str) -> dict[str, Any] | None:
        document: dict[str, Any] | None = await self._deliveries.find_one(
            {"_id": delivery_id}, _WITHOUT_CONTENT
        )
        return document

    async def page(
        self,
        *,
        dossier_id: str | None,
        status: str | None,
        channel: str | None,
        after: Position | None,
        limit: int,
    ) -> Page:
        """One page, newest first, continuing strictly after the ``after`` position."""
        query = _listing(dossier_id, status, channel, after)
        cursor = self._page_cursor(query, limit + 1)
        documents = [doc async for doc in cursor]
        if len(documents) <= limit:
            return documents, None
        documents = documents[:limit]
        last = documents[-1]
        return documents, (last["created_at"], last["_id"])

    def _page_cursor(self, query: dict[str, Any], limit: int) -> AsyncIOMotorCursor[Any]:
        return self._deliveries.find(query, _WITHOUT_CONTENT).sort(_LIST_ORDER).limit(limit)

    async def resend(
        self, delivery_id: str, *, now: datetime, extra_attempts: int, actor: str
    ) -> dict[str, Any] | None:
        """failed → retry_scheduled, due now, with a fresh budget of attempts."""
        current = await self._deliveries.find_one(
            {"_id": delivery_id, "status": DeliveryStatus.FAILED.value}, {"attempts": 1}
        )
        if current is None:
            return None
        attempts = int(current.get("attempts", 0))
        # The budget follows from the attempt count read, so that count is in the filter.
        resent: dict[str, Any] | None = await self._deliveries.find_one_and_update(
            {"_id": delivery_id, "status": DeliveryStatus.FAILED.value, "attempts": attempts},
            {
                "$set": {
                    "status": DeliveryStatus.RETRY_SCHEDULED.value,
                    "next_attempt_at": now,
                    "max_attempts": attempts + extra_attempts,
                    "updated_at": now,
                },
                "$inc": {"resends": 1},
                "$push": {"history": {"at": now, "outcome": "resend", "by": actor}},
            },
            projection=_WITHOUT_CONTENT,
            return_document=ReturnDocument.AFTER,
        )
        return resent

    # ------------------------------------------------------------------ plans

    async def query_plans(
        self, now: datetime, delivery_id: str, dossier_id: str
    ) -> dict[str, dict[str, Any]]:
        """``explain`` of every query the service makes on a hot path, by name: the
        worker's three polls, the filters of the conditional writes, and the operators'
        listings narrowed by dossier or status. Each must read through an index
        (`chassis.mongo.uses_index`).

        Left out: the listing of everything, newest first. MongoDB walks the
        ``(created_at, _id)`` index for it; DocumentDB does not take a sort from an
        index and reads the whole log to sort it (tens of milliseconds at 20,000
        deliveries), which is acceptable for an operator browsing, not for a poll."""
        position = (now, delivery_id)
        reads: dict[str, Any] = {
            "due": self._due_cursor(now, 100),
            "stale": self._stale_cursor(now, 100),
            "unpublished": self._unpublished_cursor(now, 100),
            "claim attempt": self._deliveries.find(_attempt_due(delivery_id, 1, now)),
            "take over attempt": self._deliveries.find(_attempt_abandoned(delivery_id, 1, now)),
            "record outcome": self._deliveries.find(_attempt_under_way(delivery_id, 1)),
            "one delivery": self._deliveries.find({"_id": delivery_id}, _WITHOUT_CONTENT),
            "one dossier's": self._page_cursor(_listing(dossier_id, None, None, None), 51),
            "one dossier's, next page": self._page_cursor(
                _listing(dossier_id, None, None, position), 51
            ),
            "failed sms": self._page_cursor(
                _listing(None, DeliveryStatus.FAILED.value, "sms", None), 51
            ),
            "failed, next page": self._page_cursor(
                _listing(None, DeliveryStatus.FAILED.value, None, position), 51
            ),
        }
        return {name: await cursor.explain() for name, cursor in reads.items()}
