"""Intake's store: the submissions it took in and the status projection it keeps.

Only single-document atomic operations and unique indexes, so MongoDB and FerretDB
behave alike. A submission is inserted before its event is published; its unique
``idempotency_id`` is what makes a retried request find the first one. Once the broker
acknowledged the event an acceptance is inserted next to it: inserts, grouped across
concurrent requests, are what the store does fastest, where an update of the submission
would cost a round trip of its own on the hot path.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo.errors import BulkWriteError

from chassis.mongo import GuardedWrites
from intake.adapters.batching import GroupCommit

__all__ = ["Insert", "IntakeStore"]

_DUPLICATE_KEY = 11000
_FOLLOW_UP_FIELDS = {
    "_id": 1,
    "receipt_code": 1,
    "secret_hash": 1,
    "phone_hash": 1,
    "procedure_code": 1,
    "agency": 1,
    "kind": 1,
    "due_date": 1,
    "received_at": 1,
    "pseudonym": 1,
}


class Insert(Enum):
    DONE = "done"
    RECEIPT_TAKEN = "receipt-taken"
    KEY_TAKEN = "key-taken"


class IntakeStore:
    def __init__(self, db: AsyncIOMotorDatabase[Any]) -> None:
        self._db = db
        self._submissions = db["submissions"]
        self._acceptances = db["acceptances"]
        self._statuses = db["statuses"]
        # Writes guarded by a condition, addressed by id (a scan on FerretDB otherwise).
        self._guarded_submissions = GuardedWrites(self._submissions)
        self._guarded_statuses = GuardedWrites(self._statuses)
        self._inserts: GroupCommit[dict[str, Any], Insert] = GroupCommit(self._insert_many)
        self._accepts: GroupCommit[dict[str, Any], None] = GroupCommit(self._accept_many)

    async def create_indexes(self) -> None:
        for guarded in (self._guarded_submissions, self._guarded_statuses):
            await guarded.adapt(self._db)
        await self._submissions.create_index("receipt_code", unique=True)
        await self._submissions.create_index("idempotency_id", unique=True)
        await self._submissions.create_index("pseudonym")
        await self._statuses.create_index("receipt_code")

    # ----------------------------------------------------------------- submissions

    async def insert_submission(self, document: dict[str, Any]) -> Insert:
        return await self._inserts.submit(document)

    async def _insert_many(self, documents: list[dict[str, Any]]) -> list[Insert]:
        outcomes = [Insert.DONE] * len(documents)
        try:
            await self._submissions.insert_many(documents, ordered=False)
        except BulkWriteError as error:
            for failure in error.details.get("writeErrors", []):
                if failure.get("code") != _DUPLICATE_KEY:
                    raise
                index = failure["index"]
                # FerretDB does not say which index refused a document; the key decides.
                taken = await self._submissions.find_one(
                    {"idempotency_id": documents[index]["idempotency_id"]}, {"_id": 1}
                )
                outcomes[index] = Insert.KEY_TAKEN if taken else Insert.RECEIPT_TAKEN
        return outcomes

    async def by_idempotency_id(self, idempotency_id: str) -> dict[str, Any] | None:
        return await self._submissions.find_one({"idempotency_id": idempotency_id})

    async def is_accepted(self, dossier_id: str) -> bool:
        return await self._acceptances.find_one({"_id": dossier_id}, {"_id": 1}) is not None

    async def claim(self, dossier_id: str, now: datetime, until: datetime) -> dict[str, Any] | None:
        """Take the publishing lease of a submission not yet accepted; None if another
        request holds it."""
        return await self._guarded_submissions.find_one_and_update(
            dossier_id, {"lease_until": {"$lte": now}}, {"$set": {"lease_until": until}}
        )

    async def release(self, dossier_id: str, now: datetime) -> None:
        await self._submissions.update_one({"_id": dossier_id}, {"$set": {"lease_until": now}})

    async def mark_accepted(self, dossier_id: str, now: datetime) -> None:
        await self._accepts.submit({"_id": dossier_id, "accepted_at": now})

    async def _accept_many(self, acceptances: list[dict[str, Any]]) -> list[None]:
        try:
            await self._acceptances.insert_many(acceptances, ordered=False)
        except BulkWriteError as error:
            # An acceptance already recorded (a retry raced the first request) is fine.
            if any(f.get("code") != _DUPLICATE_KEY for f in error.details.get("writeErrors", [])):
                raise
        return [None] * len(acceptances)

    async def for_follow_up(self, receipt_code: str) -> dict[str, Any] | None:
        return await self._submissions.find_one({"receipt_code": receipt_code}, _FOLLOW_UP_FIELDS)

    async def by_pseudonym(self, pseudonym: str) -> dict[str, Any] | None:
        return await self._submissions.find_one(
            {"pseudonym": pseudonym},
            {"_id": 1, "receipt_code": 1, "agency": 1, "identity": 1},
        )

    # ----------------------------------------------------------------- status projection

    async def status(self, dossier_id: str) -> dict[str, Any] | None:
        return await self._statuses.find_one({"_id": dossier_id})

    async def apply_status(self, dossier_id: str, version: int, fields: dict[str, Any]) -> bool:
        """Upsert the projection unless it already holds this version or a later one.

        Redelivered and out-of-order events are therefore harmless; returns whether the
        projection changed.
        """
        return await self._guarded_statuses.update_one(
            dossier_id,
            {"version": {"$lt": version}},
            {"$set": {**fields, "version": version}},
            upsert=True,
        )

    async def apply_due_date(self, dossier_id: str, due_date: str, at: datetime) -> bool:
        """A new appointment (apology slip, extension) applies if nothing newer came."""
        return await self._guarded_statuses.update_one(
            dossier_id,
            {"updated_at": {"$lt": at}},
            {"$set": {"due_date": due_date, "updated_at": at}},
        )
