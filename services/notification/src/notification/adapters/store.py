"""The delivery log: one document per (event, channel, recipient), written before sending.

Every change of state is one conditional single-document update, so two instances of
the service (or the consumer and the retry worker of one) can never both start the same
attempt: whoever's update matches owns the attempt, the other one matches nothing.
An attempt is owned through a lease token; its outcome is recorded only if the token
still matches, so an instance that was presumed dead cannot overwrite a newer attempt.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from motor.motor_asyncio import AsyncIOMotorCollection, AsyncIOMotorDatabase
from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError

from notification.domain.retry import CLAIMABLE, DeliveryStatus

__all__ = ["DUPLICATE_KEY", "DeliveryStore", "Page"]

DUPLICATE_KEY = 11000
_UNPUBLISHED = (DeliveryStatus.SENT_UNPUBLISHED, DeliveryStatus.FAILED_UNPUBLISHED)
_PUBLISHED = {
    DeliveryStatus.SENT_UNPUBLISHED: DeliveryStatus.SENT,
    DeliveryStatus.FAILED_UNPUBLISHED: DeliveryStatus.FAILED,
}
# Listing sorts newest first; _id breaks ties between deliveries of one event.
_LIST_ORDER = [("created_at", DESCENDING), ("_id", DESCENDING)]

Page = tuple[list[dict[str, Any]], tuple[datetime, str] | None]


def _states(states: Iterable[DeliveryStatus]) -> list[str]:
    return [s.value for s in states]


class DeliveryStore:
    def __init__(self, db: AsyncIOMotorDatabase[Any]) -> None:
        self._deliveries: AsyncIOMotorCollection[Any] = db["deliveries"]

    async def create_indexes(self) -> None:
        d = self._deliveries
        await d.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
        await d.create_index([("status", ASCENDING), ("lease_until", ASCENDING)])
        await d.create_index([("status", ASCENDING), ("outcome_at", ASCENDING)])
        await d.create_index(_LIST_ORDER)
        await d.create_index([("dossier_id", ASCENDING), *_LIST_ORDER])

    # ------------------------------------------------------------------ claiming

    async def insert_pending(self, documents: Sequence[dict[str, Any]]) -> set[str]:
        """Claim deliveries; returns the ids this call created. An id that exists already
        was claimed before (a redelivered event) and is left to whoever holds it."""
        if not documents:
            return set()
        wanted = [doc["_id"] for doc in documents]
        try:
            await self._deliveries.insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(err.get("code") != DUPLICATE_KEY for err in errors):
                raise
            existing = {wanted[err["index"]] for err in errors}
            return {i for i in wanted if i not in existing}
        return set(wanted)

    async def start_attempt(
        self,
        delivery_id: str,
        *,
        now: datetime,
        lease_s: float,
        due_only: bool,
    ) -> dict[str, Any] | None:
        """pending/retry_scheduled → sending, counting the attempt. ``due_only`` (the
        retry worker) also requires ``next_attempt_at`` to have come; the consumer takes
        a delivery it has just created without waiting."""
        query: dict[str, Any] = {"_id": delivery_id}
        if due_only:
            query |= {"status": {"$in": _states(CLAIMABLE)}, "next_attempt_at": {"$lte": now}}
        else:
            query["status"] = DeliveryStatus.PENDING.value
        return await self._take_lease(query, now=now, lease_s=lease_s)

    async def retake_stale(
        self, delivery_id: str, lease_token: str, *, now: datetime, lease_s: float
    ) -> dict[str, Any] | None:
        """A 'sending' delivery whose lease ran out (its process died) → a new attempt."""
        query = {
            "_id": delivery_id,
            "status": DeliveryStatus.SENDING.value,
            "lease_token": lease_token,
            "lease_until": {"$lte": now},
        }
        return await self._take_lease(query, now=now, lease_s=lease_s)

    async def _take_lease(
        self, query: dict[str, Any], *, now: datetime, lease_s: float
    ) -> dict[str, Any] | None:
        document: dict[str, Any] | None = await self._deliveries.find_one_and_update(
            query,
            {
                "$set": {
                    "status": DeliveryStatus.SENDING.value,
                    "lease_token": secrets.token_hex(8),
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
        delivery_id: str,
        lease_token: str,
        *,
        fields: dict[str, Any],
        history: dict[str, Any],
        from_status: DeliveryStatus = DeliveryStatus.SENDING,
    ) -> dict[str, Any] | None:
        """Record an attempt's outcome if this caller still holds the lease."""
        document: dict[str, Any] | None = await self._deliveries.find_one_and_update(
            {"_id": delivery_id, "status": from_status.value, "lease_token": lease_token},
            {
                "$set": {**fields, "lease_token": None, "lease_until": None},
                "$push": {"history": history},
            },
            return_document=ReturnDocument.AFTER,
        )
        return document

    async def mark_published(self, documents: Iterable[dict[str, Any]], now: datetime) -> None:
        """``*_unpublished`` → final, for outcomes whose event the broker acknowledged."""
        updates = [
            # Matching the event id too: a resend may already have moved the delivery on.
            UpdateOne(
                {
                    "_id": doc["_id"],
                    "status": doc["status"],
                    "outcome_event_id": doc["outcome_event_id"],
                },
                {
                    "$set": {
                        "status": _PUBLISHED[DeliveryStatus(doc["status"])].value,
                        "published_at": now,
                    }
                },
            )
            for doc in documents
        ]
        if updates:
            await self._deliveries.bulk_write(updates, ordered=False)

    # ------------------------------------------------------------------ the retry worker

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
        document: dict[str, Any] | None = await self._deliveries.find_one_and_update(
            {"_id": delivery_id, "status": DeliveryStatus.FAILED.value},
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
            return_document=ReturnDocument.AFTER,
        )
        return document
