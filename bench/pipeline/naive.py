"""The work done one message at a time, the way it is usually first written with aiokafka
and PyMongo: ``send_and_wait`` per event, ``insert_one`` per document, a commit per message."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pymongo.errors import DuplicateKeyError

from bench.pipeline.contender import Contender
from bench.pipeline.work import (
    AUDIT_ENTRIES,
    AUDIT_GROUP,
    DOSSIERS,
    PROCESSING_GROUP,
    audit_entry,
    open_dossier,
)
from chassis.events import (
    CONTENT_TYPE,
    DossierStatusChanged,
    DossierSubmitted,
    Topics,
    decode,
    encode,
)


async def run(contender: Contender) -> None:
    tally = contender.tally
    dossiers = contender.database(PROCESSING_GROUP)[DOSSIERS]
    entries = contender.database(AUDIT_GROUP)[AUDIT_ENTRIES]
    producer = AIOKafkaProducer(
        bootstrap_servers=contender.bootstrap, acks="all", enable_idempotence=True
    )
    intake = AIOKafkaConsumer(
        contender.topic(Topics.SUBMISSIONS),
        bootstrap_servers=contender.bootstrap,
        group_id=contender.topic(PROCESSING_GROUP),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    everything = AIOKafkaConsumer(
        contender.topic(Topics.SUBMISSIONS),
        contender.topic(Topics.LIFECYCLE),
        bootstrap_servers=contender.bootstrap,
        group_id=contender.topic(AUDIT_GROUP),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    lifecycle = contender.topic(Topics.LIFECYCLE)

    async def processing() -> None:
        async for record in intake:
            tally.first_record()
            envelope, payload = decode(record.value)
            assert isinstance(payload, DossierSubmitted)
            dossier, event = open_dossier(envelope, payload, datetime.now(UTC))
            with tally.waiting("processing: store"), contextlib.suppress(DuplicateKeyError):
                await dossiers.insert_one(dossier)
            headers = [
                ("content-type", CONTENT_TYPE.encode()),
                ("ce_type", event.type.encode()),
                ("ce_id", event.id.encode()),
            ]
            with tally.waiting("processing: publish"):
                await producer.send_and_wait(
                    lifecycle, encode(event), key=record.key, headers=headers
                )
            with tally.waiting("processing: commit"):
                await intake.commit()

    async def audit() -> None:
        async for record in everything:
            envelope, _ = decode(record.value)
            new = True
            with tally.waiting("audit: store"):
                try:
                    await entries.insert_one(audit_entry(envelope, datetime.now(UTC)))
                except DuplicateKeyError:
                    new = False
            if new:
                changed = envelope.type == DossierStatusChanged.event_type
                tally.recorded(1, [envelope.subject or ""] if changed else [])
            with tally.waiting("audit: commit"):
                await everything.commit()

    await producer.start()
    await intake.start()
    await everything.start()
    try:
        await contender.until_done(asyncio.gather(processing(), audit()))
    finally:
        await intake.stop()
        await everything.stop()
        await producer.stop()
