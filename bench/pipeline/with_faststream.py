"""The work written with FastStream, the way its documentation shows: one ``KafkaBroker``,
a subscriber per stage, a publisher object for the lifecycle topic.

Left at FastStream's defaults except where delivery guarantees must match the others:
``AckPolicy.ACK`` (auto-commit off, the offset committed once the handler returned) and a
producer with ``acks="all"`` and idempotence, like the chassis publisher. Its per-message
access log is moved to DEBUG so that no contender writes a log line per message.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
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
from chassis.events import CONTENT_TYPE, DossierStatusChanged, DossierSubmitted, Topics, decode
from chassis.events import encode as encode_event


async def run(contender: Contender) -> None:
    tally = contender.tally
    dossiers = contender.database(PROCESSING_GROUP)[DOSSIERS]
    entries = contender.database(AUDIT_GROUP)[AUDIT_ENTRIES]
    broker = KafkaBroker(
        contender.bootstrap, acks="all", enable_idempotence=True, log_level=logging.DEBUG
    )
    lifecycle = broker.publisher(contender.topic(Topics.LIFECYCLE))

    @broker.subscriber(
        contender.topic(Topics.SUBMISSIONS),
        group_id=contender.topic(PROCESSING_GROUP),
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.ACK,
    )
    async def on_submitted(body: bytes) -> None:
        tally.first_record()
        envelope, payload = decode(body)
        assert isinstance(payload, DossierSubmitted)
        dossier, event = open_dossier(envelope, payload, datetime.now(UTC))
        with tally.waiting("processing: store"), contextlib.suppress(DuplicateKeyError):
            await dossiers.insert_one(dossier)
        with tally.waiting("processing: publish"):
            await lifecycle.publish(
                encode_event(event),
                key=payload.dossier_id.encode(),
                headers={"content-type": CONTENT_TYPE, "ce_type": event.type, "ce_id": event.id},
            )

    @broker.subscriber(
        contender.topic(Topics.SUBMISSIONS),
        contender.topic(Topics.LIFECYCLE),
        group_id=contender.topic(AUDIT_GROUP),
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.ACK,
    )
    async def on_any_event(body: bytes) -> None:
        envelope, _ = decode(body)
        with tally.waiting("audit: store"):
            try:
                await entries.insert_one(audit_entry(envelope, datetime.now(UTC)))
            except DuplicateKeyError:
                return
        changed = envelope.type == DossierStatusChanged.event_type
        tally.recorded(1, [envelope.subject or ""] if changed else [])

    await broker.start()
    try:
        await contender.until_done()
    finally:
        await broker.stop()
