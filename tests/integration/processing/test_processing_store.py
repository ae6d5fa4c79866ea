"""The store adapter's conditional writes against the real store, both ways it can check
a condition: in the update's filter (MongoDB) and itself after a look-up by id (what it
does on FerretDB)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorCollection

from chassis.calendar import DEFAULT_CALENDAR
from chassis.catalogue import load_default_catalogue
from chassis.events import Applicant, ApplicantType, Channel, DossierKind, DossierSubmitted
from processing.adapters.store import DossierStore
from processing.domain import dossier as rules
from processing.domain.dossier import Apology, Dossier
from processing.domain.workflow import Action, ActorRole
from tests.integration.processing.processing_harness import attachment
from tests.support.infra import Infra

pytestmark = pytest.mark.integration

CATALOGUE = load_default_catalogue()


@dataclass
class Store:
    adapter: DossierStore
    raw: AsyncIOMotorCollection[Any]

    async def outbox(self, dossier_id: str) -> list[str]:
        document = await self.raw.find_one({"_id": dossier_id})
        assert document is not None
        return [e["id"] for e in document["outbox"]]


@pytest.fixture(params=["conditions in the filter", "conditions checked by the adapter"])
async def db(request: pytest.FixtureRequest, infra: Infra, run_id: str) -> AsyncIterator[Store]:
    client: AsyncIOMotorClient[Any] = AsyncIOMotorClient(infra.mongodb, tz_aware=True)
    name = f"{run_id}_processing_store_{uuid.uuid4().hex[:6]}"
    # Whatever the store is, exercise the way this parameter names.
    adapter = DossierStore(
        client[name], conditions_in_filter=request.param == "conditions in the filter"
    )
    await adapter.create_indexes()
    yield Store(adapter, client[name]["dossiers"])
    await client.drop_database(name)
    client.close()


def _received(submitted_at: datetime | None = None) -> Dossier:
    procedure = CATALOGUE.get("MT-004")
    assert procedure is not None
    submitted = DossierSubmitted(
        dossier_id=str(uuid.uuid4()),
        receipt_code="MT-T-1",
        procedure_code="MT-004",
        agency=procedure.agency,
        kind=DossierKind.PROCEDURE,
        channel=Channel.ONLINE,
        submitted_at=submitted_at or datetime.now(UTC),
        due_date=date.today(),
        applicant=Applicant(type=ApplicantType.PERSON, name="A", email="a@example.vn"),
        form={},
        attachments=[attachment("application_form"), attachment("business_registration")],
    )
    return rules.open_dossier(
        submitted,
        procedure,
        CATALOGUE.agencies[procedure.agency],
        datetime.now(UTC),
        DEFAULT_CALENDAR,
    ).dossier


def _entry() -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "event": {}, "trace": {}}


async def test_a_change_is_written_once_against_its_version(db: Store) -> None:
    store = db.adapter
    dossier = _received()
    assert await store.insert(dossier, [_entry()], "submitted-1")
    assert not await store.insert(dossier, [_entry()], "submitted-1")
    reviewed = rules.take_action(
        dossier,
        Action.START_REVIEW,
        ActorRole.OFFICER,
        "officer:o",
        rules.ActionParams(),
        datetime.now(UTC),
        DEFAULT_CALENDAR,
        officer_id="o",
    ).dossier
    assert await store.commit(reviewed, 1, [_entry()])
    assert not await store.commit(reviewed, 1, [_entry()])
    stored = await store.get(dossier.id)
    assert stored is not None
    assert (stored.status.value, stored.version) == ("in_review", 2)
    assert len(await db.outbox(dossier.id)) == 2


async def test_an_inbound_event_applies_once(db: Store) -> None:
    store = db.adapter
    dossier = _received()
    await store.insert(dossier, [], "submitted-2")
    bumped = dossier.model_copy(update={"version": 2})
    assert await store.commit(bumped, 1, [_entry()], event_id="withdraw-1")
    again = dossier.model_copy(update={"version": 3})
    assert not await store.commit(again, 2, [_entry()], event_id="withdraw-1")
    assert await store.applied(dossier.id, "withdraw-1")
    await store.mark_applied(dossier.id, "late-1")
    await store.mark_applied(dossier.id, "late-1")
    document = await db.raw.find_one({"_id": dossier.id})
    assert document is not None
    assert document["applied_events"] == ["submitted-2", "withdraw-1", "late-1"]


async def test_sent_entries_leave_the_outbox_and_later_ones_stay(db: Store) -> None:
    store = db.adapter
    dossier = _received()
    first, second = _entry(), _entry()
    await store.insert(dossier, [first], "submitted-3")
    assert await store.commit(dossier.model_copy(update={"version": 2}), 1, [second])
    # The relay sent only the first (the second arrived after its read).
    await store.mark_published([(dossier.id, [first["id"]])])
    assert await db.outbox(dossier.id) == [second["id"]]
    assert [d["_id"] for d in await store.pending_outboxes()] == [dossier.id]
    await store.mark_published([(dossier.id, [second["id"]])])
    assert await db.outbox(dossier.id) == []
    assert await store.pending_outboxes() == []


async def test_overdue_and_apology_are_recorded_once(db: Store) -> None:
    store = db.adapter
    dossier = _received(datetime.now(UTC) - timedelta(days=60))
    await store.insert(dossier, [], "submitted-4")
    now = datetime.now(UTC)
    outcomes = await asyncio.gather(
        *(store.flag_overdue(dossier.id, dossier.due_date, now, [_entry()]) for _ in range(5))
    )
    assert sorted(outcomes) == [False, False, False, False, True]
    apology = Apology(old_due_date=dossier.due_date, new_due_date=date.today(), issued_at=now)
    assert await store.record_apology(dossier.id, apology, [_entry()])
    assert not await store.record_apology(dossier.id, apology, [_entry()])
    assert len(await db.outbox(dossier.id)) == 2
    # An officer's change afterwards leaves what the scan wrote alone.
    assert await store.commit(dossier.model_copy(update={"version": 2}), 1, [])
    stored = await store.get(dossier.id)
    assert stored is not None
    assert stored.overdue_at is not None
    assert stored.apology is not None
