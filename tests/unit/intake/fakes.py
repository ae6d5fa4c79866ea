"""In-memory stand-ins for intake's ports, keeping the promises the real adapters keep.

`FakeStore` enforces what the Mongo store's unique indexes and conditional writes
enforce (one submission per idempotency id and per receipt code, one lease holder, a
projection that never goes back a version); `FakePublisher` records what the broker
acknowledged. Both can be told to fail the way their real counterparts fail.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chassis.events import Envelope
from intake.ports import (
    ACCEPTED,
    PENDING,
    BrokerUnavailable,
    Insert,
    StoreUnavailable,
)

# What the real store's follow-up read projects: everything but the event, the response
# and the sealed identity.
_FOLLOW_UP_FIELDS = (
    "_id",
    "receipt_code",
    "secret_hash",
    "phone_hash",
    "procedure_code",
    "agency",
    "kind",
    "due_date",
    "received_at",
    "pseudonym",
    "state",
)


class FakeStore:
    def __init__(self) -> None:
        self.submissions: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, dict[str, Any]] = {}
        # Names of methods that raise StoreUnavailable, as when the store is away.
        self.failing: set[str] = set()
        # The next this many inserts find their receipt code taken.
        self.receipt_clashes = 0

    def _check(self, method: str) -> None:
        if method in self.failing:
            raise StoreUnavailable("ServerSelectionTimeoutError")

    # ----------------------------------------------------------------- submissions

    async def insert_submission(self, document: dict[str, Any]) -> Insert:
        self._check("insert_submission")
        if any(
            s["idempotency_id"] == document["idempotency_id"] for s in self.submissions.values()
        ):
            return Insert.KEY_TAKEN
        if self.receipt_clashes > 0:
            self.receipt_clashes -= 1
            return Insert.RECEIPT_TAKEN
        if any(s["receipt_code"] == document["receipt_code"] for s in self.submissions.values()):
            return Insert.RECEIPT_TAKEN
        self.submissions[document["_id"]] = copy.deepcopy({**document, "state": PENDING})
        return Insert.DONE

    async def by_idempotency_id(self, idempotency_id: str) -> dict[str, Any] | None:
        self._check("by_idempotency_id")
        for submission in self.submissions.values():
            if submission["idempotency_id"] == idempotency_id:
                return copy.deepcopy(submission)
        return None

    async def state(self, dossier_id: str) -> str | None:
        self._check("state")
        found = self.submissions.get(dossier_id)
        return None if found is None else str(found.get("state"))

    async def claim(
        self, dossier_id: str, owner: str, now: datetime, until: datetime
    ) -> dict[str, Any] | None:
        self._check("claim")
        found = self.submissions.get(dossier_id)
        if found is None or found["state"] != PENDING or found["lease_until"] > now:
            return None
        found.update(lease_until=until, lease_owner=owner)
        return copy.deepcopy(found)

    async def release(self, dossier_id: str, owner: str, now: datetime) -> None:
        self._check("release")
        found = self.submissions.get(dossier_id)
        if found is not None and found["state"] == PENDING and found["lease_owner"] == owner:
            found["lease_until"] = now

    async def mark_accepted(self, dossier_id: str, now: datetime) -> None:
        self._check("mark_accepted")
        found = self.submissions.get(dossier_id)
        if found is not None and found["state"] == PENDING:
            found.update(state=ACCEPTED, accepted_at=now)
            found.pop("lease_until", None)
            found.pop("lease_owner", None)

    async def for_follow_up(self, receipt_code: str) -> dict[str, Any] | None:
        self._check("for_follow_up")
        for submission in self.submissions.values():
            if submission["receipt_code"] == receipt_code:
                return {
                    k: copy.deepcopy(v) for k, v in submission.items() if k in _FOLLOW_UP_FIELDS
                }
        return None

    async def by_pseudonym(self, pseudonym: str) -> dict[str, Any] | None:
        self._check("by_pseudonym")
        for submission in self.submissions.values():
            if submission.get("pseudonym") == pseudonym:
                wanted = ("_id", "receipt_code", "agency", "identity")
                return {k: submission[k] for k in wanted if k in submission}
        return None

    # ----------------------------------------------------------------- status projection

    async def status(self, dossier_id: str) -> dict[str, Any] | None:
        self._check("status")
        found = self.statuses.get(dossier_id)
        return None if found is None else copy.deepcopy(found)

    async def apply_status(self, dossier_id: str, version: int, fields: dict[str, Any]) -> bool:
        current = self.statuses.get(dossier_id)
        if current is not None and current.get("version", -1) >= version:
            return False
        self.statuses[dossier_id] = {**(current or {}), **copy.deepcopy(fields), "version": version}
        return True

    async def apply_due_date(self, dossier_id: str, due_date: str, at: datetime) -> bool:
        current = self.statuses.get(dossier_id)
        if current is None or not current["updated_at"] < at:
            return False
        current.update(due_date=due_date, updated_at=at)
        return True


@dataclass
class FakePublisher:
    started: bool = True
    # When set, the broker does not acknowledge: publish raises and records nothing.
    down: bool = False
    published: list[tuple[Envelope, str]] = field(default_factory=list)

    async def publish(self, envelope: Envelope, *, key: str) -> None:
        if self.down:
            raise BrokerUnavailable("KafkaTimeoutError")
        self.published.append((envelope, key))

    def types(self) -> list[str]:
        return [envelope.type for envelope, _ in self.published]


@dataclass
class FakeThrottle:
    """A fixed number of uses per key, never reset: enough to see what is counted."""

    limit: int
    wait_s: int = 60
    counted: Counter[str] = field(default_factory=Counter)

    async def would_exceed(self, key: str) -> int | None:
        return self.wait_s if self.counted[key] >= self.limit else None

    async def retry_after(self, key: str) -> int | None:
        self.counted[key] += 1
        return self.wait_s if self.counted[key] > self.limit else None


@dataclass
class FakeClock:
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 26, 2, 30, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
