"""Kafka plumbing: an acknowledging publisher, a batched consumer loop and dead letters.

The loop's contract: a batch is fetched with ``getmany``, every record is decoded and
handled (partitions concurrently, records of one partition in order), records that can
never be handled go to the group's dead-letter topic with the reason and the original
headers, and only then are the offsets committed. A crash before the commit means the
batch is handled again, so every handler must be idempotent on the event id.

- :mod:`chassis.kafka.topics`: the platform's topics, created with their partitions;
- :mod:`chassis.kafka.publisher`: :class:`EventPublisher`, acks=all, batched sends;
- :mod:`chassis.kafka.consumer`: :class:`ConsumerLoop` and its retry rules;
- :mod:`chassis.kafka.dead_letters`: the one place a dead letter's headers are made.
"""

from chassis.kafka.consumer import (
    OUTAGES,
    BatchHandler,
    ConsumedEvent,
    ConsumerLoop,
    DeadLetter,
    Handler,
    backoff_delays,
)
from chassis.kafka.dead_letters import dead_letter_headers, send_dead_letter
from chassis.kafka.publisher import EventPublisher, KafkaUnavailable, RecordTooLarge
from chassis.kafka.topics import ensure_topics

__all__ = [
    "OUTAGES",
    "BatchHandler",
    "ConsumedEvent",
    "ConsumerLoop",
    "DeadLetter",
    "EventPublisher",
    "Handler",
    "KafkaUnavailable",
    "RecordTooLarge",
    "backoff_delays",
    "dead_letter_headers",
    "ensure_topics",
    "send_dead_letter",
]
