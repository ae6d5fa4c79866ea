"""What intake's use cases need from the world, as protocols the adapters implement.

The use cases (``intake.service``) see only these: the store of submissions and of the
status projection, the event publisher, a throttle and a clock. The Mongo store, the
Kafka publisher and the rate limiter in ``intake.adapters`` are the real ones; the unit
tests run the use cases against in-memory fakes of the same protocols.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Protocol

from chassis.events import Envelope
from intake.domain.slip import Slip

__all__ = [
    "ACCEPTED",
    "PENDING",
    "AppointmentUpdate",
    "BrokerUnavailable",
    "Clock",
    "DocumentStore",
    "FileUpload",
    "Insert",
    "ProjectionUpdate",
    "Publisher",
    "ResultStore",
    "SlipRenderer",
    "StatusStore",
    "StatusUpdate",
    "StoreUnavailable",
    "SubmissionStore",
    "Throttle",
]

# A submission is ``pending`` from its insert until the broker acknowledged its event.
PENDING = "pending"
ACCEPTED = "accepted"

Clock = Callable[[], datetime]
# Lays a slip's content out as PDF bytes (`intake.adapters.slip_pdf.render_slip`).
SlipRenderer = Callable[[Slip], bytes]


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

    async def for_slip(self, receipt_code: str) -> dict[str, Any] | None:
        """The submission under a receipt code with what its slip prints: the stored
        fields and the published event."""
        ...

    async def status(self, dossier_id: str) -> dict[str, Any] | None:
        """The citizen-facing status projected from processing's events, if any yet."""
        ...


@dataclass(frozen=True)
class StatusUpdate:
    """The dossier's status as processing published it at ``version``; it applies over
    an older version only."""

    dossier_id: str
    version: int
    fields: dict[str, Any]


@dataclass(frozen=True)
class AppointmentUpdate:
    """A new appointment dated ``at`` (apology slip, extension); it applies over a
    projection updated before ``at`` only."""

    dossier_id: str
    due_date: str
    at: datetime


ProjectionUpdate = StatusUpdate | AppointmentUpdate


class StatusStore(Protocol):
    """The status projection. Its failures are the driver's own errors, which the
    consumer loop tells apart: an outage is retried, anything else dead-lettered."""

    async def apply_updates(self, updates: Sequence[ProjectionUpdate]) -> int:
        """Apply each update in turn, in one round trip, skipping those the projection
        holds already or something newer than; how many changed it."""
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


class FileUpload(Protocol):
    """One file being written to the store; invisible until `close` returns."""

    @property
    def file_id(self) -> str: ...

    async def write(self, chunk: bytes) -> None: ...

    async def close(self) -> None:
        """Make the file whole and readable under `file_id`."""
        ...

    async def discard(self) -> None:
        """Delete whatever was written, closed or not; nothing of it stays."""
        ...

    async def settled(self) -> None:
        """The file is recorded or discarded: the crash marker of the upload goes."""
        ...


class DocumentStore(Protocol):
    """Uploaded files, one per distinct content, and which dossier refers to which.
    Every method raises `StoreUnavailable` when the store fails."""

    async def begin_upload(self, name: str, media_type: str, now: datetime) -> FileUpload: ...

    async def record(self, document: dict[str, Any]) -> dict[str, Any]:
        """Record a closed upload, unless a document with its SHA-256 is recorded
        already: the one recorded (the caller's or the earlier one)."""
        ...

    async def by_sha256(self, sha256: str) -> dict[str, Any] | None: ...

    async def by_sha256s(self, sha256s: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The recorded documents with any of these SHA-256s, by SHA-256, in one
        round trip (a submission names several)."""
        ...

    async def by_id(self, document_id: str) -> dict[str, Any] | None: ...

    async def attach(self, dossier_id: str, document_ids: list[str], now: datetime) -> int:
        """Link the documents to the dossier and keep them from the sweep; how many of
        them are still stored. When one is gone, none of them is linked."""
        ...

    async def is_attached(self, dossier_id: str, document_id: str) -> bool: ...

    async def issued_result(self, dossier_id: str) -> dict[str, Any] | None:
        """The dossier's issued result document, if any (what `ResultStore` stored)."""
        ...

    def read(self, document_id: str, start: int, end: int) -> AsyncIterator[bytes]:
        """The file's bytes ``start`` to ``end`` inclusive, chunk by chunk."""
        ...

    async def sweep(self, older_than: datetime) -> int:
        """Delete uploads nobody referenced and the chunks of cut-short uploads, begun
        before ``older_than``; how many files went."""
        ...


class ResultStore(Protocol):
    """Issued result documents, one per dossier. Used by a consumer: failures are the
    driver's own errors, which the consumer loop tells apart (outage or defect)."""

    async def result_of(self, dossier_id: str) -> dict[str, Any] | None: ...

    async def store_result(
        self, dossier_id: str, name: str, pdf: bytes, fields: dict[str, Any]
    ) -> dict[str, Any]:
        """Store ``pdf`` as the dossier's result, linked to the dossier, unless one is
        stored already: the one stored (this one or the earlier one)."""
        ...

    async def link_result(self, dossier_id: str, document_id: str, now: datetime) -> None:
        """Let the dossier's officers and citizen read its result (again: idempotent)."""
        ...
