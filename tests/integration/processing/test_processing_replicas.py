"""Two processing replicas on one database and one broker: each with its own client (its
own connections, as two processes have), store adapter, service, publisher and relay.
Officers racing across them get exactly one winner, the two relays never send one event
twice, and the deadline scan run by both still records each notice once."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from chassis.calendar import DEFAULT_CALENDAR
from chassis.catalogue import load_default_catalogue
from chassis.events import (
    Applicant,
    ApplicantType,
    Channel,
    DossierKind,
    DossierNoteAdded,
    DossierSubmitted,
    Envelope,
    Topics,
)
from chassis.kafka import EventPublisher, ensure_topics
from chassis.mongo import StoreClient, StoreCollection
from processing.adapters.relay import OutboxRelay
from processing.adapters.store import DossierStore
from processing.domain import dossier as rules
from processing.domain.workflow import Action, ActorRole
from processing.service import Officer, ProcessingService, VersionMismatch, outbox_entries
from processing.settings import ProcessingSettings
from tests.integration.processing.processing_harness import attachment, read_topic
from tests.support.infra import Infra
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

CATALOGUE = load_default_catalogue()
MT = "STNMT-MT"


class CountingPublisher(EventPublisher):
    """Remembers the id of every event it got acknowledged."""

    def __init__(self, settings: ProcessingSettings) -> None:
        super().__init__(settings)
        self.sent: list[str] = []

    async def publish_many(self, envelopes: Sequence[Envelope], **kwargs: Any) -> None:
        await super().publish_many(envelopes, **kwargs)
        self.sent.extend(e.id for e in envelopes)


@dataclass
class Replica:
    client: StoreClient
    store: DossierStore
    publisher: CountingPublisher
    relay: OutboxRelay
    service: ProcessingService
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


@dataclass
class Pair:
    first: Replica
    second: Replica
    raw: StoreCollection
    settings: ProcessingSettings

    @property
    def both(self) -> tuple[Replica, Replica]:
        return self.first, self.second

    def start_relays(self) -> None:
        for replica in self.both:
            replica.tasks.append(asyncio.create_task(replica.relay.run()))


@pytest.fixture
async def pair(infra: Infra, run_id: str) -> AsyncIterator[Pair]:
    name = f"{run_id}_processing_replicas_{uuid.uuid4().hex[:6]}"
    settings = ProcessingSettings(
        kafka_bootstrap_servers=infra.kafka,
        mongodb_uri=infra.mongodb,
        mongodb_database=name,
        kafka_topic_prefix=f"{name}.",
    )
    await ensure_topics(settings)
    replicas = []
    for _ in range(2):
        client: StoreClient = AsyncMongoClient(infra.mongodb, tz_aware=True)
        store = DossierStore(client[name])
        publisher = CountingPublisher(settings)
        await publisher.start()
        relay = OutboxRelay(store, publisher, interval_s=0.2)
        service = ProcessingService(store, settings, CATALOGUE, DEFAULT_CALENDAR, relay.wake)
        replicas.append(Replica(client, store, publisher, relay, service))
    # Both replicas start at once and both ask for the indexes.
    await asyncio.gather(*(r.store.create_indexes() for r in replicas))
    pair = Pair(replicas[0], replicas[1], replicas[0].client[name]["dossiers"], settings)
    try:
        yield pair
    finally:
        for replica in replicas:
            for task in replica.tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await replica.publisher.stop()
        await replicas[0].client.drop_database(name)
        for replica in replicas:
            await replica.client.close()


async def _submit(replica: Replica, submitted_at: datetime | None = None) -> tuple[str, str]:
    """A received MT-004 dossier written by ``replica``; its id and its event's id."""
    procedure = CATALOGUE.get("MT-004")
    assert procedure is not None
    submitted = DossierSubmitted(
        dossier_id=str(uuid.uuid4()),
        receipt_code=f"T-{uuid.uuid4().hex[:6]}",
        procedure_code="MT-004",
        agency=procedure.agency,
        kind=DossierKind.PROCEDURE,
        channel=Channel.ONLINE,
        submitted_at=submitted_at or datetime.now(UTC),
        due_date=datetime.now(UTC).date(),
        applicant=Applicant(type=ApplicantType.PERSON, name="A", email="a@example.vn"),
        form={},
        attachments=[attachment(d.code) for d in procedure.required_documents if d.mandatory],
    )
    change = rules.open_dossier(
        submitted,
        procedure,
        CATALOGUE.agencies[procedure.agency],
        datetime.now(UTC),
        DEFAULT_CALENDAR,
    )
    entries = outbox_entries(change.events, rules.SYSTEM_ACTOR)
    assert await replica.store.insert(change.dossier, entries, str(uuid.uuid4()))
    return change.dossier.id, entries[0]["id"]


def _officer(name: str) -> Officer:
    return Officer(name, f"officer:{name}", MT, ActorRole.OFFICER)


