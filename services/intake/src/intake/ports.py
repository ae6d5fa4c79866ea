"""What intake's use cases need from the world, as protocols the adapters implement.

The use cases (``intake.service``) see only these: the store of submissions and of the
status projection, the event publisher, a throttle and a clock. The Mongo store, the
Kafka publisher and the rate limiter in ``intake.adapters`` are the real ones; the unit
tests run the use cases against in-memory fakes of the same protocols.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Any, Protocol

from chassis.events import Envelope

__all__ = [
    "ACCEPTED",
    "PENDING",
    "BrokerUnavailable",
    "Clock",
    "Insert",
    "Publisher",
    "StatusStore",
    "StoreUnavailable",
    "SubmissionStore",
    "Throttle",
]

# A submission is ``pending`` from its insert until the broker acknowledged its event.
PENDING = "pending"
ACCEPTED = "accepted"

Clock = Callable[[], datetime]


class StoreUnavailable(Exception):
    """The store could not be reached or refused the command; nothing is known to be
    written."""


class BrokerUnavailable(Exception):
    """The broker did not acknowledge an event, so it may not have been published."""


class Insert(Enum):
    DONE = "done"
    RECEIPT_TAKEN = "receipt-taken"
    KEY_TAKEN = "key-taken"


class SubmissionStore(Protocol):
    """Submissions and their publishing lease; every method raises `StoreUnavailable`
    when the store fails."""

    async def insert_submission(self, document: dict[str, Any]) -> Insert:
        """Insert ``document`` as a ``pending`` submission whose lease the caller holds;
        refused when its idempotency id or its receipt code is taken."""
        ...

    async def by_idempotency_id(self, idempotency_id: str) -> dict[str, Any] | None: ...

    async def state(self, dossier_id: str) -> str | None: ...

    async def claim(
        self, dossier_id: str, owner: str, now: datetime, until: datetime
    ) -> dict[str, Any] | None:
        """Take the lease of a pending submission whose lease ran out, until ``until``;
        None when it is accepted or another owner holds the lease. Of concurrent
        claimants, on any replica, exactly one wins."""
        ...

    async def release(self, dossier_id: str, owner: str, now: datetime) -> None:
        """End ``owner``'s lease at ``now``, if it is still theirs."""
        ...

    async def mark_accepted(self, dossier_id: str, now: datetime) -> None: ...

    async def for_follow_up(self, receipt_code: str) -> dict[str, Any] | None:
        """The submission under a receipt code, with what the second factor is checked
        against; the same work whether or not the code exists."""
        ...

    async def by_pseudonym(self, pseudonym: str) -> dict[str, Any] | None: ...

    async def status(self, dossier_id: str) -> dict[str, Any] | None:
        """The citizen-facing status projected from processing's events, if any yet."""
        ...


class StatusStore(Protocol):
    """The status projection. Its failures are the driver's own errors, which the
    consumer loop tells apart: an outage is retried, anything else dead-lettered."""

    async def apply_status(self, dossier_id: str, version: int, fields: dict[str, Any]) -> bool:
        """Apply ``fields`` at ``version`` unless this version or a later one is there;
        whether the projection changed."""
        ...

    async def apply_due_date(self, dossier_id: str, due_date: str, at: datetime) -> bool:
        """Apply a new appointment dated ``at`` unless something newer is there."""
        ...


class Publisher(Protocol):
    @property
    def started(self) -> bool:
        """Whether the broker connection is up (if not, nothing is even tried)."""
        ...

    async def publish(self, envelope: Envelope, *, key: str) -> None:
        """Return once the broker acknowledged; raise `BrokerUnavailable` otherwise."""
        ...


class Throttle(Protocol):
    async def would_exceed(self, key: str) -> int | None:
        """Seconds to wait if one more use of ``key`` would be refused; not counted."""
        ...

    async def retry_after(self, key: str) -> int | None:
        """Count one use of ``key``; the seconds to wait if it went over the limit."""
        ...
