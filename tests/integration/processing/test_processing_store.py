"""The store adapter's conditional writes and outbox claims against the real store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from chassis.calendar import DEFAULT_CALENDAR
from chassis.catalogue import load_default_catalogue
from chassis.events import Applicant, ApplicantType, Channel, DossierKind, DossierSubmitted
from chassis.mongo import StoreClient, StoreCollection
from processing.adapters.store import DossierStore, NewDossier
from processing.domain import dossier as rules
from processing.domain.dossier import Dossier
from processing.domain.workflow import Action, ActorRole
from tests.integration.processing.processing_harness import attachment
from tests.support.infra import Infra

pytestmark = pytest.mark.integration

CATALOGUE = load_default_catalogue()


@dataclass
class Store:
    adapter: DossierStore
    raw: StoreCollection

    async def outbox(self, dossier_id: str) -> list[str]:
        document = await self.raw.find_one({"_id": dossier_id})
        assert document is not None
        return [e["id"] for e in document["outbox"]]


@pytest.fixture
async def db(infra: Infra, run_id: str) -> AsyncIterator[Store]:
    client: StoreClient = AsyncMongoClient(infra.mongodb, tz_aware=True)
    name = f"{run_id}_processing_store_{uuid.uuid4().hex[:6]}"
    adapter = DossierStore(client[name])
    await adapter.create_indexes()
    yield Store(adapter, client[name]["dossiers"])
    await client.drop_database(name)
    await client.close()


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


async def test_dossiers_opened_together_skip_the_ones_already_there(db: Store) -> None:
    store = db.adapter
    known, first, second = _received(), _received(), _received()
    assert await store.insert(known, [_entry()], "submitted-known")
    opened = await store.insert_many(
        [
            NewDossier(first, [_entry()], "submitted-first", {"traceparent": "t1"}),
            NewDossier(known, [_entry()], "submitted-known"),
            NewDossier(second, [_entry(), _entry()], "submitted-second"),
            # The same submission twice in one write: the second finds the first.
            NewDossier(second, [_entry()], "submitted-second"),
        ]
    )
    assert opened == [True, False, True, False]
    assert len(await db.outbox(known.id)) == 1
    assert len(await db.outbox(second.id)) == 2
    assert await store.insert_many([]) == []
    # What an officer's action reads, in one read: the dossier and its submission's trace.
    found = await store.get_for_officer(first.id, first.agency)
    assert found is not None
    assert (found[0].id, found[1]) == (first.id, {"traceparent": "t1"})
    assert await store.get_for_officer(first.id, "STNMT-KS") is None


async def test_an_inbound_event_applies_once(db: Store) -> None:
    store = db.adapter
    dossier = _received()
    await store.insert(dossier, [], "submitted-2")
    bumped = dossier.model_copy(update={"version": 2})
    assert await store.commit(bumped, 1, [_entry()], event_id="withdraw-1")
    again = dossier.model_copy(update={"version": 3})
    assert not await store.commit(again, 2, [_entry()], event_id="withdraw-1")
    applied = await store.get_for_event(dossier.id, "withdraw-1")
    assert applied is not None
    assert (applied[0].id, applied[0].version, applied[1]) == (dossier.id, 2, True)
    not_applied = await store.get_for_event(dossier.id, "withdraw-2")
    assert not_applied is not None
    assert (not_applied[0].version, not_applied[1]) == (2, False)
    assert await store.get_for_event("no-such-dossier", "withdraw-1") is None
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
    claim = await store.claim_outboxes(await store.pending_outboxes(10), lease_s=30)
    assert [(o.dossier_id, [e["id"] for e in o.entries]) for o in claim.outboxes] == [
        (dossier.id, [first["id"]])
    ]
    # Claimed: no other pass gets it, and the scan does not offer it.
    assert await store.pending_outboxes(10) == []
    other = await store.claim_outboxes([dossier.id], lease_s=30)
    assert (other.outboxes, other.busy) == ([], [dossier.id])
    # An officer's change lands after the claim: the relay sent only the first event.
    assert await store.commit(dossier.model_copy(update={"version": 2}), 1, [second])
    await store.mark_published(claim)
    assert await db.outbox(dossier.id) == [second["id"]]
    assert await store.pending_outboxes(10) == [dossier.id]

    again = await store.claim_outboxes([dossier.id], lease_s=30)
    assert [o.dossier_id for o in again.outboxes] == [dossier.id]
    await store.mark_published(again)
    assert await db.outbox(dossier.id) == []
    assert await store.pending_outboxes(10) == []
    document = await db.raw.find_one({"_id": dossier.id})
    assert document is not None
    assert "outbox_pending" not in document
    assert "relay_lease" not in document


async def test_a_lease_that_ran_out_is_taken_over_and_the_late_pass_clears_nothing(
    db: Store,
) -> None:
    store = db.adapter
    dossier = _received()
    entry = _entry()
    await store.insert(dossier, [entry], "submitted-5")
    stale = await store.claim_outboxes([dossier.id], lease_s=30)
    # The lease ends as if the relay holding it had died or stalled 30 s.
    await db.raw.update_one(
        {"_id": dossier.id},
        {"$set": {"relay_lease.until": datetime.now(UTC) - timedelta(seconds=1)}},
    )
    assert await store.pending_outboxes(10) == [dossier.id]
    fresh = await store.claim_outboxes([dossier.id], lease_s=30)
    assert [o.dossier_id for o in fresh.outboxes] == [dossier.id]
    # The stalled pass finishing now must not drop what the new holder is sending.
    await store.mark_published(stale)
    assert await db.outbox(dossier.id) == [entry["id"]]
    await store.mark_published(fresh)
    assert await db.outbox(dossier.id) == []


async def test_a_released_claim_is_free_at_once(db: Store) -> None:
    store = db.adapter
    dossier = _received()
    entry = _entry()
    await store.insert(dossier, [entry], "submitted-6")
    claim = await store.claim_outboxes([dossier.id], lease_s=30)
    await store.release(claim)
    assert await store.pending_outboxes(10) == [dossier.id]
    assert await db.outbox(dossier.id) == [entry["id"]]


async def test_overdue_is_recorded_once_and_cleared_only_when_asked(db: Store) -> None:
    store = db.adapter
    dossier = _received(datetime.now(UTC) - timedelta(days=60))
    await store.insert(dossier, [], "submitted-4")
    now = datetime.now(UTC)
    outcomes = await asyncio.gather(
        *(store.flag_overdue(dossier.id, dossier.due_date, now, [_entry()]) for _ in range(5))
    )
    assert sorted(outcomes) == [False, False, False, False, True]
    assert len(await db.outbox(dossier.id)) == 1
    # An officer's change afterwards leaves what the scan wrote alone ...
    assert await store.commit(dossier.model_copy(update={"version": 2}), 1, [])
    stored = await store.get(dossier.id)
    assert stored is not None
    assert stored.overdue_at is not None
    # ... but a due date started afresh (a late acceptance) clears it.
    later = dossier.model_copy(update={"version": 3, "due_date": date.today()})
    assert await store.commit(later, 2, [], clear_overdue=True)
    stored = await store.get(dossier.id)
    assert stored is not None
    assert stored.overdue_at is None
    assert stored.due_date == date.today()


async def test_a_note_is_written_only_in_its_agency_and_at_a_named_version(db: Store) -> None:
    store = db.adapter
    dossier = _received()
    await store.insert(dossier, [], "submitted-7")
    note = {"id": "n-1", "officer_id": "o", "text": "x", "at": datetime.now(UTC)}
    assert not await store.add_note(dossier.id, "STNMT-KS", note, [_entry()])
    assert not await store.add_note(dossier.id, dossier.agency, note, [_entry()], {2, 3})
    assert await store.add_note(dossier.id, dossier.agency, note, [_entry()], {1})
    assert await store.add_note(dossier.id, dossier.agency, note | {"id": "n-2"}, [_entry()])
    document = await db.raw.find_one({"_id": dossier.id})
    assert document is not None
    assert [n["id"] for n in document["notes"]] == ["n-1", "n-2"]
    assert (document["version"], len(document["outbox"])) == (1, 2)
