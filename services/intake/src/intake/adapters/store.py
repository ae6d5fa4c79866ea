"""Intake's store: the submissions it took in and the status projection it keeps.

Only single-document atomic operations and unique indexes, so MongoDB and FerretDB
behave alike. A submission document is written as ``pending`` before its event is
published and marked ``accepted`` once the broker acknowledged it; its unique
``idempotency_id`` is what makes a retried request find the first one.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

__all__ = ["Insert", "IntakeStore"]

_FOLLOW_UP_FIELDS = {
    "_id": 1,
    "receipt_code": 1,
    "state": 1,
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
        self._submissions = db["submissions"]
        self._statuses = db["statuses"]

    async def create_indexes(self) -> None:
        await self._submissions.create_index("receipt_code", unique=True)
        await self._submissions.create_index("idempotency_id", unique=True)
        await self._submissions.create_index("pseudonym")
        await self._statuses.create_index("receipt_code")

    # ----------------------------------------------------------------- submissions

    async def insert_submission(self, document: dict[str, Any]) -> Insert:
        try:
            await self._submissions.insert_one(document)
        except DuplicateKeyError:
            # FerretDB does not say which index refused the document; the key decides.
            taken = await self._submissions.find_one(
                {"idempotency_id": document["idempotency_id"]}, {"_id": 1}
            )
            return Insert.KEY_TAKEN if taken else Insert.RECEIPT_TAKEN
        return Insert.DONE

    async def by_idempotency_id(self, idempotency_id: str) -> dict[str, Any] | None:
        return await self._submissions.find_one({"idempotency_id": idempotency_id})

    async def claim(self, dossier_id: str, now: datetime, until: datetime) -> dict[str, Any] | None:
        """Take the publishing lease of a pending submission; None if another request
        holds it or the submission is no longer pending."""
        return await self._submissions.find_one_and_update(
            {"_id": dossier_id, "state": "pending", "lease_until": {"$lte": now}},
            {"$set": {"lease_until": until}},
            return_document=ReturnDocument.AFTER,
        )

    async def release(self, dossier_id: str, now: datetime) -> None:
        await self._submissions.update_one(
            {"_id": dossier_id, "state": "pending"}, {"$set": {"lease_until": now}}
        )

    async def mark_accepted(self, dossier_id: str, now: datetime) -> None:
        # The event copy only served a re-publication; once the broker has it, intake
        # keeps no applicant data outside the sealed denouncer identity.
        await self._submissions.update_one(
            {"_id": dossier_id},
            {"$set": {"state": "accepted", "accepted_at": now}, "$unset": {"event": ""}},
        )

    async def for_follow_up(self, receipt_code: str) -> dict[str, Any] | None:
        return await self._submissions.find_one({"receipt_code": receipt_code}, _FOLLOW_UP_FIELDS)

    async def by_pseudonym(self, pseudonym: str) -> dict[str, Any] | None:
        return await self._submissions.find_one(
            {"pseudonym": pseudonym},
            {"_id": 1, "receipt_code": 1, "agency": 1, "identity": 1, "state": 1},
        )

    # ----------------------------------------------------------------- status projection

    async def status(self, dossier_id: str) -> dict[str, Any] | None:
        return await self._statuses.find_one({"_id": dossier_id})

    async def apply_status(self, dossier_id: str, version: int, fields: dict[str, Any]) -> bool:
        """Upsert the projection unless it already holds this version or a later one.

        Redelivered and out-of-order events are therefore harmless; returns whether the
        projection changed.
        """
        try:
            result = await self._statuses.update_one(
                {"_id": dossier_id, "version": {"$lt": version}},
                {"$set": {**fields, "version": version}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return bool(result.modified_count or result.upserted_id)

    async def apply_due_date(self, dossier_id: str, due_date: str, at: datetime) -> bool:
        """A new appointment (apology slip, extension) applies if nothing newer came."""
        result = await self._statuses.update_one(
            {"_id": dossier_id, "updated_at": {"$lt": at}},
            {"$set": {"due_date": due_date, "updated_at": at}},
        )
        return bool(result.modified_count)
