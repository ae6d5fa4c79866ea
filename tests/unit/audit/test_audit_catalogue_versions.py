"""A catalogue version that comes into force is one audit entry, however many intake
replicas (or restarts) announce it: the event id is derived from the version's content
and audit records an event id once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from cryptography.fernet import Fernet

from audit.domain.personal_data import PersonalDataCipher
from audit.service.recording import EventRecorder, IncomingEvent
from chassis.catalogue import load_default_catalogue
from chassis.catalogue.holder import activation_event
from chassis.events import Envelope, EventType, Topics
from tests.unit.audit.fakes import FakeAuditLog, StoreDown

CIPHER = PersonalDataCipher([Fernet.generate_key()])
NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


def recorder(store: FakeAuditLog) -> EventRecorder:
    async def no_wait(_: float) -> None:
        await asyncio.sleep(0)

    return EventRecorder(
        store,
        CIPHER,
        retry_delay=lambda attempt: float(attempt),
        unreachable=lambda exc: isinstance(exc, StoreDown),
        clock=lambda: NOW,
        sleep=no_wait,
    )


def announced_by(replica: int) -> Envelope:
    catalogue = load_default_catalogue()
    return activation_event(
        catalogue,
        catalogue.changes_since(None),
        datetime(2026, 12, 7, 0, replica, tzinfo=UTC),
        source=f"/hoso/intake/{replica}",
        actor="system:intake",
    )


def incoming(envelope: Envelope) -> IncomingEvent:
    return IncomingEvent(envelope, trace_id=None, stream=(Topics.CATALOGUE, 0))


async def test_two_replicas_announcing_one_version_leave_one_entry() -> None:
    store = FakeAuditLog()
    first, second = announced_by(1), announced_by(2)
    assert first.id == second.id

    together = await recorder(store).record([incoming(first), incoming(second)])
    later = await recorder(store).record([incoming(announced_by(3))])

    assert (together.appended, together.skipped) == (1, 1)
    assert (later.appended, later.skipped) == (0, 1)
    (entry,) = store.entries()
    assert entry.event_type == EventType.CATALOGUE_VERSION_ACTIVATED.value
    assert entry.event_id == first.id
    # Nobody's dossier: the entry is not filed under one.
    assert entry.dossier_id is None
