"""The submissions consumer on the real broker and store: the submissions of a consumed
batch open their dossiers with far fewer store commands than one per dossier (counted by
``hoso_store_commands_total``, as the service's own client counts them), a withdrawal
behind its submission in the same batch still finds the dossier open, and a bad event in
a batch goes to the dead-letter topic alone."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest

from chassis.calendar import DEFAULT_CALENDAR
from chassis.catalogue import load_default_catalogue
from chassis.events import (
    DEAD_LETTER_PARTITIONS,
    Applicant,
    ApplicantType,
    Channel,
    DossierKind,
    DossierSubmitted,
    DossierWithdrawalRequested,
    Envelope,
    EventData,
    Topics,
    make_event,
)
from chassis.kafka import ConsumerLoop, EventPublisher, ensure_topics
from chassis.mongo import StoreClient, StoreDatabase, connect
from processing.adapters.consumer import SubmissionsConsumer
from processing.adapters.store import DossierStore
from processing.service import ProcessingService
from processing.settings import ProcessingSettings
from tests.integration.processing.processing_harness import (
    attachment,
    mandatory_documents,
    read_topic,
)
from tests.support.infra import Infra
from tests.support.store_commands import commands_sent
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

CATALOGUE = load_default_catalogue()
SUBMISSIONS = 40


@dataclass
class Stack:
    settings: ProcessingSettings
    client: StoreClient
    db: StoreDatabase
    intake: EventPublisher
    service: ProcessingService


@pytest.fixture
async def stack(infra: Infra, run_id: str) -> AsyncIterator[Stack]:
    name = f"{run_id}_processing_batches_{uuid.uuid4().hex[:6]}"
    settings = ProcessingSettings(
        kafka_bootstrap_servers=infra.kafka,
        mongodb_uri=infra.mongodb,
        mongodb_database=name,
        kafka_topic_prefix=f"{name}.",
    )
    await ensure_topics(settings)
    # The service's own client: the one that counts its commands.
    client, db = connect(settings)
    store = DossierStore(db)
    await store.create_indexes()
    intake = EventPublisher(settings)
    await intake.start()
    service = ProcessingService(store, settings, CATALOGUE, DEFAULT_CALENDAR, lambda _: None)
    try:
        yield Stack(settings, client, db, intake, service)
    finally:
        await intake.stop()
        await client.drop_database(name)
        await client.close()


def _submitted() -> DossierSubmitted:
    procedure = CATALOGUE.get("MT-004")
    assert procedure is not None
    return DossierSubmitted(
        dossier_id=str(uuid.uuid4()),
        receipt_code=f"T-{uuid.uuid4().hex[:6].upper()}",
        procedure_code="MT-004",
        agency=procedure.agency,
        kind=DossierKind.PROCEDURE,
        channel=Channel.ONLINE,
        submitted_at=datetime.now(UTC),
        due_date=date.today(),
        applicant=Applicant(type=ApplicantType.PERSON, name="An", email="an@example.vn"),
        form={},
        attachments=[attachment(code) for code in mandatory_documents("MT-004")],
    )


def _event(data: EventData, actor: str) -> Envelope:
    return make_event(data, source="/hoso/intake", actor=actor)


def _consumer(stack: Stack) -> ConsumerLoop:
    return ConsumerLoop(
        settings=stack.settings,
        group="processing",
        topics=[Topics.SUBMISSIONS],
        publisher=stack.intake,
        batch_handler=SubmissionsConsumer(stack.service).handle_batch,
        # No waiting between the batch's tries: the bad event is found at once.
        retry_delay=lambda _: 0.0,
    )


def _commands(command: str) -> float:
    return commands_sent("processing").get(command, 0.0)


async def test_a_batch_of_submissions_costs_far_fewer_inserts_than_dossiers(
    stack: Stack,
) -> None:
    submissions = [_submitted() for _ in range(SUBMISSIONS)]
    withdrawn = submissions[0]
    withdrawal = DossierWithdrawalRequested(
        dossier_id=withdrawn.dossier_id,
        receipt_code=withdrawn.receipt_code,
        requested_at=datetime.now(UTC),
        reason="No longer needed",
    )
    # Everything is on the topic before the consumer starts, so its first fetches bring
    # it in as few batches as the broker hands out; the withdrawal is right behind its
    # submission on the dossier's partition.
    await stack.intake.publish_many(
        [_event(s, "portal:test-portal") for s in submissions[:1]]
        + [_event(withdrawal, "citizen:an")]
        + [_event(s, "portal:test-portal") for s in submissions[1:]]
    )
    inserts_before = _commands("insert")
    loop = _consumer(stack)
    consuming = asyncio.create_task(loop.run())
    dossiers = stack.db["dossiers"]
    try:

        async def all_opened() -> bool:
            return await dossiers.count_documents({}) == SUBMISSIONS

        async def withdrawn_status() -> str | None:
            found = await dossiers.find_one({"_id": withdrawn.dossier_id}, {"status": 1})
            return None if found is None or found["status"] != "withdrawn" else found["status"]

        await eventually(all_opened, timeout_s=30, what="every dossier opened")
        assert await eventually(withdrawn_status, timeout_s=30, what="the withdrawal") == (
            "withdrawn"
        )
    finally:
        loop.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await consuming
    inserts = _commands("insert") - inserts_before
    # One per batch the broker handed out: a handful at most, never one per dossier.
    assert 1 <= inserts <= SUBMISSIONS // 8, inserts
    statuses = [d["status"] async for d in dossiers.find({}, {"status": 1})]
    assert sorted(statuses) == ["received"] * (SUBMISSIONS - 1) + ["withdrawn"]


async def test_bad_events_in_a_batch_go_to_the_dead_letter_topic_alone(stack: Stack) -> None:
    submissions = [_submitted() for _ in range(6)]
    # A submission the store cannot take (a form field named with a NUL byte): the
    # batch's one insert fails as a whole, and then this submission alone.
    unstorable = _event(
        _submitted().model_copy(update={"form": {"field\x00name": "x"}}), "portal:test-portal"
    )
    # A withdrawal of a dossier never submitted: it can never apply.
    stray = _event(
        DossierWithdrawalRequested(
            dossier_id=str(uuid.uuid4()),
            receipt_code="T-STRAY",
            requested_at=datetime.now(UTC),
            reason="No longer needed",
        ),
        "citizen:an",
    )
    await stack.intake.publish_many(
        [_event(s, "portal:test-portal") for s in submissions[:3]]
        + [stray]
        + [_event(s, "portal:test-portal") for s in submissions[3:5]]
        + [unstorable]
        + [_event(s, "portal:test-portal") for s in submissions[5:]]
    )
    loop = _consumer(stack)
    consuming = asyncio.create_task(loop.run())
    dead_letters = stack.settings.topic(Topics.dead_letter("processing"))
    dossiers = stack.db["dossiers"]
    try:

        async def dead_lettered() -> list[Envelope]:
            found = await read_topic(
                stack.settings.kafka_bootstrap_servers, dead_letters, DEAD_LETTER_PARTITIONS
            )
            return [envelope for envelope, _ in found] if len(found) >= 2 else []

        letters = await eventually(dead_lettered, timeout_s=30, what="the dead letter")

        async def all_opened() -> bool:
            return await dossiers.count_documents({}) == len(submissions)

        await eventually(all_opened, timeout_s=30, what="every dossier opened")
    finally:
        loop.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await consuming
    assert sorted(letter.id for letter in letters) == sorted([stray.id, unstorable.id])
    opened = {d["_id"] async for d in dossiers.find({}, {"_id": 1})}
    assert opened == {s.dossier_id for s in submissions}
