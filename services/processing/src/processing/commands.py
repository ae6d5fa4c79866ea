"""Applies commands to dossiers: read, decide with the domain rules, write atomically.

Each command ends in exactly one single-document write that carries the new state, the
version bump, the events to publish (the outbox) and, for an inbound event, its id.
The relay publishes the outbox afterwards; if the process dies in between, the events
are still in the document and go out after the restart.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from chassis.calendar import WorkingCalendar
from chassis.catalogue import Catalogue
from chassis.events import (
    DossierSubmitted,
    DossierSupplemented,
    DossierWithdrawalRequested,
    Envelope,
    EventData,
    PoisonMessage,
    make_event,
)
from chassis.kafka import ConsumedEvent
from chassis.telemetry import capture_context, linked_span
from processing.adapters.store import DossierStore, OutboxEntry
from processing.domain import dossier as rules
from processing.domain.dossier import ActionParams, Change, Dossier
from processing.domain.workflow import Action, ActorRole, WorkflowError
from processing.settings import ProcessingSettings

log = logging.getLogger(__name__)

SOURCE = "/hoso/processing"

# The exit status of the test-only crash, so a test can tell it from a real failure.
CRASH_EXIT_CODE = 86

# Inbound events race only with officers' commands on the same dossier; a few re-reads
# settle that.
_INBOUND_ATTEMPTS = 8


class DossierNotVisible(Exception):
    """No such dossier in the caller's agency: it does not exist or is another agency's."""


class VersionMismatch(Exception):
    def __init__(self, current: int) -> None:
        super().__init__(f"the dossier is at version {current}")
        self.current = current


@dataclass(frozen=True)
class Officer:
    """Who is acting, as the API saw them."""

    subject: str
    actor: str
    agency: str
    role: ActorRole


@dataclass(frozen=True)
class ScanReport:
    overdue: int
    apologies: int


def outbox_entries(events: Sequence[EventData], actor: str) -> list[OutboxEntry]:
    """Envelopes ready to publish, each with the trace context of the cause."""
    entries = []
    for data in events:
        envelope: Envelope = make_event(data, source=SOURCE, actor=actor)
        entries.append(
            {
                "id": envelope.id,
                "event": envelope.model_dump(mode="json"),
                "trace": capture_context(),
            }
        )
    return entries


class DossierService:
    def __init__(
        self,
        store: DossierStore,
        settings: ProcessingSettings,
        catalogue: Catalogue,
        calendar: WorkingCalendar,
        wake_relay: Callable[[str], None],
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._catalogue = catalogue
        self._calendar = calendar
        self._wake_relay = wake_relay
        self._clock = clock or (lambda: datetime.now(UTC))

    @property
    def calendar(self) -> WorkingCalendar:
        return self._calendar

    def now(self) -> datetime:
        return self._clock()

    def _written(self, dossier_id: str) -> None:
        """Called right after every store write that carries events, with no await in
        between, so that the test-only crash lands before the relay can send them."""
        if self._settings.test_crash_after_store_write:
            os._exit(CRASH_EXIT_CODE)
        self._wake_relay(dossier_id)

    # ----------------------------------------------------------------- inbound events

    async def receive(self, event: ConsumedEvent) -> None:
        submitted = event.payload
        assert isinstance(submitted, DossierSubmitted)
        procedure = self._catalogue.get(submitted.procedure_code)
        agency_code = procedure.agency if procedure else submitted.agency
        agency = self._catalogue.agencies.get(agency_code)
        if procedure is None:
            log.warning(
                "procedure %s is not in the catalogue; dossier %s received without a "
                "document check",
                submitted.procedure_code,
                submitted.dossier_id,
            )
        change = rules.open_dossier(submitted, procedure, agency, self.now(), self._calendar)
        created = await self._store.insert(
            change.dossier,
            outbox_entries(change.events, rules.SYSTEM_ACTOR),
            event.id,
            trace=capture_context(),
        )
        if created:
            self._written(change.dossier.id)

    async def supplement(self, event: ConsumedEvent) -> None:
        supplemented = event.payload
        assert isinstance(supplemented, DossierSupplemented)
        await self._apply_inbound(
            event,
            supplemented.dossier_id,
            Action.SUPPLEMENT,
            ActionParams(reason=supplemented.note, attachments=supplemented.attachments),
        )

    async def withdraw(self, event: ConsumedEvent) -> None:
        requested = event.payload
        assert isinstance(requested, DossierWithdrawalRequested)
        await self._apply_inbound(
            event, requested.dossier_id, Action.WITHDRAW, ActionParams(reason=requested.reason)
        )

    async def _apply_inbound(
        self, event: ConsumedEvent, dossier_id: str, action: Action, params: ActionParams
    ) -> None:
        for _ in range(_INBOUND_ATTEMPTS):
            dossier = await self._store.get(dossier_id)
            if dossier is None:
                # Intake publishes a dossier's events on one partition in order, so the
                # submission always comes first; without it this event can never apply.
                raise PoisonMessage(f"{action} for unknown dossier {dossier_id}")
            if await self._store.applied(dossier_id, event.id):
                return
            try:
                change = rules.take_action(
                    dossier,
                    action,
                    ActorRole.CITIZEN,
                    event.envelope.actor,
                    params,
                    self.now(),
                    self._calendar,
                )
            except WorkflowError as exc:
                # A withdrawal after the decision, a supplement nobody asked for: the
                # request is answered by the dossier's state, there is nothing to change.
                log.info("%s on dossier %s not applied: %s", action, dossier_id, exc)
                await self._store.mark_applied(dossier_id, event.id)
                return
            entries = outbox_entries(change.events, event.envelope.actor)
            if await self._store.commit(change.dossier, dossier.version, entries, event.id):
                self._written(dossier_id)
                return
        raise RuntimeError(f"dossier {dossier_id} kept changing while applying {action}")

    # ----------------------------------------------------------------- officers

    async def view(self, dossier_id: str, agency: str) -> tuple[Dossier, list[dict[str, Any]]]:
        found = await self._store.get_for_agency(dossier_id, agency)
        if found is None:
            raise DossierNotVisible(dossier_id)
        return found

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
        async with self._officer_span(f"officer {action.value}", dossier_id):
            dossier = await self._checked(dossier_id, officer, expected_versions)
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

    async def assign(
        self,
        dossier_id: str,
        officer: Officer,
        expected_versions: frozenset[int] | None,
        assignee: str,
    ) -> Dossier:
        async with self._officer_span("officer assign", dossier_id):
            dossier = await self._checked(dossier_id, officer, expected_versions)
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
        async with self._officer_span("officer add-note", dossier_id):
            dossier = await self._checked(dossier_id, officer, expected_versions)
            now = self.now()
            note = {
                "id": str(uuid.uuid4()),
                "officer_id": officer.subject,
                "text": text,
                "at": now,
            }
            event = rules.add_note(dossier, note["id"], officer.subject, text, now)
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

    @asynccontextmanager
    async def _officer_span(self, name: str, dossier_id: str) -> AsyncIterator[None]:
        """An officer's action is its own trace (the request's), linked to the trace of
        the dossier's submission; the events it emits continue the officer's trace."""
        carrier = await self._store.trace_context(dossier_id)
        with linked_span(name, carrier, attributes={"hoso.dossier_id": dossier_id}):
            yield

    async def _checked(
        self, dossier_id: str, officer: Officer, expected_versions: frozenset[int] | None
    ) -> Dossier:
        found = await self._store.get_for_agency(dossier_id, officer.agency)
        if found is None:
            raise DossierNotVisible(dossier_id)
        dossier = found[0]
        if expected_versions is not None and dossier.version not in expected_versions:
            raise VersionMismatch(dossier.version)
        return dossier

    async def _commit(self, before: Dossier, change: Change, actor: str) -> Dossier:
        entries = outbox_entries(change.events, actor)
        # The write's filter requires the version read, which _checked matched against
        # If-Match: of two officers (in any replicas) deciding on it, one write matches.
        if not await self._store.commit(change.dossier, before.version, entries):
            # Someone else wrote between our read and our write: their change stands.
            current = await self._store.get(before.id)
            raise VersionMismatch(current.version if current else before.version)
        self._written(before.id)
        return change.dossier

    # ----------------------------------------------------------------- deadlines

    async def overdue_by_agency(self) -> dict[str, int]:
        """Running dossiers past their due date today, per agency, whenever received;
        every agency of the catalogue is listed, with 0 when it has none."""
        today = self._calendar.local_date(self.now())
        by_agency = dict.fromkeys(self._catalogue.agencies, 0)
        for row in await self._store.overdue_counts(date.min, today, today):
            by_agency[row.agency] = by_agency.get(row.agency, 0) + row.count
        return by_agency

    async def scan_deadlines(self) -> ScanReport:
        """One pass of the deadline scan. Safe to run as often as anyone likes, from as
        many processes as there are: each dossier's overdue event and apology slip are
        written under a condition that holds only once."""
        now = self.now()
        today = self._calendar.local_date(now)
        overdue = 0
        for dossier in await self._store.overdue_candidates(today):
            event = rules.notice_overdue(dossier, now, self._calendar)
            if event is None:
                continue
            entries = outbox_entries([event], rules.SYSTEM_ACTOR)
            if await self._store.flag_overdue(dossier.id, dossier.due_date, now, entries):
                overdue += 1
                self._written(dossier.id)

        apologies = 0
        warning = self._settings.apology_warning_working_days
        # Every dossier the slip may be due for is due within this many working days.
        horizon = self._calendar.add_working_days(today, warning + 1)
        for dossier in await self._store.apology_candidates(horizon):
            issued = rules.issue_apology(
                dossier,
                now,
                self._calendar,
                warning,
                self._settings.apology_extension_working_days,
            )
            if issued is None:
                continue
            apology, event = issued
            entries = outbox_entries([event], rules.SYSTEM_ACTOR)
            if await self._store.record_apology(dossier.id, apology, entries):
                apologies += 1
                self._written(dossier.id)
        return ScanReport(overdue=overdue, apologies=apologies)
