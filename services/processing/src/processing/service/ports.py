"""What the use cases need from the world, as protocols; `processing.adapters`
implements them on MongoDB and Kafka, the unit tests with in-memory fakes.

The store's writes are conditional: each returns False when its condition (the version
read, an event not applied yet, a scan field still unset, a lease still held) no longer
holds, and then writes nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from chassis.events import DossierKind, Envelope
from processing.domain.dossier import Dossier
from processing.domain.statistics import OutcomeCount, OverdueCount
from processing.domain.workflow import DossierStatus

__all__ = [
    "ClaimedOutbox",
    "DossierStore",
    "EventPublisher",
    "NewDossier",
    "OutboxClaim",
    "OutboxEntry",
    "PublishUnavailable",
    "QueueFilter",
    "QueueRow",
]

# An event waiting in a dossier's outbox: {"id", "event" (the envelope as JSON), "trace"}.
OutboxEntry = dict[str, Any]


@dataclass(frozen=True)
class QueueFilter:
    agency: str
    statuses: Sequence[DossierStatus]
    procedure_code: str | None = None
    due_on_or_before: date | None = None
    overdue_before: date | None = None
    assignee: str | None = None
    unassigned: bool = False
    # The officers' search adds these.
    receipt_code: str | None = None
    received_from: date | None = None
    received_to: date | None = None
    # Keyed hashes the dossier's applicant must all match (`service.lookup`).
    applicant_lookup: Sequence[str] = ()


@dataclass(frozen=True)
class QueueRow:
    """What the queue shows of one dossier."""

    dossier_id: str
    receipt_code: str
    procedure_code: str
    procedure_name_vi: str
    procedure_name_en: str
    kind: DossierKind
    status: DossierStatus
    version: int
    submitted_at: datetime
    due_date: date
    # The appointment an apology slip moved it to, if one did.
    new_due_date: date | None
    assignee: str | None


@dataclass(frozen=True)
class ClaimedOutbox:
    dossier_id: str
    entries: list[OutboxEntry]
    # The dossier's count of appended events when it was claimed.
    seq: int


@dataclass(frozen=True)
class NewDossier:
    """A dossier a submission opens, with the events it emits and where it came from."""

    dossier: Dossier
    outbox: Sequence[OutboxEntry]
    # The submission's event id: a redelivery of it finds the dossier already there.
    event_id: str
    # The trace context of the submission, kept so that later work on the dossier (an
    # officer's action) can link its own trace to it.
    trace: Mapping[str, str] = field(default_factory=dict)


@dataclass
class OutboxClaim:
    """What one relay pass holds a lease on, and the named dossiers another relay holds."""

    token: str
    outboxes: list[ClaimedOutbox] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)


class DossierStore(Protocol):
    # ------------------------------------------------------------ writes

    async def insert_many(self, dossiers: Sequence[NewDossier]) -> list[bool]:
        """The new dossiers, in one write; for each, False if it existed already (its
        submission was received before) and True if this write created it."""

    async def commit(
        self,
        dossier: Dossier,
        expected_version: int,
        outbox: Sequence[OutboxEntry],
        event_id: str | None = None,
        clear_overdue: bool = False,
    ) -> bool:
        """The changed dossier and its events, if still at ``expected_version`` (and, for
        an inbound event, if that event was not applied yet). The deadline scan's fields
        are left as stored, but for ``clear_overdue``, which unsets the overdue mark."""

    async def mark_applied(self, dossier_id: str, event_id: str) -> None: ...

    async def record_result(self, dossier_id: str, result: dict[str, Any]) -> bool:
        """Keep the issued result document on the dossier unless one is kept already;
        whether the dossier exists. Leaves the version alone (no officer's If-Match
        fails because of it)."""
        ...

    async def add_note(
        self,
        dossier_id: str,
        agency: str,
        note: dict[str, Any],
        outbox: Sequence[OutboxEntry],
        versions: Collection[int] | None = None,
    ) -> bool:
        """A note, if the dossier is ``agency``'s and at one of ``versions`` (None: any);
        the version is left alone."""

    async def flag_overdue(
        self, dossier_id: str, due_date: date, at: datetime, outbox: Sequence[OutboxEntry]
    ) -> bool:
        """Once per dossier, while it runs and is still due on ``due_date``."""

    # ------------------------------------------------------------ reads

    async def get(self, dossier_id: str) -> Dossier | None: ...

    async def get_for_event(self, dossier_id: str, event_id: str) -> tuple[Dossier, bool] | None:
        """The dossier, and whether the inbound event ``event_id`` was applied to it."""

    async def get_for_agency(
        self, dossier_id: str, agency: str
    ) -> tuple[Dossier, list[dict[str, Any]]] | None:
        """The dossier with its notes, only if ``agency`` handles it."""

    async def get_for_officer(
        self, dossier_id: str, agency: str
    ) -> tuple[Dossier, dict[str, str]] | None:
        """The dossier with the trace context it was created in (empty if none was
        kept), only if ``agency`` handles it."""

    async def queue(
        self, where: QueueFilter, sort_field: str, after: tuple[Any, str] | None, limit: int
    ) -> list[QueueRow]:
        """One page in (``sort_field``, id) order, after the ``after`` key."""

    async def overdue_candidates(self, today: date, limit: int = 500) -> list[Dossier]: ...

    async def outcome_counts(
        self,
        first: date,
        last: date,
        agency: str | None = None,
        procedure_code: str | None = None,
    ) -> list[OutcomeCount]: ...

    async def overdue_counts(
        self,
        first: date,
        last: date,
        today: date,
        agency: str | None = None,
        procedure_code: str | None = None,
    ) -> list[OverdueCount]: ...

    # ------------------------------------------------------------ outbox

    async def pending_outboxes(self, limit: int) -> list[str]:
        """Dossiers with events to send that no relay holds a live lease on."""

    async def claim_outboxes(self, dossier_ids: Sequence[str], lease_s: float) -> OutboxClaim:
        """A lease, for one relay pass, on those of the named dossiers that are pending
        and not leased by another."""

    async def mark_published(self, claim: OutboxClaim) -> None:
        """Drop the claimed entries and end the lease, if the lease is still the claim's;
        entries appended since the claim stay pending."""

    async def release(self, claim: OutboxClaim) -> None:
        """End the lease without sending, so any relay may take the outboxes at once."""


class PublishUnavailable(Exception):
    """The broker did not take the events; nothing is known to have been sent."""


class EventPublisher(Protocol):
    async def publish_many(
        self,
        envelopes: Sequence[Envelope],
        *,
        trace_carriers: Sequence[Mapping[str, str] | None] | None = None,
    ) -> None:
        """All of them, in order, or raise `PublishUnavailable`."""
