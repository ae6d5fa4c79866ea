"""Intake's store: the submissions it took in and the status projection it keeps.

Only single-document atomic operations and unique indexes, so several intake replicas
can share one database without transactions. A submission is inserted ``pending``
before its event is published; its unique ``idempotency_id`` is what makes a retried
request, on any replica, find the first one. Whoever publishes holds a lease taken with
one conditional write, and once the broker acknowledged the event the submission is
marked ``accepted`` in place. Every query here is served by an index: ``_id``,
``receipt_code``, ``idempotency_id`` or ``pseudonym``.

Reads by a secondary key name their index (``hint``). Without it, the store's planner
(PostgreSQL under FerretDB) may answer a one-document read (``find_one``, limit 1) by
walking the whole ``_id`` index and testing each document, once the collection holds a
few thousand: a look-up then costs time in proportion to the collection, and an unknown
receipt code, which is never found, costs the most, which would tell a guesser which
codes exist. MongoDB takes the same hint.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, PyMongoError

from chassis.batching import GroupCommit
from chassis.mongo import StoreDatabase, conflict_retrying, error_summary, write_conflict
from intake.ports import (
    ACCEPTED,
    PENDING,
    Insert,
    ProjectionUpdate,
    StatusUpdate,
    StoreUnavailable,
)

__all__ = ["ACCEPTED", "PENDING", "Insert", "IntakeStore"]

_DUPLICATE_KEY = 11000
_RECEIPT_CODE = [("receipt_code", ASCENDING)]
_IDEMPOTENCY_ID = [("idempotency_id", ASCENDING)]
_PSEUDONYM = [("pseudonym", ASCENDING)]
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
    "state": 1,
}

# What the receipt-and-appointment slip is made of; the event holds the applicant and
# the attachments as published.
_SLIP_FIELDS = {
    "_id": 1,
    "receipt_code": 1,
    "procedure_code": 1,
    "agency": 1,
    "channel": 1,
    "received_at": 1,
    "received_by": 1,
    "due_date": 1,
    "actor": 1,
    "state": 1,
    "event": 1,
}


@contextmanager
def _request_path() -> Iterator[None]:
    """The use cases answer any store failure of a request with 503 and Retry-After."""
    try:
        yield
    except PyMongoError as exc:
        raise StoreUnavailable(error_summary(exc)) from exc


class _RaceLost(Exception):
    """Some documents of an insert lost a race with another writer of the same key."""


class IntakeStore:
    def __init__(self, db: StoreDatabase) -> None:
        self._db = db
        self._submissions = db["submissions"]
        self._statuses = db["statuses"]
        self._inserts: GroupCommit[dict[str, Any], Insert] = GroupCommit(self._insert_many)
        self._accepts: GroupCommit[tuple[str, datetime], None] = GroupCommit(self._accept_many)

    @property
    def database(self) -> StoreDatabase:
        """The service's database, which the documents' bucket shares."""
        return self._db

    async def create_indexes(self) -> None:
        await self._submissions.create_index(_RECEIPT_CODE, unique=True)
        await self._submissions.create_index(_IDEMPOTENCY_ID, unique=True)
        await self._submissions.create_index(_PSEUDONYM)

    # ----------------------------------------------------------------- submissions

    async def insert_submission(self, document: dict[str, Any]) -> Insert:
        """Insert a ``pending`` submission whose lease the caller holds."""
        with _request_path():
            return await self._inserts.submit({**document, "state": PENDING})

    async def _insert_many(self, documents: list[dict[str, Any]]) -> list[Insert]:
        outcomes = [Insert.DONE] * len(documents)
        waiting = list(range(len(documents)))
        # A document that lost a race on a unique key (a portal's retry of the same
        # submission on another replica) is inserted again: the second try gets the
        # duplicate key, or goes in. The insert is unordered, so the others are in.
        try:
            async for attempt in conflict_retrying(_RaceLost):
                with attempt:
                    waiting = await self._insert_these(documents, waiting, outcomes)
                    if waiting:
                        raise _RaceLost
        except _RaceLost:
            raise StoreUnavailable(f"{len(waiting)} inserts kept losing races") from None
        return outcomes

    async def _insert_these(
        self, documents: list[dict[str, Any]], indexes: list[int], outcomes: list[Insert]
    ) -> list[int]:
        """Insert ``documents[i]`` for each ``i`` in ``indexes``, record each refusal in
        ``outcomes``, and return the indexes of those that lost a race."""
        try:
            await self._submissions.insert_many([documents[i] for i in indexes], ordered=False)
        except BulkWriteError as error:
            lost: list[int] = []
            for failure in error.details.get("writeErrors", []):
                index = indexes[failure["index"]]
                if write_conflict(failure.get("code")):
                    lost.append(index)
                    continue
                if failure.get("code") != _DUPLICATE_KEY:
                    raise
                taken = _refusing_index(failure)
                if taken is None:
                    # A refusal worded otherwise: the idempotency index decides.
                    found = await self._submissions.find_one(
                        {"idempotency_id": documents[index]["idempotency_id"]},
                        {"_id": 1},
                        hint=_IDEMPOTENCY_ID,
                    )
                    taken = "idempotency_id" if found else "receipt_code"
                outcomes[index] = (
                    Insert.KEY_TAKEN if taken == "idempotency_id" else Insert.RECEIPT_TAKEN
                )
            return lost
        return []

    async def by_idempotency_id(self, idempotency_id: str) -> dict[str, Any] | None:
        with _request_path():
            found: dict[str, Any] | None = await self._submissions.find_one(
                {"idempotency_id": idempotency_id}, hint=_IDEMPOTENCY_ID
            )
        return found

    async def state(self, dossier_id: str) -> str | None:
        with _request_path():
            found = await self._submissions.find_one({"_id": dossier_id}, {"state": 1})
        return None if found is None else str(found.get("state"))

    async def claim(
        self, dossier_id: str, owner: str, now: datetime, until: datetime
    ) -> dict[str, Any] | None:
        """Take the publishing lease of a pending submission whose lease ran out; None if
        it is accepted or another request (on any replica) holds the lease. One
        conditional write, so of concurrent claimants exactly one wins."""
        with _request_path():
            found: dict[str, Any] | None = await self._submissions.find_one_and_update(
                {"_id": dossier_id, "state": PENDING, "lease_until": {"$lte": now}},
                {"$set": {"lease_until": until, "lease_owner": owner}},
                return_document=ReturnDocument.AFTER,
            )
        return found

    async def release(self, dossier_id: str, owner: str, now: datetime) -> None:
        """Give the lease back early, if it is still ours."""
        with _request_path():
            await self._submissions.update_one(
                {"_id": dossier_id, "state": PENDING, "lease_owner": owner},
                {"$set": {"lease_until": now}},
            )

    async def mark_accepted(self, dossier_id: str, now: datetime) -> None:
        with _request_path():
            await self._accepts.submit((dossier_id, now))

    async def _accept_many(self, accepted: list[tuple[str, datetime]]) -> list[None]:
        # Already accepted (a retry raced the first request) matches nothing: fine. In
        # the order of the ids: under FerretDB a bulk write is one PostgreSQL transaction
        # locking row after row, and two replicas' writes over the same submissions in
        # different orders would deadlock.
        await self._submissions.bulk_write(
            [
                UpdateOne(
                    {"_id": dossier_id, "state": PENDING},
                    {
                        "$set": {"state": ACCEPTED, "accepted_at": at},
                        "$unset": {"lease_until": "", "lease_owner": ""},
                    },
                )
                for dossier_id, at in sorted(accepted)
            ],
            ordered=False,
        )
        return [None] * len(accepted)

    async def for_follow_up(self, receipt_code: str) -> dict[str, Any] | None:
        with _request_path():
            found: dict[str, Any] | None = await self._submissions.find_one(
                {"receipt_code": receipt_code}, _FOLLOW_UP_FIELDS, hint=_RECEIPT_CODE
            )
        return found

    async def by_pseudonym(self, pseudonym: str) -> dict[str, Any] | None:
        with _request_path():
            found: dict[str, Any] | None = await self._submissions.find_one(
                {"pseudonym": pseudonym},
                {"_id": 1, "receipt_code": 1, "agency": 1, "identity": 1},
                hint=_PSEUDONYM,
            )
        return found

    async def for_slip(self, receipt_code: str) -> dict[str, Any] | None:
        with _request_path():
            found: dict[str, Any] | None = await self._submissions.find_one(
                {"receipt_code": receipt_code}, _SLIP_FIELDS, hint=_RECEIPT_CODE
            )
        return found

    # ----------------------------------------------------------------- status projection

    async def status(self, dossier_id: str) -> dict[str, Any] | None:
        with _request_path():
            found: dict[str, Any] | None = await self._statuses.find_one({"_id": dossier_id})
        return found

    # The projection's writes let the driver's errors through: the consumer loop tells an
    # outage (retried until the store is back) from a defect (dead-lettered) by them.

    async def apply_updates(self, updates: Sequence[ProjectionUpdate]) -> int:
        """Apply a consumed batch's updates in their order, in one ordered bulk write.

        Every write carries its guard in its filter (a status over an older version, an
        appointment over an older update), so redelivered and out-of-order events, and
        two replicas handling the same event during a rebalance, are harmless; returns
        how many changed the projection.
        """
        writes = [_projection_write(update) for update in updates]
        changed = 0
        start, retried = 0, -1
        while start < len(writes):
            try:
                result = await self._statuses.bulk_write(writes[start:], ordered=True)
            except BulkWriteError as error:
                failure = error.details["writeErrors"][0]
                if failure.get("code") != _DUPLICATE_KEY:
                    raise
                # The writes before the refused one are applied; the rest are not.
                changed += error.details.get("nMatched", 0) + error.details.get("nUpserted", 0)
                refused = start + failure["index"]
                # A status upsert found the document there after all: it holds this
                # version or a later one, or another writer created it since our filter
                # was evaluated. Once it exists, a second try tells; refused again, the
                # status is not newer and is skipped.
                start = refused + 1 if refused == retried else refused
                retried = refused
                continue
            changed += result.matched_count + result.upserted_count
            break
        return changed


def _refusing_index(failure: Mapping[str, Any]) -> str | None:
    """Which unique key, ``idempotency_id`` or ``receipt_code``, refused an insert, as the
    refusal says: MongoDB gives the index's key pattern, FerretDB names the index in its
    message. None if it says neither (then a read tells)."""
    pattern = failure.get("keyPattern")
    if isinstance(pattern, Mapping) and len(pattern) == 1:
        (field,) = pattern
        return str(field) if field in ("idempotency_id", "receipt_code") else None
    message = str(failure.get("errmsg", ""))
    for field in ("idempotency_id", "receipt_code"):
        if f"{field}_1" in message:
            return field
    return None


def _projection_write(update: ProjectionUpdate) -> UpdateOne:
    if isinstance(update, StatusUpdate):
        return UpdateOne(
            {"_id": update.dossier_id, "version": {"$lt": update.version}},
            {"$set": {**update.fields, "version": update.version}},
            upsert=True,
        )
    return UpdateOne(
        {"_id": update.dossier_id, "updated_at": {"$lt": update.at}},
        {"$set": {"due_date": update.due_date, "updated_at": update.at}},
    )
