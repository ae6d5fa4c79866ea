"""The work written with FastStream, the way its documentation shows: one ``KafkaBroker``,
a subscriber per stage, a publisher object for the lifecycle topic. Two contenders:

* ``faststream-batch`` (`run_batch`): batch subscribers (``batch=True``) fetching up to as
  many records, and waiting as long for them, as the chassis's ``ConsumerLoop`` does; per
  batch and stage one ``insert_many``, every status change handed to the publisher without
  waiting (``no_confirm=True``) and the acknowledgements awaited together, one commit;
* ``faststream-single`` (`run_single`): the subscriber FastStream's examples start with,
  one message per handler call: an ``insert_one``, a publish awaited on its own, a commit.

Left at FastStream's defaults except where delivery guarantees must match the others:
``AckPolicy.ACK`` (auto-commit off, the offsets committed once the handler returned) and a
producer with ``acks="all"`` and idempotence, like the chassis publisher. Its per-message
access log is moved to DEBUG so that no contender writes a log line per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from pymongo.errors import DuplicateKeyError

from bench.pipeline.contender import Contender
from bench.pipeline.ours import insert_new
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
from chassis.settings import ServiceSettings

# What the chassis's ConsumerLoop fetches at most per batch, and how long it waits for
# records (its getmany timeout), so that both batch contenders see the same batches.
MAX_RECORDS: int = ServiceSettings.model_fields["kafka_consumer_batch"].default
BATCH_TIMEOUT_MS = 200


def _broker(contender: Contender) -> KafkaBroker:
    return KafkaBroker(
        contender.bootstrap, acks="all", enable_idempotence=True, log_level=logging.DEBUG
    )


async def run_batch(contender: Contender) -> None:
    tally = contender.tally
    dossiers = contender.database(PROCESSING_GROUP)[DOSSIERS]
    entries = contender.database(AUDIT_GROUP)[AUDIT_ENTRIES]
    broker = _broker(contender)
    lifecycle = broker.publisher(contender.topic(Topics.LIFECYCLE))

    @broker.subscriber(
        contender.topic(Topics.SUBMISSIONS),
        group_id=contender.topic(PROCESSING_GROUP),
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.ACK,
        batch=True,
        max_records=MAX_RECORDS,
        batch_timeout_ms=BATCH_TIMEOUT_MS,
    )
    async def on_submitted(bodies: list[bytes]) -> None:
        tally.first_record()
        now = datetime.now(UTC)
        opened = []
        for body in bodies:
            envelope, payload = decode(body)
            assert isinstance(payload, DossierSubmitted)
            opened.append((payload.dossier_id, *open_dossier(envelope, payload, now)))
        with tally.waiting("processing: store"):
            await insert_new(dossiers, [dossier for _, dossier, _ in opened])
        # Published whether the dossier was new or not, as in the other contenders: a
        # redelivered batch sends the same event ids again, which the audit skips.
        with tally.waiting("processing: publish"):
            sent = [
                await lifecycle.publish(
                    encode_event(event),
                    key=dossier_id.encode(),
                    headers={
                        "content-type": CONTENT_TYPE,
                        "ce_type": event.type,
                        "ce_id": event.id,
                    },
                    no_confirm=True,
                )
                for dossier_id, _, event in opened
            ]
            await asyncio.gather(*sent)

    @broker.subscriber(
        contender.topic(Topics.SUBMISSIONS),
        contender.topic(Topics.LIFECYCLE),
        group_id=contender.topic(AUDIT_GROUP),
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.ACK,
        batch=True,
        max_records=MAX_RECORDS,
        batch_timeout_ms=BATCH_TIMEOUT_MS,
    )
    async def on_events(bodies: list[bytes]) -> None:
        now = datetime.now(UTC)
        envelopes = [decode(body)[0] for body in bodies]
        with tally.waiting("audit: store"):
            new = await insert_new(entries, [audit_entry(e, now) for e in envelopes])
        tally.recorded(
            len(new),
            [
                envelopes[i].subject or ""
                for i in new
                if envelopes[i].type == DossierStatusChanged.event_type
            ],
        )

    await broker.start()
    try:
        await contender.until_done()
    finally:
        await broker.stop()


async def run_single(contender: Contender) -> None:
    tally = contender.tally
    dossiers = contender.database(PROCESSING_GROUP)[DOSSIERS]
    entries = contender.database(AUDIT_GROUP)[AUDIT_ENTRIES]
    broker = _broker(contender)
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
