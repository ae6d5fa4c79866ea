"""The delivery log: one document per (event, channel, recipient), written before sending.

Who may make an attempt is decided by inserts, not by conditional updates. Inserting a
document whose ``_id`` exists fails on MongoDB and on FerretDB alike, under any
concurrency; a conditional update does not: measured against FerretDB 1.24 (SQLite
backend), two clients racing ``find_one_and_update`` on one document both "win", and
the loser's write may land after the winner's later ones. So:

* the delivery itself is claimed by inserting it (``_id`` = delivery key);
* attempt number *n* is claimed by inserting ``<delivery id>#<n>`` into
  ``delivery_claims`` before the delivery is touched. Only the winner then writes the
  delivery; a loser backs off without writing or sending.
* A claim whose holder died before writing (the delivery still shows the attempt as
  not started a lease later) is taken over by inserting a successor claim, which again
  only one caller can do.

An outcome is recorded only for the attempt number it belongs to, so a process that
was presumed dead cannot overwrite a newer attempt.

Every write of a delivery is addressed by its id with a condition on its state, through
`GuardedWrites`: on FerretDB any filter beyond the id is a scan of the whole delivery
log, which made each delivery cost a few reads of every delivery before it.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from motor.motor_asyncio import AsyncIOMotorCollection, AsyncIOMotorDatabase
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import BulkWriteError, DuplicateKeyError

from chassis.mongo import GuardedWrites
from notification.domain.retry import CLAIMABLE, DeliveryStatus

__all__ = ["DUPLICATE_KEY", "DeliveryStore", "Page"]

DUPLICATE_KEY = 11000
_UNPUBLISHED = (DeliveryStatus.SENT_UNPUBLISHED, DeliveryStatus.FAILED_UNPUBLISHED)
_PUBLISHED = {
    DeliveryStatus.SENT_UNPUBLISHED: DeliveryStatus.SENT,
    DeliveryStatus.FAILED_UNPUBLISHED: DeliveryStatus.FAILED,
}
# Inserts per insert_many, and updates in flight at once.
_SLICE = 16
# Listing sorts newest first; _id breaks ties between deliveries of one event.
_LIST_ORDER = [("created_at", DESCENDING), ("_id", DESCENDING)]

Page = tuple[list[dict[str, Any]], tuple[datetime, str] | None]


def _states(states: Iterable[DeliveryStatus]) -> list[str]:
    return [s.value for s in states]


class DeliveryStore:
    def __init__(self, db: AsyncIOMotorDatabase[Any]) -> None:
        self._db = db
        self._deliveries: AsyncIOMotorCollection[Any] = db["deliveries"]
        self._guarded = GuardedWrites(self._deliveries)
        # (due time, delivery id) of the attempts this process scheduled: the retry
        # worker starts them from here and sweeps the store only now and then, for the
        # work of processes that died or of other replicas.
        self._agenda: list[tuple[datetime, str]] = []
        self._claims: AsyncIOMotorCollection[Any] = db["delivery_claims"]
        self._contents: AsyncIOMotorCollection[Any] = db["delivery_contents"]

    async def create_indexes(self) -> None:
        await self._guarded.adapt(self._db)
        d = self._deliveries
        await d.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
        await d.create_index([("status", ASCENDING), ("lease_until", ASCENDING)])
        await d.create_index([("status", ASCENDING), ("outcome_at", ASCENDING)])
        await d.create_index(_LIST_ORDER)
        await d.create_index([("dossier_id", ASCENDING), *_LIST_ORDER])
        await self._claims.create_index("at")
        await self._claims.create_index([("key", ASCENDING), ("at", DESCENDING)])

    # ------------------------------------------------------------------ claiming

    async def insert_pending(
        self, documents: Sequence[dict[str, Any]], contents: Mapping[str, dict[str, Any]]
    ) -> set[str]:
        """Claim deliveries; returns the ids this call created. An id that exists already
        was claimed before (a redelivered event) and is left to whoever holds it.

        The rendered messages live in a collection of their own: they are written once
        and read per attempt, while the delivery is updated several times, and every
        update rewrites the whole document on FerretDB.
        """
        if not documents:
            return set()
        # The message first, so a delivery never exists without what it is to send.
        await self._insert_new(
            self._contents, [{"_id": key, "content": content} for key, content in contents.items()]
        )
        created = await self._insert_new(self._deliveries, documents)
        for document in documents:
            if document["_id"] in created and document.get("next_attempt_at") is not None:
                self.schedule(document["_id"], document["next_attempt_at"])
        return created

    @staticmethod
    async def _insert_new(
        collection: AsyncIOMotorCollection[Any], documents: Sequence[dict[str, Any]]
    ) -> set[str]:
        created: set[str] = set()
        for first in range(0, len(documents), _SLICE):
            part = documents[first : first + _SLICE]
            wanted = [doc["_id"] for doc in part]
            try:
                await collection.insert_many(part, ordered=False)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if any(err.get("code") != DUPLICATE_KEY for err in errors):
                    raise
                existing = {wanted[err["index"]] for err in errors}
                wanted = [i for i in wanted if i not in existing]
            created.update(wanted)
        return created

    async def content(self, delivery_id: str) -> dict[str, Any] | None:
        document = await self._contents.find_one({"_id": delivery_id})
        return None if document is None else dict(document["content"])

    async def start_attempt(
        self, delivery_id: str, *, now: datetime, lease_s: float
    ) -> dict[str, Any] | None:
        """pending/retry_scheduled and due → sending as the next attempt, if this caller
        wins it."""
        condition = {"status": {"$in": _states(CLAIMABLE)}, "next_attempt_at": {"$lte": now}}
        return await self._next_attempt(delivery_id, condition, now=now, lease_s=lease_s)

    async def retake_stale(
        self, delivery_id: str, attempts: int, *, now: datetime, lease_s: float
    ) -> dict[str, Any] | None:
        """A 'sending' delivery whose lease ran out (its process died) → the next attempt."""
        condition = {
            "status": DeliveryStatus.SENDING.value,
            "attempts": attempts,
            "lease_until": {"$lte": now},
        }
        return await self._next_attempt(delivery_id, condition, now=now, lease_s=lease_s)

    async def _next_attempt(
        self, delivery_id: str, condition: dict[str, Any], *, now: datetime, lease_s: float
    ) -> dict[str, Any] | None:
        current = await self._guarded.find_one(delivery_id, condition, {"attempts": 1})
        if current is None:
            return None
        number = int(current.get("attempts", 0)) + 1
        if not await self._win(f"{delivery_id}#{number}", now=now, lease_s=lease_s):
            return None
        return await self._guarded.find_one_and_update(
            delivery_id,
            condition | {"attempts": number - 1},
            {
                "$set": {
                    "status": DeliveryStatus.SENDING.value,
                    "attempts": number,
                    "lease_until": now + timedelta(seconds=lease_s),
                    "next_attempt_at": None,
                    "updated_at": now,
                }
            },
        )

    async def _win(self, key: str, *, now: datetime, lease_s: float) -> bool:
        """Whether this caller now holds ``key``: it inserted the claim, or took over one
        whose holder has been silent for longer than a lease."""
        if await self._insert_claim(key, key, now):
            return True
        latest = await self._claims.find_one({"key": key}, sort=[("at", DESCENDING)])
        if latest is None or latest["at"] > now - timedelta(seconds=lease_s):
            return False
        # Everyone who saw the same abandoned claim computes the same successor.
        return await self._insert_claim(f"{latest['_id']}+", key, now)

    async def _insert_claim(self, claim_id: str, key: str, now: datetime) -> bool:
        try:
            await self._claims.insert_one({"_id": claim_id, "key": key, "at": now})
        except DuplicateKeyError:
            return False
        return True

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
        if not await self._guarded.update_one(
            delivery["_id"],
            {"status": DeliveryStatus.SENDING.value, "attempts": attempt},
            {"$set": {**fields, "lease_until": None}, "$push": {"history": history}},
        ):
            return None
        if fields.get("next_attempt_at") is not None:
            self.schedule(delivery["_id"], fields["next_attempt_at"])
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
        lease_s: float,
        fields: dict[str, Any],
        history: dict[str, Any],
    ) -> dict[str, Any] | None:
        """Fail a 'sending' delivery whose lease ran out, if this caller wins doing so."""
        if not await self._win(f"{delivery_id}#{attempts}!", now=now, lease_s=lease_s):
            return None
        return await self._guarded.find_one_and_update(
            delivery_id,
            {
                "status": DeliveryStatus.SENDING.value,
                "attempts": attempts,
                "lease_until": {"$lte": now},
            },
            {"$set": {**fields, "lease_until": None}, "$push": {"history": history}},
        )

    async def prune_claims(self, before: datetime) -> int:
        """Claims matter for seconds (while a racer may still act on an old read)."""
        result = await self._claims.delete_many({"at": {"$lt": before}})
        return int(result.deleted_count)

    async def mark_published(self, documents: Iterable[dict[str, Any]], now: datetime) -> None:
        """``*_unpublished`` → final, for outcomes whose event the broker acknowledged.

        While a delivery is ``*_unpublished`` its outcome cannot change (only a failed,
        published delivery can be resent), so matching on the status is enough.
        One update per delivery, by ``_id``: FerretDB (SQLite backend) serves only ``_id``
        equality from an index and scans the collection for ``$in``; and it stops
        answering on an unordered bulk of about a hundred updates, so no bulk either.
        """
        limit = asyncio.Semaphore(_SLICE)

        async def mark(document: dict[str, Any]) -> None:
            final = _PUBLISHED[DeliveryStatus(document["status"])].value
            async with limit:
                await self._guarded.update_one(
                    document["_id"],
                    {"status": document["status"]},
                    {"$set": {"status": final, "published_at": now}},
                )

        await asyncio.gather(*(mark(document) for document in documents))

    # ------------------------------------------------------------------ the retry worker

    def schedule(self, delivery_id: str, at: datetime) -> None:
        heapq.heappush(self._agenda, (at, delivery_id))

    def scheduled(self, now: datetime, limit: int) -> list[str]:
        """Deliveries this process scheduled whose time has come, soonest first; each is
        handed out once (the attempt itself still checks the store)."""
        ready: list[str] = []
        while self._agenda and self._agenda[0][0] <= now and len(ready) < limit:
            ready.append(heapq.heappop(self._agenda)[1])
        return ready

    async def due(self, now: datetime, limit: int) -> list[str]:
        cursor = (
            self._deliveries.find(
                {"status": {"$in": _states(CLAIMABLE)}, "next_attempt_at": {"$lte": now}},
                {"_id": 1},
            )
            .sort("next_attempt_at", ASCENDING)
            .limit(limit)
        )
        return [doc["_id"] async for doc in cursor]

    async def stale(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        cursor = self._deliveries.find(
            {"status": DeliveryStatus.SENDING.value, "lease_until": {"$lte": now}},
        ).limit(limit)
        return [doc async for doc in cursor]

    async def unpublished(self, settled_before: datetime, limit: int) -> list[dict[str, Any]]:
        cursor = self._deliveries.find(
            {"status": {"$in": _states(_UNPUBLISHED)}, "outcome_at": {"$lte": settled_before}}
        ).limit(limit)
        return [doc async for doc in cursor]

    # ------------------------------------------------------------------ operators

    async def get(self, delivery_id: str) -> dict[str, Any] | None:
        document: dict[str, Any] | None = await self._deliveries.find_one({"_id": delivery_id})
        return document

    async def page(
        self,
        *,
        dossier_id: str | None,
        status: str | None,
        channel: str | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> Page:
        """One page, newest first, continuing strictly after the ``after`` position."""
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
        cursor = self._deliveries.find(query).sort(_LIST_ORDER).limit(limit + 1)
        documents = [doc async for doc in cursor]
        if len(documents) <= limit:
            return documents, None
        documents = documents[:limit]
        last = documents[-1]
        return documents, (last["created_at"], last["_id"])

    async def resend(
        self, delivery_id: str, *, now: datetime, extra_attempts: int, actor: str
    ) -> dict[str, Any] | None:
        """failed → retry_scheduled, due now, with a fresh budget of attempts."""
        current = await self.get(delivery_id)
        if current is None or current.get("status") != DeliveryStatus.FAILED.value:
            return None
        resent = await self._guarded.find_one_and_update(
            delivery_id,
            {"status": DeliveryStatus.FAILED.value},
            {
                "$set": {
                    "status": DeliveryStatus.RETRY_SCHEDULED.value,
                    "next_attempt_at": now,
                    "max_attempts": int(current.get("attempts", 0)) + extra_attempts,
                    "updated_at": now,
                },
                "$inc": {"resends": 1},
                "$push": {"history": {"at": now, "outcome": "resend", "by": actor}},
            },
        )
        if resent is not None:
            self.schedule(delivery_id, now)
        return resent
