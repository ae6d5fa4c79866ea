"""The work on the chassis: two `ConsumerLoop`s with batch handlers, one `insert_many` per
fetched batch and stage, `EventPublisher.publish_many` (one acknowledgement round trip per
batch), offsets committed after each batch, a dead-letter topic per group."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from bench.pipeline.contender import Contender
from bench.pipeline.work import (
    AUDIT_ENTRIES,
    AUDIT_GROUP,
    DOSSIERS,
    PROCESSING_GROUP,
    audit_entry,
    open_dossier,
)
from chassis.events import DossierStatusChanged, DossierSubmitted, Topics
from chassis.kafka import ConsumedEvent, ConsumerLoop, EventPublisher
from chassis.settings import ServiceSettings

_DUPLICATE_KEY = 11000


async def insert_new(collection: AsyncCollection[Any], documents: list[Any]) -> set[int]:
    """Insert what is not stored yet; the positions of the documents that were new."""
    try:
        await collection.insert_many(documents, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(error.get("code") != _DUPLICATE_KEY for error in errors):
            raise
        return set(range(len(documents))) - {error["index"] for error in errors}
    return set(range(len(documents)))


async def run(contender: Contender) -> None:
    tally = contender.tally
    settings = ServiceSettings(
        service_name="bench-ours",
        kafka_bootstrap_servers=contender.bootstrap,
        kafka_topic_prefix=contender.prefix,
    )
    dossiers = contender.database(PROCESSING_GROUP)[DOSSIERS]
    entries = contender.database(AUDIT_GROUP)[AUDIT_ENTRIES]
    publisher = EventPublisher(settings)

    async def receive(batch: list[ConsumedEvent]) -> None:
        tally.first_record()
        now = datetime.now(UTC)
        opened = [
            open_dossier(item.envelope, item.payload, now)
            for item in batch
            if isinstance(item.payload, DossierSubmitted)
        ]
        with tally.waiting("processing: store"):
            await insert_new(dossiers, [dossier for dossier, _ in opened])
        # Published whether the dossier was new or not: after a crash between the write and
        # the publish, the redelivered batch sends the same event ids again.
        with tally.waiting("processing: publish"):
            await publisher.publish_many([event for _, event in opened])

    async def record(batch: list[ConsumedEvent]) -> None:
        now = datetime.now(UTC)
        with tally.waiting("audit: store"):
            new = await insert_new(entries, [audit_entry(item.envelope, now) for item in batch])
        tally.recorded(
            len(new),
            [
                batch[i].envelope.subject or ""
                for i in new
                if batch[i].envelope.type == DossierStatusChanged.event_type
            ],
        )

    loops = [
        ConsumerLoop(
            settings=settings,
            group=PROCESSING_GROUP,
            topics=[Topics.SUBMISSIONS],
            publisher=publisher,
            batch_handler=receive,
        ),
        ConsumerLoop(
            settings=settings,
            group=AUDIT_GROUP,
            topics=[Topics.SUBMISSIONS, Topics.LIFECYCLE],
            publisher=publisher,
            batch_handler=record,
        ),
    ]
    await publisher.start()
    try:
        await contender.until_done(asyncio.gather(*(loop.run() for loop in loops)))
    finally:
        for loop in loops:
            loop.stop()
        await publisher.stop()