async def _race(
    pair: Pair, dossier_id: str, version: int, action: Action, params: rules.ActionParams
) -> list[object]:
    """Five officers on each replica take ``action`` on ``version`` at the same moment."""
    attempts = [
        replica.service.act(dossier_id, _officer(f"o{n}"), frozenset({version}), action, params)
        for n in range(5)
        for replica in pair.both
    ]
    return await asyncio.gather(*attempts, return_exceptions=True)


async def test_officers_racing_across_replicas_get_one_winner(pair: Pair) -> None:
    for _ in range(3):
        dossier_id, _ = await _submit(pair.first)
        outcomes = await _race(pair, dossier_id, 1, Action.START_REVIEW, rules.ActionParams())
        won = [o for o in outcomes if not isinstance(o, BaseException)]
        lost = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(won) == 1, outcomes
        # Every loser is told the version moved on (412), none got another error.
        assert all(isinstance(o, VersionMismatch) and o.current == 2 for o in lost), lost

        decided = await _race(
            pair, dossier_id, 2, Action.APPROVE, rules.ActionParams(result_reference="GP-1")
        )
        assert sum(not isinstance(o, BaseException) for o in decided) == 1, decided
        stored = await pair.second.store.get(dossier_id)
        assert stored is not None
        assert (stored.status.value, stored.version) == ("approved", 3)
        document = await pair.raw.find_one({"_id": dossier_id})
        assert document is not None
        history = [h["action"] for h in document["history"]]
        assert history.count("start_review") == history.count("approve") == 1


async def test_two_relays_scanning_at_once_send_each_event_once(pair: Pair) -> None:
    written = [await _submit(pair.both[n % 2]) for n in range(120)]
    expected = {event_id for _, event_id in written}
    first, second = pair.first.relay, pair.second.relay
    # Scan pages of 200 hold all of them: both relays see every pending dossier.
    while sum(await asyncio.gather(first.relay_once(), second.relay_once())):
        pass
    sent_first, sent_second = pair.first.publisher.sent, pair.second.publisher.sent
    assert set(sent_first).isdisjoint(sent_second)
    assert sorted(sent_first + sent_second) == sorted(expected)
    assert await pair.raw.count_documents({"outbox_pending": True}) == 0
    topic = pair.settings.topic(Topics.LIFECYCLE)
    on_topic = [
        envelope.id
        for envelope, _ in await read_topic(pair.settings.kafka_bootstrap_servers, topic)
    ]
    assert sorted(on_topic) == sorted(expected)


async def test_running_relays_and_writers_on_both_replicas_keep_order_and_once(
    pair: Pair,
) -> None:
    pair.start_relays()
    dossiers = [(await _submit(pair.both[n % 2]))[0] for n in range(20)]
    # Notes written from both replicas at once, each waking its own replica's relay
    # while the other relay may hold the dossier.
    for round_ in range(3):
        await asyncio.gather(
            *(
                replica.service.add_note(dossier_id, _officer("o1"), None, f"note {round_}")
                for dossier_id in dossiers
                for replica in pair.both
            )
        )

    async def drained() -> bool:
        return await pair.raw.count_documents({"outbox_pending": True}) == 0

    await eventually(drained, timeout_s=30, what="every outbox drained")
    sent_first, sent_second = pair.first.publisher.sent, pair.second.publisher.sent
    assert set(sent_first).isdisjoint(sent_second)
    events = await read_topic(
        pair.settings.kafka_bootstrap_servers, pair.settings.topic(Topics.LIFECYCLE)
    )
    ids = [envelope.id for envelope, _ in events]
    assert len(ids) == len(set(ids)) == len(dossiers) * (1 + 6)
    assert sorted(sent_first + sent_second) == sorted(ids)
    for dossier_id in dossiers:
        document = await pair.raw.find_one({"_id": dossier_id})
        assert document is not None
        notes = [
            data.note_id
            for envelope, data in events
            if envelope.subject == dossier_id and isinstance(data, DossierNoteAdded)
        ]
        # On the topic in the order the notes were written to the dossier.
        assert notes == [note["id"] for note in document["notes"]]


async def test_the_deadline_scan_on_both_replicas_notices_each_dossier_once(
    pair: Pair,
) -> None:
    late = [
        (await _submit(pair.both[n % 2], datetime.now(UTC) - timedelta(days=70)))[0]
        for n in range(10)
    ]
    reports = await asyncio.gather(
        *(replica.service.scan_deadlines() for _ in range(3) for replica in pair.both)
    )
    assert sum(r.overdue for r in reports) == len(late)
    for dossier_id in late:
        document = await pair.raw.find_one({"_id": dossier_id})
        assert document is not None
        types = [entry["event"]["type"] for entry in document["outbox"]]
        assert types.count("dossier.overdue.v1") == 1
