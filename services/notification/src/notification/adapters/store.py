"""The delivery log: one document per (event, channel, recipient), written before sending.

Exclusivity rests on two MongoDB promises, so any number of replicas can share the log:

* the delivery's ``_id`` is its delivery key, so inserting it claims it: a redelivered
  event's insert meets the existing id and nothing more is done for it;
* every later change is one atomic conditional update (a ``find_one_and_update``, or
  one update of a ``bulk_write``) addressed by the id with the expected state in the
  filter ("``retry_scheduled``, attempt 2, due", "``sending``, attempt 3"). Of several
  callers racing for the same attempt exactly one matches; the others get nothing back
  and neither write nor send.

An outcome is recorded only for the attempt number it belongs to, so a process that was
presumed dead cannot overwrite a newer attempt. The rendered message is part of the
delivery, so claiming an attempt returns what is to be sent in the same round trip
(claims made together: in the one read after them).

Every store command is a commit of its own (a PostgreSQL transaction under FerretDB), so
what concurrent deliveries do at the same moment is written together: outcomes recorded
while another write is in flight, and the deliveries marked published, go as one
``bulk_write`` each (`chassis.batching.GroupCommit`); the worker claims the attempts due
in one poll with one. A bulk write only says how many of its updates matched, so each
conditional update also sets a mark of its own (``written_by``); when some did not
match, one read of the marks tells which did.

Every query the service makes on its hot path is served by one of the indexes made in
``create_indexes`` (checked with ``explain`` by the integration tests). No transactions
and no change streams are used.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, OperationFailure

from chassis.batching import GroupCommit
from chassis.mongo import StoreCollection, StoreCursor, StoreDatabase
from notification.domain.retry import CLAIMABLE, UNPUBLISHED, DeliveryStatus, published
from notification.service.ports import Due, Page, Position

__all__ = ["DUPLICATE_KEY", "DeliveryStore"]

log = logging.getLogger(__name__)

DUPLICATE_KEY = 11000
# Listing sorts newest first; _id breaks ties between deliveries of one event.
_LIST_ORDER = [("created_at", DESCENDING), ("_id", DESCENDING)]
# What the operator API and the outcome events need; the rendered message is read only
# by whoever makes an attempt.
_WITHOUT_CONTENT = {"content": 0}
_ONE_MS = timedelta(milliseconds=1)
# Set by each conditional update that may go in a bulk write: the update whose mark a
# delivery holds afterwards is the one that matched.
_WRITER = "written_by"


def _write_id() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class _Outcome:
    """One attempt's outcome waiting to be recorded with others."""

    delivery_id: str
    attempt: int
    fields: dict[str, Any]
    history: dict[str, Any]


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


def _by_id(due: Sequence[Due]) -> list[Due]:
    """``due`` in the order of the ids. Under FerretDB a bulk write is one PostgreSQL
    transaction, which locks each document as it changes it: two replicas' bulk writes
    taking the same documents in different orders would deadlock; in one order, the
    second waits for the first."""
    return sorted(dict(due).items())


def _failed(exc: BulkWriteError) -> int:
    return len(exc.details.get("writeErrors", []))


