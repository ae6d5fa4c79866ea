"""Processing's use cases: what intake's events, officers, the deadline scan and the
public ask of a dossier.

Each write ends in exactly one conditional single-document write that carries the new
state, the version bump, the events to publish (the outbox) and, for an inbound event,
its id; the submissions of a consumed batch share one insert of all their documents.
The relay publishes the outbox afterwards; if the process dies in between, the events
are still in the document and go out after the restart.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from cachetools import TTLCache

from chassis.calendar import WorkingCalendar
from chassis.catalogue import Catalogue
from chassis.events import (
    DossierResultIssued,
    DossierSubmitted,
    DossierSupplemented,
    DossierWithdrawalRequested,
    PoisonMessage,
)
from chassis.telemetry import capture_context, linked_span
from processing.domain import dossier as rules
from processing.domain.dossier import OPEN_STATUSES, RUNNING_STATUSES, ActionParams, Change, Dossier
from processing.domain.statistics import Tally, roll_up
from processing.domain.workflow import (
    TERMINAL_STATUSES,
    Action,
    ActorRole,
    DossierStatus,
    WorkflowError,
)
from processing.service.lookup import ApplicantLookup
from processing.service.outbox import outbox_entries
from processing.service.ports import DossierStore, NewDossier, QueueFilter, QueueRow
from processing.settings import ProcessingSettings

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
QueueSort = Literal["due_date", "received"]

# Inbound events race only with officers' commands on the same dossier; a few re-reads
# settle that.
INBOUND_ATTEMPTS = 8

# Officers work on everything that still needs them: open cases and decided ones whose
# result has not been handed over yet.
DEFAULT_QUEUE_STATUSES = [s for s in DossierStatus if s not in TERMINAL_STATUSES]

SORT_FIELDS: dict[QueueSort, str] = {"due_date": "due_date", "received": "submitted_at"}


class DossierNotVisible(Exception):
    """No such dossier in the caller's agency: it does not exist or is another agency's."""


class VersionMismatch(Exception):
    def __init__(self, current: int) -> None:
        super().__init__(f"the dossier is at version {current}")
        self.current = current


class SearchUnavailable(Exception):
    """The search by phone or ID number needs ``PROCESSING_SEARCH_KEY``."""


class InvalidPeriod(Exception):
    """A statistics period the service does not answer for."""

    def __init__(self, message: str, parameter: str, detail: str) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.detail = detail


@dataclass(frozen=True)
class Officer:
    """Who is acting, as the API saw them."""

    subject: str
    actor: str
    agency: str
    role: ActorRole


@dataclass(frozen=True)
class Submission:
    """A consumed submission: the event's payload and id, and the trace context it is
    handled in (which the dossier and its first events carry)."""

    submitted: DossierSubmitted
    event_id: str
    trace: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ScanReport:
    overdue: int


@dataclass(frozen=True)
class SearchQuery:
    """What an officer looks a dossier up by; every criterion given must hold."""

    receipt_code: str | None = None
    statuses: Sequence[DossierStatus] | None = None
    procedure_code: str | None = None
    # Received on or after / on or before these days (the department's dates).
    submitted_from: date | None = None
    submitted_to: date | None = None
    phone: str | None = None
    id_number: str | None = None
    # The (received time, dossier id) the previous page ended with.
    after: tuple[Any, str] | None = None
    limit: int = 20


@dataclass(frozen=True)
class QueueQuery:
    statuses: Sequence[DossierStatus] | None = None
    procedure_code: str | None = None
    # Due on or before today plus this many days.
    due_within_days: int | None = None
    overdue: bool = False
    # "me", "none" or an officer's id.
    assigned_to: str | None = None
    sort: QueueSort = "due_date"
    # The (sort value, dossier id) the previous page ended with.
    after: tuple[Any, str] | None = None
    limit: int = 20


@dataclass(frozen=True)
class QueueEntry:
    row: QueueRow
    appointment_date: date
    overdue: bool
    clock_paused: bool


@dataclass(frozen=True)
class QueuePage:
    entries: list[QueueEntry]
    # The key the next page continues from; None on the last page.
    next_after: tuple[date | datetime, str] | None


@dataclass(frozen=True)
class NamedTally:
    code: str
    name_vi: str
    name_en: str
    tally: Tally


@dataclass(frozen=True)
class Statistics:
    first: date
    last: date
    as_of: date
    procedures: list[NamedTally]
    agencies: list[NamedTally]
    total: Tally


_CacheKey = tuple[date, date, str | None, str | None, date]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ProcessingService:
    """The use cases, over a store and a clock.

    ``wake_relay`` is called right after every store write that carries events, with no
    await in between, so the relay can send them at once.
    """

    def __init__(
        self,
        store: DossierStore,
        settings: ProcessingSettings,
        catalogue: Catalogue,
        calendar: WorkingCalendar,
        wake_relay: Callable[[str], None],
        clock: Clock | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._catalogue = catalogue
        self._calendar = calendar
        self._written = wake_relay
        self._clock = clock or _utc_now
        key = settings.search_key
        self._lookup = ApplicantLookup(key.get_secret_value().encode() if key else None)
        # Many citizens look at the same page; a short cache keeps them off the store.
        self._statistics_cache: TTLCache[_CacheKey, Statistics] | None = (
            TTLCache(maxsize=512, ttl=settings.statistics_cache_s)
            if settings.statistics_cache_s > 0
            else None
        )

    @property
    def settings(self) -> ProcessingSettings:
        return self._settings

    def now(self) -> datetime:
        return self._clock()

    def today(self) -> date:
        """The date in the department's time zone."""
        return self._calendar.local_date(self.now())

    # ----------------------------------------------------------------- inbound events

    async def receive(self, submitted: DossierSubmitted, event_id: str) -> None:
        """A submission from intake opens the dossier, once per event."""
        await self.receive_many([Submission(submitted, event_id, capture_context())])

    async def receive_many(self, submissions: Sequence[Submission]) -> list[str]:
        """Submissions from intake open their dossiers, once per event, in one store
        write for all of them; the ids of the dossiers this call opened (a submission
        received before opens nothing again)."""
        opened = [self._open(submission) for submission in submissions]
        created = await self._store.insert_many(opened)
        written = [new.dossier.id for new, fresh in zip(opened, created, strict=True) if fresh]
        # No await from the write to here: the relay is woken for every dossier at once.
        for dossier_id in written:
            self._written(dossier_id)
        return written

    def _open(self, submission: Submission) -> NewDossier:
        submitted = submission.submitted
        # The rules of the catalogue version the dossier was lodged under.
        catalogue = self._catalogue.at(submitted.catalogue_version)
        procedure = catalogue.get(submitted.procedure_code)
        agency_code = procedure.agency if procedure else submitted.agency
        agency = catalogue.agencies.get(agency_code)
        if procedure is None:
            log.warning(
                "procedure %s is not in the catalogue; dossier %s received without a "
                "document check",
                submitted.procedure_code,
                submitted.dossier_id,
            )
        applicant = submitted.applicant
        change = rules.open_dossier(
            submitted,
            procedure,
            agency,
            self.now(),
            self._calendar,
            applicant_lookup=self._lookup.of_applicant(applicant.phone, applicant.id_number),
        )
        return NewDossier(
            dossier=change.dossier,
            outbox=outbox_entries(change.events, rules.SYSTEM_ACTOR, trace=submission.trace),
            event_id=submission.event_id,
            trace=dict(submission.trace),
        )

    async def supplement(
        self, supplemented: DossierSupplemented, event_id: str, actor: str
    ) -> None:
        """The applicant sent the documents asked for."""
        await self._apply_inbound(
            event_id,
            actor,
            supplemented.dossier_id,
            Action.SUPPLEMENT,
            ActionParams(reason=supplemented.note, attachments=supplemented.attachments),
        )

    async def withdraw(
        self, requested: DossierWithdrawalRequested, event_id: str, actor: str
    ) -> None:
        """The applicant withdraws the dossier."""
        await self._apply_inbound(
            event_id,
            actor,
            requested.dossier_id,
            Action.WITHDRAW,
            ActionParams(reason=requested.reason),
        )

    async def record_result(self, issued: DossierResultIssued) -> None:
        """Intake issued the approved dossier's signed result: keep its id and hash, so
        that returning the result hands over that document."""
        found = await self._store.record_result(
            issued.dossier_id,
            {
                "document_id": issued.document_id,
                "sha256": issued.sha256,
                "decision_number": issued.decision_number,
                "issued_at": issued.issued_at,
            },
        )
        if not found:
            # The submission always comes first on the dossier's partition.
            raise PoisonMessage(f"result issued for unknown dossier {issued.dossier_id}")

    async def _apply_inbound(
        self, event_id: str, actor: str, dossier_id: str, action: Action, params: ActionParams
    ) -> None:
        for _ in range(INBOUND_ATTEMPTS):
            found = await self._store.get_for_event(dossier_id, event_id)
            if found is None:
                # Intake publishes a dossier's events on one partition in order, so the
                # submission always comes first; without it this event can never apply.
                raise PoisonMessage(f"{action} for unknown dossier {dossier_id}")
            dossier, applied = found
            if applied:
                return
            try:
                change = rules.take_action(
                    dossier, action, ActorRole.CITIZEN, actor, params, self.now(), self._calendar
                )
            except WorkflowError as exc:
                # A withdrawal after the decision, a supplement nobody asked for: the
                # request is answered by the dossier's state, there is nothing to change.
                log.info("%s on dossier %s not applied: %s", action, dossier_id, exc)
                await self._store.mark_applied(dossier_id, event_id)
                return
            entries = outbox_entries(change.events, actor)
            if await self._store.commit(change.dossier, dossier.version, entries, event_id):
                self._written(dossier_id)
                return
        raise RuntimeError(f"dossier {dossier_id} kept changing while applying {action}")

    # ----------------------------------------------------------------- officers

    async def view(self, dossier_id: str, agency: str) -> tuple[Dossier, list[dict[str, Any]]]:
        """A dossier of the agency, with its notes."""
        found = await self._store.get_for_agency(dossier_id, agency)
        if found is None:
            raise DossierNotVisible(dossier_id)
        return found

    async def queue(self, officer: Officer, query: QueueQuery) -> QueuePage:
        """One page of the officer's agency's work queue."""
        today = self.today()
        statuses = list(dict.fromkeys(query.statuses)) if query.statuses else DEFAULT_QUEUE_STATUSES
        if query.overdue:
            statuses = [s for s in statuses if s in RUNNING_STATUSES]
        assignee, unassigned = None, False
        if query.assigned_to == "me":
            assignee = officer.subject
        elif query.assigned_to == "none":
            unassigned = True
        elif query.assigned_to:
            assignee = query.assigned_to
        due_within = query.due_within_days
        where = QueueFilter(
            agency=officer.agency,
            statuses=statuses,
            procedure_code=query.procedure_code,
            due_on_or_before=today + timedelta(days=due_within) if due_within is not None else None,
            overdue_before=today if query.overdue else None,
            assignee=assignee,
            unassigned=unassigned,
        )
        # One more than asked for tells whether there is a next page.
        rows = await self._store.queue(where, SORT_FIELDS[query.sort], query.after, query.limit + 1)
        page, more = rows[: query.limit], len(rows) > query.limit
        return self._page(page, more, query.sort, today)

    def _page(self, page: list[QueueRow], more: bool, sort: QueueSort, today: date) -> QueuePage:
        entries = []
        for row in page:
            running = row.status in RUNNING_STATUSES
            entries.append(
                QueueEntry(
                    row=row,
                    appointment_date=max(row.due_date, row.new_due_date or row.due_date),
                    overdue=running and row.due_date < today,
                    clock_paused=row.status in OPEN_STATUSES and not running,
                )
            )
        next_after: tuple[date | datetime, str] | None = None
        if more and page:
            last = page[-1]
            key = last.due_date if sort == "due_date" else last.submitted_at
            next_after = (key, last.dossier_id)
        return QueuePage(entries=entries, next_after=next_after)

    async def search(self, officer: Officer, query: SearchQuery) -> QueuePage:
        """One page of the agency's dossiers matching every criterion given, oldest
        received first, whatever their status by default."""
        lookup: list[str] = []
        if query.phone is not None or query.id_number is not None:
            if not self._lookup.available:
                raise SearchUnavailable("the search by phone or ID number is not configured")
            if query.phone is not None:
                lookup.append(self._lookup.phone(query.phone))
            if query.id_number is not None:
                lookup.append(self._lookup.id_number(query.id_number))
        where = QueueFilter(
            agency=officer.agency,
            statuses=list(dict.fromkeys(query.statuses)) if query.statuses else list(DossierStatus),
            procedure_code=query.procedure_code,
            receipt_code=query.receipt_code,
            received_from=query.submitted_from,
            received_to=query.submitted_to,
            applicant_lookup=lookup,
        )
        rows = await self._store.queue(where, SORT_FIELDS["received"], query.after, query.limit + 1)
        return self._page(rows[: query.limit], len(rows) > query.limit, "received", self.today())

    async def act(
        self,
        dossier_id: str,
        officer: Officer,
        expected_versions: frozenset[int] | None,
        action: Action,
        params: ActionParams,
    ) -> Dossier:
        """Take ``action`` on the dossier if it is at one of ``expected_versions`` (None:
        whatever version it is at)."""
        dossier, carrier = await self._checked(dossier_id, officer, expected_versions)
        with _officer_span(f"officer {action.value}", dossier_id, carrier):
            change = rules.take_action(
                dossier,
                action,
                officer.role,
                officer.actor,
                params,
                self.now(),
                self._calendar,
                officer_id=officer.subject,
            )
            return await self._commit(dossier, change, officer.actor)

    async def claim(
        self, dossier_id: str, officer: Officer, expected_versions: frozenset[int] | None
    ) -> Dossier:
        """The officer takes the dossier into their own hands."""
        return await self.assign(dossier_id, officer, expected_versions, officer.subject)

    async def assign(
        self,
        dossier_id: str,
        officer: Officer,
        expected_versions: frozenset[int] | None,
        assignee: str,
    ) -> Dossier:
        """Put the dossier in ``assignee``'s hands; an officer may not take it from
        another officer, a leader may."""
        dossier, carrier = await self._checked(dossier_id, officer, expected_versions)
        with _officer_span("officer assign", dossier_id, carrier):
            if dossier.assignee == assignee:
                return dossier
            if (
                officer.role is ActorRole.OFFICER
                and dossier.assignee is not None
                and dossier.assignee != officer.subject
            ):
                raise rules.AssignedElsewhere(dossier.assignee)
            change = rules.assign(dossier, assignee, officer.actor, self.now())
            return await self._commit(dossier, change, officer.actor)

    async def add_note(
        self, dossier_id: str, officer: Officer, expected_versions: frozenset[int] | None, text: str
    ) -> dict[str, Any]:
        """An internal note; it leaves the version alone, so an officer's pending
        decision does not fail its If-Match because of it."""
        dossier, carrier = await self._checked(dossier_id, officer, expected_versions)
        with _officer_span("officer add-note", dossier_id, carrier):
            now = self.now()
            note_id = str(uuid.uuid4())
            note: dict[str, Any] = {
                "id": note_id,
                "officer_id": officer.subject,
                "text": text,
                "at": now,
            }
            event = rules.add_note(dossier, note_id, officer.subject, text, now)
            if not await self._store.add_note(
                dossier.id,
                officer.agency,
                note,
                outbox_entries([event], officer.actor),
                expected_versions,
            ):
                # Only a version check can fail here: a dossier never leaves its agency.
                current = await self._store.get(dossier.id)
                raise VersionMismatch(current.version if current else dossier.version)
            self._written(dossier.id)
            return note

    async def _checked(
        self, dossier_id: str, officer: Officer, expected_versions: frozenset[int] | None
    ) -> tuple[Dossier, dict[str, str]]:
        """The dossier an officer acts on, with the trace context of its submission, in
        one read."""
        found = await self._store.get_for_officer(dossier_id, officer.agency)
        if found is None:
            raise DossierNotVisible(dossier_id)
        dossier, carrier = found
        if expected_versions is not None and dossier.version not in expected_versions:
            raise VersionMismatch(dossier.version)
        return dossier, carrier

    async def _commit(self, before: Dossier, change: Change, actor: str) -> Dossier:
        entries = outbox_entries(change.events, actor)
        # The write's filter requires the version read, which _checked matched against
        # If-Match: of two officers (in any replicas) deciding on it, one write matches.
        if not await self._store.commit(
            change.dossier, before.version, entries, clear_overdue=change.clear_overdue
        ):
            # Someone else wrote between our read and our write: their change stands.
            current = await self._store.get(before.id)
            raise VersionMismatch(current.version if current else before.version)
        self._written(before.id)
        return change.dossier

    # ----------------------------------------------------------------- deadlines

    async def overdue_by_agency(self) -> dict[str, int]:
        """Running dossiers past their due date today, per agency, whenever received;
        every agency of the catalogue is listed, with 0 when it has none."""
        today = self.today()
        by_agency = dict.fromkeys(self._catalogue.agencies, 0)
        for row in await self._store.overdue_counts(date.min, today, today):
            by_agency[row.agency] = by_agency.get(row.agency, 0) + row.count
        return by_agency

    async def scan_deadlines(self) -> ScanReport:
        """One pass of the deadline scan. Safe to run as often as anyone likes, from as
        many processes as there are: each dossier's overdue event is written under a
        condition that holds only once per due date.

        The apology slip is no longer the scan's: the responsible unit sets the new date
        and its leader signs the slip (`Action.SIGN_APOLOGY`)."""
        now = self.now()
        today = self._calendar.local_date(now)
        overdue = 0
        for dossier in await self._store.overdue_candidates(today):
            notice = rules.notice_overdue(dossier, now, self._calendar)
            if notice is None:
                continue
            entries = outbox_entries([notice], rules.SYSTEM_ACTOR)
            if await self._store.flag_overdue(dossier.id, dossier.due_date, now, entries):
                overdue += 1
                self._written(dossier.id)
        return ScanReport(overdue=overdue)

    # ----------------------------------------------------------------- public figures

    async def statistics(
        self,
        first: date | None,
        last: date | None,
        agency: str | None,
        procedure_code: str | None,
    ) -> Statistics:
        """On-time figures of the cohort received from ``first`` to ``last``
        (inclusive); by default the current month so far."""
        today = self.today()
        last = last or today
        first = first or last.replace(day=1)
        if first > last:
            raise InvalidPeriod("the period starts after it ends", "from", "must not be after `to`")
        longest = self._settings.statistics_max_days
        if last - first > timedelta(days=longest - 1):
            raise InvalidPeriod(
                f"a period may cover at most {longest} days", "to", "period too long"
            )
        key: _CacheKey = (first, last, agency, procedure_code, today)
        cache = self._statistics_cache
        if cache is not None and key in cache:
            return cache[key]
        outcomes = await self._store.outcome_counts(first, last, agency, procedure_code)
        overdue = await self._store.overdue_counts(first, last, today, agency, procedure_code)
        report = roll_up(outcomes, overdue)
        procedures = []
        for code, tally in report.by_procedure.items():
            procedure = self._catalogue.get(code)
            procedures.append(
                NamedTally(
                    code=code,
                    name_vi=procedure.name_vi if procedure else code,
                    name_en=procedure.name_en if procedure else code,
                    tally=tally,
                )
            )
        agencies = []
        for code, tally in report.by_agency.items():
            known = self._catalogue.agencies.get(code)
            agencies.append(
                NamedTally(
                    code=code,
                    name_vi=known.name_vi if known else code,
                    name_en=known.name_en if known else code,
                    tally=tally,
                )
            )
        result = Statistics(
            first=first,
            last=last,
            as_of=today,
            procedures=procedures,
            agencies=agencies,
            total=report.total,
        )
        if cache is not None:
            cache[key] = result
        return result


@contextmanager
def _officer_span(name: str, dossier_id: str, carrier: Mapping[str, str]) -> Iterator[None]:
    """An officer's action is its own trace (the request's), linked to the trace of the
    dossier's submission; the events it emits continue the officer's trace."""
    with linked_span(name, carrier, attributes={"hoso.dossier_id": dossier_id}):
        yield
