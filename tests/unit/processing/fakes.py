"""In-memory stand-ins for processing's ports, with the store's promises: every write
is conditional exactly as `processing.adapters.store` words it against MongoDB (version
guard, event applied once, scan fields set once, the relay's lease), so the use cases
can be tested without servers. The integration tests hold the real adapter to the same
promises."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chassis.events import Envelope
from processing.domain.dossier import (
    RUNNING_STATUSES,
    SCAN_FIELDS,
    Dossier,
    IssuedResult,
    Outcome,
)
from processing.domain.statistics import OutcomeCount, OverdueCount
from processing.service.ports import (
    ClaimedOutbox,
    NewDossier,
    OutboxClaim,
    OutboxEntry,
    PublishUnavailable,
    QueueFilter,
    QueueRow,
)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@dataclass
class StoredDossier:
    dossier: Dossier
    applied: list[str]
    outbox: list[OutboxEntry]
    outbox_seq: int
    pending: bool
    notes: list[dict[str, Any]] = field(default_factory=list)
    trace: dict[str, str] = field(default_factory=dict)
    lease: tuple[str, datetime] | None = None


Interleaved = Callable[["FakeDossierStore"], None]


class FakeDossierStore:
    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.records: dict[str, StoredDossier] = {}
        self.calls: Counter[str] = Counter()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._interleaved: list[Interleaved] = []

    # ------------------------------------------------------------ test controls

    def before_next_write(self, action: Interleaved) -> None:
        """Run ``action`` just before the next conditional write (one action per write):
        another writer (an officer in another replica) landing between a use case's
        read and its write."""
        self._interleaved.append(action)

    def bump(self, dossier_id: str) -> None:
        """Someone else's committed change: the version moves on."""
        record = self.records[dossier_id]
        record.dossier = record.dossier.model_copy(update={"version": record.dossier.version + 1})

    def events(self, dossier_id: str) -> list[str]:
        """The types of the events waiting in the dossier's outbox, in order."""
        return [e["event"]["type"] for e in self.records[dossier_id].outbox]

    def _write(self, name: str) -> None:
        self.calls[name] += 1
        if self._interleaved:
            self._interleaved.pop(0)(self)

    def _append(self, record: StoredDossier, outbox: Sequence[OutboxEntry]) -> None:
        record.outbox.extend(dict(e) for e in outbox)
        record.outbox_seq += len(outbox)
        record.pending = True

    # ------------------------------------------------------------ writes

    async def insert_many(self, dossiers: Sequence[NewDossier]) -> list[bool]:
        # One write for all of them, unordered: a dossier already there leaves the
        # others to be inserted.
        self._write("insert_many")
        created = []
        for new in dossiers:
            if new.dossier.id in self.records:
                created.append(False)
                continue
            self.records[new.dossier.id] = StoredDossier(
                dossier=new.dossier.model_copy(deep=True),
                applied=[new.event_id],
                outbox=[dict(e) for e in new.outbox],
                outbox_seq=len(new.outbox),
                pending=True,
                trace=dict(new.trace),
            )
            created.append(True)
        return created

    async def commit(
        self,
        dossier: Dossier,
        expected_version: int,
        outbox: Sequence[OutboxEntry],
        event_id: str | None = None,
        clear_overdue: bool = False,
    ) -> bool:
        self._write("commit")
        record = self.records.get(dossier.id)
        if record is None or record.dossier.version != expected_version:
            return False
        if event_id is not None and event_id in record.applied:
            return False
        kept = {name: getattr(record.dossier, name) for name in SCAN_FIELDS}
        # As the real store: the issued result is written by record_result alone.
        kept["result_document"] = record.dossier.result_document
        if clear_overdue:
            kept["overdue_at"] = None
        record.dossier = dossier.model_copy(update=kept, deep=True)
        if event_id is not None:
            record.applied.append(event_id)
        self._append(record, outbox)
        return True

    async def record_result(self, dossier_id: str, result: dict[str, Any]) -> bool:
        self._write("record_result")
        record = self.records.get(dossier_id)
        if record is None:
            return False
        if record.dossier.result_document is None:
            record.dossier = record.dossier.model_copy(
                update={"result_document": IssuedResult.model_validate(result)}
            )
        return True

    async def mark_applied(self, dossier_id: str, event_id: str) -> None:
        self._write("mark_applied")
        record = self.records.get(dossier_id)
        if record is not None and event_id not in record.applied:
            record.applied.append(event_id)

    async def add_note(
        self,
        dossier_id: str,
        agency: str,
        note: dict[str, Any],
        outbox: Sequence[OutboxEntry],
        versions: Collection[int] | None = None,
    ) -> bool:
        self._write("add_note")
        record = self.records.get(dossier_id)
        if record is None or record.dossier.agency != agency:
            return False
        if versions is not None and record.dossier.version not in versions:
            return False
        record.notes.append(dict(note))
        self._append(record, outbox)
        return True

    async def flag_overdue(
        self, dossier_id: str, due_date: date, at: datetime, outbox: Sequence[OutboxEntry]
    ) -> bool:
        self._write("flag_overdue")
        record = self.records.get(dossier_id)
        if record is None:
            return False
        stored = record.dossier
        if (
            stored.overdue_at is not None
            or stored.status not in RUNNING_STATUSES
            or stored.due_date != due_date
        ):
            return False
        record.dossier = stored.model_copy(update={"overdue_at": at})
        self._append(record, outbox)
        return True

    # ------------------------------------------------------------ reads

    async def get(self, dossier_id: str) -> Dossier | None:
        self.calls["get"] += 1
        record = self.records.get(dossier_id)
        return None if record is None else record.dossier.model_copy(deep=True)

    async def get_for_event(self, dossier_id: str, event_id: str) -> tuple[Dossier, bool] | None:
        self.calls["get_for_event"] += 1
        record = self.records.get(dossier_id)
        if record is None:
            return None
        return record.dossier.model_copy(deep=True), event_id in record.applied

    async def get_for_agency(
        self, dossier_id: str, agency: str
    ) -> tuple[Dossier, list[dict[str, Any]]] | None:
        self.calls["get_for_agency"] += 1
        record = self.records.get(dossier_id)
        if record is None or record.dossier.agency != agency:
            return None
        return record.dossier.model_copy(deep=True), [dict(n) for n in record.notes]

    async def get_for_officer(
        self, dossier_id: str, agency: str
    ) -> tuple[Dossier, dict[str, str]] | None:
        self.calls["get_for_officer"] += 1
        record = self.records.get(dossier_id)
        if record is None or record.dossier.agency != agency:
            return None
        return record.dossier.model_copy(deep=True), dict(record.trace)

    async def queue(
        self, where: QueueFilter, sort_field: str, after: tuple[Any, str] | None, limit: int
    ) -> list[QueueRow]:
        def key(d: Dossier) -> tuple[Any, str]:
            # As stored: a date-only field is an ISO string, a datetime a BSON date.
            value = getattr(d, sort_field)
            return (value.isoformat() if sort_field == "due_date" else value, d.id)

        wanted = set(where.statuses)
        found = []
        for record in self.records.values():
            d = record.dossier
            if d.agency != where.agency or d.status not in wanted:
                continue
            if where.procedure_code and d.procedure_code != where.procedure_code:
                continue
            if where.receipt_code and d.receipt_code != where.receipt_code:
                continue
            if where.received_from is not None and d.received_on < where.received_from:
                continue
            if where.received_to is not None and d.received_on > where.received_to:
                continue
            if not set(where.applicant_lookup) <= set(d.applicant_lookup):
                continue
            if where.due_on_or_before is not None and d.due_date > where.due_on_or_before:
                continue
            if where.overdue_before is not None and d.due_date >= where.overdue_before:
                continue
            if where.assignee is not None and d.assignee != where.assignee:
                continue
            if where.assignee is None and where.unassigned and d.assignee is not None:
                continue
            if after is not None and key(d) <= after:
                continue
            found.append(d)
        found.sort(key=key)
        return [
            QueueRow(
                dossier_id=d.id,
                receipt_code=d.receipt_code,
                procedure_code=d.procedure_code,
                procedure_name_vi=d.procedure_name_vi,
                procedure_name_en=d.procedure_name_en,
                kind=d.kind,
                status=d.status,
                version=d.version,
                submitted_at=d.submitted_at,
                due_date=d.due_date,
                new_due_date=d.apology.new_due_date if d.apology else None,
                assignee=d.assignee,
            )
            for d in found[:limit]
        ]

    async def overdue_candidates(self, today: date, limit: int = 500) -> list[Dossier]:
        return [
            r.dossier.model_copy(deep=True)
            for r in self.records.values()
            if r.dossier.status in RUNNING_STATUSES
            and r.dossier.due_date < today
            and r.dossier.overdue_at is None
        ][:limit]

    def _cohort(
        self, first: date, last: date, agency: str | None, procedure_code: str | None
    ) -> list[Dossier]:
        return [
            r.dossier
            for r in self.records.values()
            if first <= r.dossier.received_on <= last
            and (not agency or r.dossier.agency == agency)
            and (not procedure_code or r.dossier.procedure_code == procedure_code)
        ]

    async def outcome_counts(
        self,
        first: date,
        last: date,
        agency: str | None = None,
        procedure_code: str | None = None,
    ) -> list[OutcomeCount]:
        self.calls["outcome_counts"] += 1
        groups: dict[tuple[str, str, Outcome], list[int]] = {}
        for d in self._cohort(first, last, agency, procedure_code):
            group = groups.setdefault((d.agency, d.procedure_code, d.outcome), [0, 0])
            group[0] += 1
            group[1] += d.working_days_taken or 0
        return [
            OutcomeCount(agency=a, procedure_code=p, outcome=o, count=c, working_days=w)
            for (a, p, o), (c, w) in groups.items()
        ]

    async def overdue_counts(
        self,
        first: date,
        last: date,
        today: date,
        agency: str | None = None,
        procedure_code: str | None = None,
    ) -> list[OverdueCount]:
        self.calls["overdue_counts"] += 1
        groups: Counter[tuple[str, str]] = Counter()
        for d in self._cohort(first, last, agency, procedure_code):
            if d.status in RUNNING_STATUSES and d.due_date < today:
                groups[(d.agency, d.procedure_code)] += 1
        return [OverdueCount(agency=a, procedure_code=p, count=c) for (a, p), c in groups.items()]

    # ------------------------------------------------------------ outbox

    def _claimable(self, record: StoredDossier) -> bool:
        return record.pending and (record.lease is None or record.lease[1] <= self._clock())

    async def pending_outboxes(self, limit: int) -> list[str]:
        return [i for i, r in self.records.items() if self._claimable(r)][:limit]

    async def claim_outboxes(self, dossier_ids: Sequence[str], lease_s: float) -> OutboxClaim:
        claim = OutboxClaim(token=uuid.uuid4().hex)
        if not dossier_ids:
            return claim
        until = self._clock() + timedelta(seconds=lease_s)
        for dossier_id in dossier_ids:
            record = self.records.get(dossier_id)
            if record is not None and self._claimable(record):
                record.lease = (claim.token, until)
        for dossier_id in dict.fromkeys(dossier_ids):
            record = self.records.get(dossier_id)
            if record is None:
                continue
            if record.lease is not None and record.lease[0] == claim.token:
                claim.outboxes.append(
                    ClaimedOutbox(
                        dossier_id=dossier_id,
                        entries=[dict(e) for e in record.outbox],
                        seq=record.outbox_seq,
                    )
                )
            elif record.pending:
                claim.busy.append(dossier_id)
        return claim

    async def mark_published(self, claim: OutboxClaim) -> None:
        for outbox in claim.outboxes:
            record = self.records.get(outbox.dossier_id)
            if record is None or record.lease is None or record.lease[0] != claim.token:
                continue
            if record.outbox_seq == outbox.seq:
                record.outbox = []
                record.pending = False
            else:
                sent = {e["id"] for e in outbox.entries}
                record.outbox = [e for e in record.outbox if e["id"] not in sent]
            record.lease = None

    async def release(self, claim: OutboxClaim) -> None:
        for outbox in claim.outboxes:
            record = self.records.get(outbox.dossier_id)
            if record is not None and record.lease is not None and record.lease[0] == claim.token:
                record.lease = None


class FakePublisher:
    """Remembers what it sent; ``down`` makes it refuse as a broker out of reach does."""

    def __init__(self) -> None:
        self.sent: list[Envelope] = []
        self.down = False
        # Runs while a batch is in flight, before the broker acknowledges it.
        self.during_send: Callable[[], Awaitable[None]] | None = None

    async def publish_many(
        self,
        envelopes: Sequence[Envelope],
        *,
        trace_carriers: Sequence[Mapping[str, str] | None] | None = None,
    ) -> None:
        if self.down:
            raise PublishUnavailable("broker unreachable")
        if self.during_send is not None:
            await self.during_send()
        self.sent.extend(envelopes)

    @property
    def sent_ids(self) -> list[str]:
        return [e.id for e in self.sent]
