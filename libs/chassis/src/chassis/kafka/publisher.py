"""Publishing envelopes: only an acknowledged write counts."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from chassis import events, metrics
from chassis.events import Envelope
from chassis.settings import ServiceSettings
from chassis.telemetry import context_from, inject_headers, messaging_attributes, span_name, tracer

# Bytes one partition's batch may hold. aiokafka keeps a single produce request in flight
# per broker and a single open batch per partition; a sender finding that batch full waits
# for it to drain, racing every other waiter, for up to the request timeout. At the
# library's 16 KB (about nine dossier events) a burst of concurrent submissions queued
# behind the one request in flight and some lost that race until the 10 s timeout. At
# 512 KB a round trip carries every event waiting; the broker accepts up to 1 MB a batch
# (``message.max.bytes``), and the consumers fetch up to 1 MB per partition.
MAX_BATCH_BYTES = 512 * 1024


class KafkaUnavailable(Exception):
    """The broker did not acknowledge a write; the caller must not claim success."""


class RecordTooLarge(Exception):
    """The broker (or the producer's own limit) refuses a record this large."""


class EventPublisher:
    """Publishes envelopes and returns only once the broker acknowledged them
    (``acks=all``, idempotent producer)."""

    def __init__(self, settings: ServiceSettings, *, send_timeout_s: float = 10.0) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._send_timeout_s = send_timeout_s
        self._service = settings.service_name
        metrics.producer_at_zero(
            self._service,
            {
                settings.topic(topic): _event_types_on(topic)
                for topic, publisher in events.PUBLISHERS.items()
                if publisher == self._service
            },
        )

    @property
    def started(self) -> bool:
        return self._producer is not None

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.kafka_bootstrap_servers,
            client_id=f"{self._service}-publisher-{self._settings.instance_id()}",
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            max_batch_size=MAX_BATCH_BYTES,
            request_timeout_ms=int(self._send_timeout_s * 1000),
        )
        await producer.start()
        self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    async def publish(self, envelope: Envelope, *, key: str | None = None) -> None:
        await self.publish_many([envelope], keys=[key])

    async def publish_many(
        self,
        envelopes: Sequence[Envelope],
        *,
        keys: Sequence[str | None] | None = None,
        trace_carriers: Sequence[Mapping[str, str] | None] | None = None,
    ) -> None:
        """Send all, then wait for all acknowledgements: one round trip for a batch.

        ``trace_carriers`` continue traces captured earlier (an outbox entry remembers the
        context of the request or message that caused it).
        """
        if not envelopes:
            return
        producer = self._producer
        if producer is None:
            raise KafkaUnavailable("publisher is not connected to Kafka")
        keys = keys or [None] * len(envelopes)
        carriers = trace_carriers or [None] * len(envelopes)
        pending: list[tuple[asyncio.Future[Any], trace.Span, Envelope, str]] = []
        try:
            for envelope, key, carrier in zip(envelopes, keys, carriers, strict=True):
                topic = self._settings.topic(events.EVENT_TYPES[envelope.type].topic)
                record_key = (key or envelope.subject or envelope.id).encode()
                span = tracer().start_span(
                    span_name("send", topic),
                    context=context_from(carrier) if carrier else None,
                    kind=SpanKind.PRODUCER,
                    attributes=messaging_attributes(
                        topic, operation="send", message_id=envelope.id, key=record_key
                    )
                    | _cloudevent_attributes(envelope),
                )
                headers: list[tuple[str, bytes]] = [
                    ("content-type", events.CONTENT_TYPE.encode()),
                    ("ce_type", envelope.type.encode()),
                    ("ce_id", envelope.id.encode()),
                ]
                with trace.use_span(span, end_on_exit=False):
                    inject_headers(headers)
                future = await producer.send(
                    topic, events.encode(envelope), key=record_key, headers=headers
                )
                pending.append((future, span, envelope, topic))
            results = await asyncio.wait_for(
                asyncio.gather(*(p[0] for p in pending)), timeout=self._send_timeout_s
            )
        except (KafkaError, TimeoutError) as exc:
            for _, span, _, _ in pending:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                span.end()
            raise KafkaUnavailable(str(exc) or type(exc).__name__) from exc
        for (_, span, envelope, topic), meta in zip(pending, results, strict=True):
            span.set_attribute("messaging.destination.partition.id", str(meta.partition))
            span.set_attribute("messaging.kafka.offset", meta.offset)
            span.end()
            metrics.EVENTS_PRODUCED.labels(self._service, topic, envelope.type).inc()

    async def send_raw(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None,
        headers: list[tuple[str, bytes]],
    ) -> None:
        producer = self._producer
        if producer is None:
            raise KafkaUnavailable("publisher is not connected to Kafka")
        try:
            future = await producer.send(topic, value, key=key, headers=headers)
            await asyncio.wait_for(future, timeout=self._send_timeout_s)
        except MessageSizeTooLargeError as exc:
            raise RecordTooLarge(str(exc)) from exc
        except (KafkaError, TimeoutError) as exc:
            raise KafkaUnavailable(str(exc) or type(exc).__name__) from exc


def _cloudevent_attributes(envelope: Envelope) -> dict[str, str]:
    return {
        "cloudevents.event_id": envelope.id,
        "cloudevents.event_type": envelope.type,
        "cloudevents.event_source": envelope.source,
    }


def _event_types_on(topic: str) -> list[str]:
    return sorted(t for t, model in events.EVENT_TYPES.items() if model.topic == topic)
