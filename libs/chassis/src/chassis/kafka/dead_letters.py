"""Dead letters: a record no handler will ever take goes to its group's ``<group>.dlq``
topic with ``dlq_*`` headers saying why and where it came from (docs/asyncapi.yaml). The
headers are made here and nowhere else."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from aiokafka import ConsumerRecord

from chassis.kafka.publisher import RecordTooLarge

if TYPE_CHECKING:
    from chassis.kafka.publisher import EventPublisher

log = logging.getLogger(__name__)

# How much of a record too large to dead-letter whole is kept in its dead letter.
_DEAD_LETTER_HEAD = 64 * 1024


def dead_letter_headers(
    reason: str,
    group: str,
    *,
    record: ConsumerRecord[bytes, bytes] | None = None,
    extra: Iterable[tuple[str, str]] = (),
) -> list[tuple[str, bytes]]:
    """The record's own headers (earlier ``dlq_*`` ones dropped), then ours: the reason,
    the group and, for a consumed record, where it was read; ``extra`` adds others."""
    headers: list[tuple[str, bytes]] = []
    if record is not None:
        headers += [(k, v) for k, v in (record.headers or ()) if not k.startswith("dlq_")]
    headers += [("dlq_reason", reason.encode()[:4000]), ("dlq_group", group.encode())]
    if record is not None:
        headers += [
            ("dlq_source_topic", record.topic.encode()),
            ("dlq_source_partition", str(record.partition).encode()),
            ("dlq_source_offset", str(record.offset).encode()),
        ]
    headers += [(name, value.encode()) for name, value in extra]
    return headers


async def send_dead_letter(
    publisher: EventPublisher,
    topic: str,
    record: ConsumerRecord[bytes, bytes],
    reason: str,
    group: str,
    *,
    extra: Sequence[tuple[str, str]] = (),
) -> None:
    """Copy ``record`` to the dead-letter ``topic``; raises when the broker refuses, so
    the caller does not commit past a record it could not set aside."""
    headers = dead_letter_headers(reason, group, record=record, extra=extra)
    log.warning(
        "dead-lettered %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason[:300]
    )
    try:
        await publisher.send_raw(topic, record.value, key=record.key, headers=headers)
    except RecordTooLarge:
        # A record at the broker's size limit does not fit once the dlq_* headers are
        # added. Its head is enough to see what it was; the whole of it stays on the
        # source topic at the offset the headers name.
        value = record.value or b""
        headers.append(("dlq_value_truncated", str(len(value)).encode()))
        try:
            await publisher.send_raw(
                topic, value[:_DEAD_LETTER_HEAD], key=record.key, headers=headers
            )
        except RecordTooLarge:
            # The record's own headers are what is too large: keep only ours.
            own = [(k, v) for k, v in headers if k.startswith("dlq_")]
            await publisher.send_raw(topic, value[:_DEAD_LETTER_HEAD], key=None, headers=own)