def _claim(now: datetime, lease_s: float, token: str) -> dict[str, Any]:
    """The update that makes a delivery's next attempt, under a lease of ``lease_s``."""
    return {
        "$set": {
            "status": DeliveryStatus.SENDING.value,
            "lease_until": now + timedelta(seconds=lease_s),
            "next_attempt_at": None,
            "updated_at": now,
            _WRITER: token,
        },
        "$inc": {"attempts": 1},
    }


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

    def __init__(self, db: StoreDatabase) -> None:
        self._deliveries: StoreCollection = db["deliveries"]
        self._outcomes: GroupCommit[_Outcome, bool | OperationFailure] = GroupCommit(
            self._finish_many
        )
        self._publications: GroupCommit[list[tuple[str, str, datetime]], None] = GroupCommit(
            self._mark_published_many
        )

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

    async def start_attempts(
        self, due: Sequence[Due], *, now: datetime, lease_s: float
    ) -> list[dict[str, Any]]:
        """`start_attempt` for each of ``due`` in two commands, whatever their number: one
        ``bulk_write`` of the conditional claims, one read of the claimed deliveries (a
        bulk write returns no documents). Returns those this caller won."""
        if len(due) <= 1:
            one = [await self.start_attempt(i, n, now=now, lease_s=lease_s) for i, n in due]
            return [document for document in one if document is not None]
        claims = [(delivery_id, attempts, _write_id()) for delivery_id, attempts in _by_id(due)]
        writes = [
            UpdateOne(_attempt_due(delivery_id, attempts, now), _claim(now, lease_s, mark))
            for delivery_id, attempts, mark in claims
        ]
        try:
            result = await self._deliveries.bulk_write(writes, ordered=False)
            if result.matched_count == 0:
                return []
        except BulkWriteError as exc:
            # A claim that failed was not made (another replica's write was in the way,
            # say) and stays due for the next poll; those made carry this caller's mark
            # all the same, and must be attempted, not left to run out their lease.
            codes = sorted({err.get("code") for err in exc.details.get("writeErrors", [])})
            log.warning("%d of %d claims failed (codes %s)", _failed(exc), len(claims), codes)
        # The claim holds the delivery 'sending' under this caller's lease, so nobody
        # else changes it before it is read.
        ids = [delivery_id for delivery_id, _, _ in claims]
        found = {doc["_id"]: doc async for doc in self._deliveries.find({"_id": {"$in": ids}})}
        won: list[dict[str, Any]] = []
        for delivery_id, attempts, mark in claims:
            document = found.get(delivery_id)
            if (
                document is not None
                and document.get(_WRITER) == mark
                and document["attempts"] == attempts + 1
            ):
                won.append(document)
        return won

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
            where, _claim(now, lease_s, _write_id()), return_document=ReturnDocument.AFTER
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
        Returns the delivery as recorded (``delivery`` with the change applied).

        Outcomes recorded while another write of them is in flight go together in the
        next one."""
        recorded = await self._outcomes.submit(_Outcome(delivery["_id"], attempt, fields, history))
        if isinstance(recorded, OperationFailure):
            raise recorded
        if not recorded:
            return None
        return {
            **delivery,
            **fields,
            "lease_until": None,
            "history": [*delivery.get("history", []), history],
        }

    async def _finish_many(self, outcomes: list[_Outcome]) -> list[bool | OperationFailure]:
        """Record ``outcomes`` in one bulk write; for each, whether it was recorded, or
        the store's refusal of that one write, for its own caller alone."""
        marks = {id(outcome): _write_id() for outcome in outcomes}
        # In the order of the ids, as every bulk write here (`_by_id`).
        ordered = sorted(outcomes, key=lambda o: o.delivery_id)
        writes = [
            UpdateOne(
                _attempt_under_way(outcome.delivery_id, outcome.attempt),
                {
                    "$set": {**outcome.fields, "lease_until": None, _WRITER: marks[id(outcome)]},
                    "$push": {"history": outcome.history},
                },
            )
            for outcome in ordered
        ]
        refused: dict[int, OperationFailure] = {}
        try:
            result = await self._deliveries.bulk_write(writes, ordered=False)
            if result.matched_count in (0, len(outcomes)):
                return [result.matched_count > 0] * len(outcomes)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                refused[id(ordered[error["index"]])] = OperationFailure(
                    str(error.get("errmsg", "write refused")), error.get("code"), error
                )
        # Some found a newer attempt under way, or the attempt given up: the mark each
        # update set says which matched.
        held = await self._marks([outcome.delivery_id for outcome in outcomes])
        return [
            refused.get(id(outcome), held.get(outcome.delivery_id) == marks[id(outcome)])
            for outcome in outcomes
        ]

    async def _marks(self, delivery_ids: list[str]) -> dict[str, Any]:
        """The mark each delivery holds: which of the conditional updates of a bulk write
        that matched only in part did match."""
        return {
            doc["_id"]: doc.get(_WRITER)
            async for doc in self._deliveries.find({"_id": {"$in": delivery_ids}}, {_WRITER: 1})
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
        """``*_unpublished`` → final, for outcomes whose event the broker acknowledged;
        with those of every other caller at the same moment, in one ``bulk_write``.

        While a delivery is ``*_unpublished`` its outcome cannot change (only a failed,
        published delivery can be resent), so matching on the status is enough.
        """
        settled = [(document["_id"], document["status"], now) for document in documents]
        if settled:
            await self._publications.submit(settled)

    async def _mark_published_many(
        self, calls: list[list[tuple[str, str, datetime]]]
    ) -> list[None]:
        writes = [
            UpdateOne(
                {"_id": delivery_id, "status": status},
                {
                    "$set": {
                        "status": published(DeliveryStatus(status)).value,
                        "published_at": now,
                        "publish_at": None,
                    }
                },
            )
            # In the order of the ids, as every bulk write here (`_by_id`).
            for delivery_id, status, now in sorted(item for settled in calls for item in settled)
        ]
        await self._deliveries.bulk_write(writes, ordered=False)
        return [None] * len(calls)

    # ------------------------------------------------------------------ the retry worker

    def _due_cursor(self, now: datetime, limit: int) -> StoreCursor:
        return (
            self._deliveries.find(_due(now), {"attempts": 1})
            .sort("next_attempt_at", ASCENDING)
            .limit(limit)
        )

    def _stale_cursor(self, now: datetime, limit: int) -> StoreCursor:
        return self._deliveries.find(_stale(now), _WITHOUT_CONTENT).limit(limit)

    def _unpublished_cursor(self, now: datetime, limit: int) -> StoreCursor:
        return self._deliveries.find(_unpublished(now), _WITHOUT_CONTENT).limit(limit)

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
        does after the hold. Read and claimed in two commands, however many."""
        found = sorted(
            [doc async for doc in self._unpublished_cursor(now, limit)], key=lambda d: d["_id"]
        )
        if not found:
            return []
        claims = []
        for doc in found:
            # Strictly later than what was read, so the read value can be claimed once.
            until = max(now + timedelta(seconds=hold_s), doc["publish_at"] + _ONE_MS)
            claims.append({**doc, "publish_at": until, _WRITER: _write_id()})
        writes = [
            UpdateOne(
                {
                    "_id": doc["_id"],
                    "status": {"$in": _states(UNPUBLISHED)},
                    "publish_at": doc["publish_at"],
                },
                {"$set": {"publish_at": claim["publish_at"], _WRITER: claim[_WRITER]}},
            )
            # In the order of the ids, as every bulk write here (`_by_id`).
            for doc, claim in zip(found, claims, strict=True)
        ]
        result = await self._deliveries.bulk_write(writes, ordered=False)
        # An unpublished outcome changes only by being published, which the filter
        # excludes: a claimed one is as read, with its new ``publish_at``.
        if result.matched_count in (0, len(claims)):
            return claims if result.matched_count else []
        held = await self._marks([claim["_id"] for claim in claims])
        return [claim for claim in claims if held.get(claim["_id"]) == claim[_WRITER]]

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

    def _page_cursor(self, query: dict[str, Any], limit: int) -> StoreCursor:
        return self._deliveries.find(query, _WITHOUT_CONTENT).sort(_LIST_ORDER).limit(limit)

    async def resend(
        self, delivery_id: str, *, now: datetime, extra_attempts: int, actor: str
    ) -> dict[str, Any] | None:
        """failed → retry_scheduled, due now, with a fresh budget of attempts.

        One command: the budget is computed by the update from the delivery's own attempt
        count (an update pipeline), so it needs no read first."""
        entry = {"at": now, "outcome": "resend", "by": actor}
        resent: dict[str, Any] | None = await self._deliveries.find_one_and_update(
            {"_id": delivery_id, "status": DeliveryStatus.FAILED.value},
            [
                {
                    "$set": {
                        "status": DeliveryStatus.RETRY_SCHEDULED.value,
                        "next_attempt_at": {"$literal": now},
                        "max_attempts": {"$add": ["$attempts", extra_attempts]},
                        "updated_at": {"$literal": now},
                        "resends": {"$add": [{"$ifNull": ["$resends", 0]}, 1]},
                        # Literal: an actor's name is data, never a field path.
                        "history": {
                            "$concatArrays": [
                                {"$ifNull": ["$history", []]},
                                [{"$literal": entry}],
                            ]
                        },
                    }
                }
            ],
            projection=_WITHOUT_CONTENT,
            return_document=ReturnDocument.AFTER,
        )
        return resent

    # ------------------------------------------------------------------ plans

    async def query_plans(
        self, now: datetime, delivery_id: str, dossier_id: str
    ) -> dict[str, dict[str, Any]]:
        """``explain`` of every query the service makes on a hot path, by name: the
        worker's three polls, the filters of the conditional writes, the read after a
        bulk write, and the operators' listings narrowed by dossier or status. Each must
        read through an index (`chassis.mongo.uses_index`).

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
            "read back": self._deliveries.find({"_id": {"$in": [delivery_id, dossier_id]}}),
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
