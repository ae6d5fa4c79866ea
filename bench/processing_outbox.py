"""Processing's store and outbox on the real servers: how fast dossiers are written, how
fast one relay, then two relays of two replicas racing, drain their events to Kafka, and
what the queue and statistics cost.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 MONGODB_URI=mongodb://127.0.0.1:27018 \\
        uv run python bench/processing_outbox.py --dossiers 200

The addresses come from those two variables (these are the defaults). Everything runs
in this process against its own database and topics (removed after).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient

from chassis.calendar import DEFAULT_CALENDAR
from chassis.catalogue import load_default_catalogue
from chassis.events import (
    Applicant,
    ApplicantType,
    Attachment,
    Channel,
    DossierKind,
    DossierSubmitted,
    Envelope,
)
from chassis.kafka import EventPublisher, ensure_topics
from chassis.mongo import StoreClient
from processing.adapters.relay import OutboxRelay
from processing.adapters.store import DossierStore, QueueFilter
from processing.domain import dossier as rules
from processing.domain.workflow import Action, ActorRole, DossierStatus
from processing.service import Officer, outbox_entries
from processing.service import ProcessingService as DossierService
from processing.settings import ProcessingSettings

PROCEDURE = "MT-004"


class CountingPublisher(EventPublisher):
    """Remembers the id of every event the broker acknowledged."""

    def __init__(self, settings: ProcessingSettings) -> None:
        super().__init__(settings)
        self.sent: list[str] = []

    async def publish_many(self, envelopes: Sequence[Envelope], **kwargs: Any) -> None:
        await super().publish_many(envelopes, **kwargs)
        self.sent.extend(e.id for e in envelopes)


def _submission(submitted_at: datetime) -> DossierSubmitted:
    procedure = load_default_catalogue().get(PROCEDURE)
    assert procedure is not None
    return DossierSubmitted(
        dossier_id=str(uuid.uuid4()),
        receipt_code=uuid.uuid4().hex[:10].upper(),
        procedure_code=PROCEDURE,
        agency=procedure.agency,
        kind=DossierKind.PROCEDURE,
        channel=Channel.ONLINE,
        submitted_at=submitted_at,
        due_date=submitted_at.date(),
        applicant=Applicant(type=ApplicantType.PERSON, name="Bench", email="bench@example.vn"),
        form={},
        attachments=[
            Attachment(
                document_code=d.code, name="f.pdf", media_type="application/pdf", size=1, sha256="0"
            )
            for d in procedure.required_documents
        ],
    )


async def _timed(action: Callable[[], Awaitable[Any]], times: int) -> list[float]:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        await action()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _row(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"{name:<38} {statistics.median(ordered):>9.2f} {p95:>9.2f} {len(ordered):>6}"


async def main(dossiers: int) -> None:
    run = f"bench{uuid.uuid4().hex[:8]}"
    settings = ProcessingSettings(
        kafka_bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        mongodb_uri=os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27018"),
        mongodb_database=run,
        kafka_topic_prefix=f"{run}.",
    )
    client: StoreClient = AsyncMongoClient(settings.mongodb_uri.get_secret_value(), tz_aware=True)
    store = DossierStore(client[run])
    await store.create_indexes()
    await ensure_topics(settings)
    publisher = EventPublisher(settings)
    await publisher.start()
    relay = OutboxRelay(store, publisher, interval_s=0.05)
    service = DossierService(
        store,
        settings,
        load_default_catalogue(),
        DEFAULT_CALENDAR,
        wake_relay=lambda _dossier_id: None,
    )
    procedure = load_default_catalogue().get(PROCEDURE)
    agency = load_default_catalogue().agencies[procedure.agency] if procedure else None
    try:
        now = datetime.now(UTC)
        ids: list[str] = []
        write_samples: list[float] = []
        for n in range(dossiers):
            submitted = _submission(now - timedelta(days=n % 60))
            change = rules.open_dossier(submitted, procedure, agency, now, DEFAULT_CALENDAR)
            entries = outbox_entries(change.events, rules.SYSTEM_ACTOR)
            started = time.perf_counter()
            await store.insert(change.dossier, entries, str(uuid.uuid4()))
            write_samples.append((time.perf_counter() - started) * 1000)
            ids.append(submitted.dossier_id)

        started = time.perf_counter()
        published = 0
        while published < dossiers:
            published += await relay.relay_once()
        drain_s = time.perf_counter() - started

        officer = Officer("bench-officer", "officer:bench-officer", "STNMT-MT", ActorRole.OFFICER)
        action_samples = []
        for dossier_id in ids[: min(50, dossiers)]:
            started = time.perf_counter()
            await service.act(dossier_id, officer, None, Action.START_REVIEW, rules.ActionParams())
            action_samples.append((time.perf_counter() - started) * 1000)

        where = QueueFilter(agency="STNMT-MT", statuses=list(DossierStatus))
        queue_samples = await _timed(lambda: store.queue(where, "due_date", None, 51), 10)
        today = DEFAULT_CALENDAR.local_date(now)
        first = today - timedelta(days=90)

        async def stats() -> None:
            await store.outcome_counts(first, today)
            await store.overdue_counts(first, today, today)

        stats_samples = await _timed(stats, 10)
        scan_samples = await _timed(service.scan_deadlines, 3)

        # Two replicas: their own clients, stores, publishers and relays, racing for
        # the same pending outboxes.
        for _ in range(dossiers):
            submitted = _submission(now)
            change = rules.open_dossier(submitted, procedure, agency, now, DEFAULT_CALENDAR)
            entries = outbox_entries(change.events, rules.SYSTEM_ACTOR)
            await store.insert(change.dossier, entries, str(uuid.uuid4()))
        second_client: StoreClient = AsyncMongoClient(
            settings.mongodb_uri.get_secret_value(), tz_aware=True
        )
        second_publisher = CountingPublisher(settings)
        await second_publisher.start()
        try:
            second = OutboxRelay(DossierStore(second_client[run]), second_publisher, 0.05)
            first_publisher = CountingPublisher(settings)
            await first_publisher.start()
            first = OutboxRelay(store, first_publisher, 0.05)
            started = time.perf_counter()
            while sum(await asyncio.gather(first.relay_once(), second.relay_once())):
                pass
            pair_drain_s = time.perf_counter() - started
            await first_publisher.stop()
        finally:
            await second_publisher.stop()
            await second_client.close()
        pair_sent = first_publisher.sent + second_publisher.sent
        pair_twice = len(pair_sent) - len(set(pair_sent))
    finally:
        await publisher.stop()
        await client.drop_database(run)
        await client.close()
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
        await admin.start()
        try:
            await admin.delete_topics([t for t in await admin.list_topics() if t.startswith(run)])
        finally:
            await admin.close()

    store_at = settings.mongodb_uri.get_secret_value().rsplit("@", 1)[-1]
    print(f"processing bench: {dossiers} dossiers of {PROCEDURE}, store {store_at}")
    print(f"{'operation':<38} {'p50 ms':>9} {'p95 ms':>9} {'n':>6}")
    print(_row("store: insert dossier + outbox", write_samples))
    print(_row("officer action (read, CAS write)", action_samples))
    print(_row("queue page of 50", queue_samples))
    print(_row(f"statistics over {dossiers} dossiers", stats_samples))
    print(_row("deadline scan (first pass emits)", scan_samples))
    print(f"relay drain: {dossiers} events in {drain_s:.2f} s = {dossiers / drain_s:.0f} events/s")
    print(
        f"two relays racing: {len(pair_sent)} events in {pair_drain_s:.2f} s = "
        f"{len(pair_sent) / pair_drain_s:.0f} events/s, {pair_twice} sent twice"
    )
    print(f"date: {date.today().isoformat()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=200)
    asyncio.run(main(parser.parse_args().dossiers))
