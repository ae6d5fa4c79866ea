"""The consumer loop: batches, per-partition order, retries, dead letters, commits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from opentelemetry import trace
from opentelemetry.trace import Link, NonRecordingSpan, SpanKind, Status, StatusCode
from pymongo.errors import ConnectionFailure

from chassis import events, metrics
from chassis.events import Envelope, EventData, PoisonMessage, Topics
from chassis.kafka.dead_letters import send_dead_letter
from chassis.kafka.publisher import (
    EventPublisher,
    KafkaUnavailable,
    _cloudevent_attributes,
    _event_types_on,
)
from chassis.mongo import error_summary, lost_a_race, store_unreachable
from chassis.settings import ServiceSettings
from chassis.telemetry import (
    capture_context,
    extract_context,
    messaging_attributes,
    span_name,
    tracer,
)

log = logging.getLogger(__name__)


def backoff_delays(first: float = 0.5, cap: float = 10.0) -> Callable[[int], float]:
    def delay(attempt: int) -> float:
        return float(min(cap, first * (2 ** max(0, attempt - 1))))

    return delay


# The store or the broker being away says nothing about the record in hand: a handler
# failing with one of these is retried until they are back, never dead-lettered.
OUTAGES: tuple[type[Exception], ...] = (ConnectionFailure, KafkaUnavailable)


def is_outage(exc: BaseException) -> bool:
    """The store or the broker is away (see ``OUTAGES`` and FerretDB's own way of saying
    its PostgreSQL is: ``chassis.mongo.store_unreachable``)."""
    return isinstance(exc, OUTAGES) or store_unreachable(exc)


def is_transient(exc: BaseException) -> bool:
    """A failure that says nothing about the record: an outage, or a store write that
    lost a race with another replica's (``chassis.mongo.lost_a_race``), which the next
    try wins or finds done. The record is tried again, never dead-lettered."""
    return is_outage(exc) or lost_a_race(exc)


_outage_delay = backoff_delays(0.5, 5.0)


@dataclass(slots=True)
class ConsumedEvent:
    envelope: Envelope
    payload: EventData
    record: ConsumerRecord[bytes, bytes]
    span_context: trace.SpanContext | None = None

    @property
    def id(self) -> str:
        return self.envelope.id

    @contextlib.contextmanager
    def in_own_trace(self) -> Iterator[None]:
        """This record's consumer span as the current one (a batch handler runs under the
        batch's span): what its use case emits continues the dossier's trace."""
        if self.span_context is None:
            yield
            return
        with trace.use_span(NonRecordingSpan(self.span_context)):
            yield

    def trace_carrier(self) -> dict[str, str]:
        """The record's own trace context, for work done later (an outbox entry, a retry)
        to continue the dossier's trace."""
        with self.in_own_trace():
            return capture_context()


Handler = Callable[[ConsumedEvent], Awaitable[None]]
BatchHandler = Callable[[list[ConsumedEvent]], Awaitable[None]]


@dataclass
class DeadLetter:
    """A record the loop gives up on, and why (``category`` labels the metric)."""

    record: ConsumerRecord[bytes, bytes]
    reason: str
    category: str


@dataclass
class ConsumerLoop:
    """One consumer group's loop. Give either per-type ``handlers`` or a ``batch_handler``
    (which receives every decoded event of a fetch, in partition order)."""

    settings: ServiceSettings
    group: str
    topics: Sequence[str]
    publisher: EventPublisher
    handlers: dict[str, Handler] = field(default_factory=dict)
    batch_handler: BatchHandler | None = None
    max_records: int | None = None
    retry_delay: Callable[[int], float] = field(default_factory=lambda: backoff_delays(0.2, 2.0))
    # The lag gauge is refreshed after every batch and at least this often when idle, so
    # it also grows while nothing is fetched (a stuck handler, a paused consumer).
    lag_refresh_s: float = 5.0

    _consumer: AIOKafkaConsumer | None = field(default=None, init=False)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _running: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        metrics.consumer_at_zero(
            self.settings.service_name,
            self.group,
            {self.settings.topic(t): _event_types_on(t) for t in self.topics},
        )

    @property
    def running(self) -> bool:
        return self._running

    @property
    def dead_letter_topic(self) -> str:
        return self.settings.topic(Topics.dead_letter(self.group))

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Connect (retrying with backoff while Kafka is away) and consume until stopped."""
        attempt = 0
        delay = backoff_delays(0.5, 10.0)
        while not self._stopping.is_set():
            attempt += 1
            consumer = AIOKafkaConsumer(
                *(self.settings.topic(t) for t in self.topics),
                bootstrap_servers=self.settings.kafka_bootstrap_servers,
                group_id=self.settings.topic(self.group),
                client_id=f"{self.settings.service_name}-{self.group}-{self.settings.instance_id()}",
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                isolation_level="read_committed",
                max_poll_records=self.max_records or self.settings.kafka_consumer_batch,
            )
            try:
                await consumer.start()
            except KafkaError as exc:
                log.warning("consumer %s cannot reach Kafka (%s); retrying", self.group, exc)
                await consumer.stop()
                await self._sleep(delay(attempt))
                continue
            self._consumer = consumer
            self._running = True
            try:
                await self._consume(consumer)
                return
            except (KafkaError, KafkaUnavailable) as exc:
                # KafkaUnavailable: a dead letter could not be written; the batch stays
                # uncommitted and comes again after the reconnect.
                log.warning("consumer %s lost Kafka (%s); reconnecting", self.group, exc)
            finally:
                self._running = False
                self._consumer = None
                with contextlib.suppress(KafkaError):
                    await consumer.stop()
            await self._sleep(delay(attempt))

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        lag_due = 0.0
        while not self._stopping.is_set():
            batch = await consumer.getmany(
                timeout_ms=200, max_records=self.max_records or self.settings.kafka_consumer_batch
            )
            if batch:
                started = time.perf_counter()
                await self._handle_batch(batch)
                await consumer.commit(
                    {tp: records[-1].offset + 1 for tp, records in batch.items() if records}
                )
                metrics.HANDLER_DURATION.labels(self.settings.service_name, self.group).observe(
                    time.perf_counter() - started
                )
            if batch or time.monotonic() >= lag_due:
                await self._record_lag(consumer)
                lag_due = time.monotonic() + self.lag_refresh_s

    async def _record_lag(self, consumer: AIOKafkaConsumer) -> None:
        """Per assigned partition: records at the partition's end not yet handled.

        The end is the last stable offset (the loop reads committed records only), else
        the high watermark, both as of the latest fetch response, which the fetcher keeps
        receiving while idle. The position is the next record to hand out; every record
        before it is handled and committed by the time this runs.
        """
        lags: dict[tuple[str, int], int] = {}
        for tp in consumer.assignment():
            end = consumer.last_stable_offset(tp)
            if end is None:
                end = consumer.highwater(tp)
            if end is None:
                continue  # not fetched yet: no figure rather than a wrong one
            try:
                position = await consumer.position(tp)
            except KafkaError:
                continue  # revoked meanwhile
            lags[(tp.topic, tp.partition)] = max(0, end - position)
        metrics.record_consumer_lag(self.settings.service_name, self.group, lags)

    async def _handle_batch(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        dead: list[DeadLetter] = []
        decoded: dict[TopicPartition, list[ConsumedEvent]] = {}
        for tp, records in batch.items():
            for record in records:
                try:
                    envelope, payload = events.decode(record.value)
                except PoisonMessage as exc:
                    dead.append(DeadLetter(record, exc.reason, "poison"))
                    self._count(record.topic, "unknown", "dead_letter")
                    continue
                decoded.setdefault(tp, []).append(ConsumedEvent(envelope, payload, record))

        if self.batch_handler is not None:
            everything = self._first_of_each(
                [e for tp in sorted(decoded, key=str) for e in decoded[tp]]
            )
            if everything:
                dead.extend(await self._run_batch_handler(everything))
        else:
            results = await asyncio.gather(
                *(self._handle_partition(items) for items in decoded.values())
            )
            for failed in results:
                dead.extend(failed)

        for letter in dead:
            await self._dead_letter(letter)

    def _first_of_each(self, items: list[ConsumedEvent]) -> list[ConsumedEvent]:
        """Each event once: a batch handler must not see an event twice in one batch (an
        outbox relay republishing after a crash puts a second copy, same id, right behind
        the first). Copies in later batches are the handlers' to recognise."""
        seen: set[str] = set()
        kept = []
        for item in items:
            if item.id in seen:
                self._count(item.record.topic, item.envelope.type, "duplicate")
                continue
            seen.add(item.id)
            kept.append(item)
        return kept

    async def _run_batch_handler(self, items: list[ConsumedEvent]) -> list[DeadLetter]:
        assert self.batch_handler is not None
        # Each record gets a consumer span in its own dossier's trace, so that trace shows
        # this service too; the batch span links to all of them.
        item_spans = []
        for item in items:
            record = item.record
            span = tracer().start_span(
                span_name("process", record.topic),
                context=extract_context(record.headers),
                kind=SpanKind.CONSUMER,
                attributes=self._record_attributes(item),
            )
            item.span_context = span.get_span_context()
            item_spans.append(span)
        links = [Link(s.get_span_context()) for s in item_spans]
        topics = {item.record.topic for item in items}
        # A batch from several topics has no single destination to name.
        destination = next(iter(topics)) if len(topics) == 1 else None
        try:
            with tracer().start_as_current_span(
                span_name("process", destination),
                kind=SpanKind.CONSUMER,
                links=links,
                attributes=messaging_attributes(
                    destination,
                    operation="process",
                    consumer_group=self.settings.topic(self.group),
                    batch_message_count=len(items),
                ),
            ):
                return await self._batch_with_retries(items)
        finally:
            for span in item_spans:
                span.end()

    def _record_attributes(self, item: ConsumedEvent) -> dict[str, Any]:
        record = item.record
        return messaging_attributes(
            record.topic,
            operation="process",
            message_id=item.id,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            consumer_group=self.settings.topic(self.group),
        ) | _cloudevent_attributes(item.envelope)

    async def _batch_with_retries(self, items: list[ConsumedEvent]) -> list[DeadLetter]:
        assert self.batch_handler is not None
        attempt = outage = 0
        while attempt < self.settings.kafka_handler_attempts:
            try:
                await self.batch_handler(items)
                for item in items:
                    self._count(item.record.topic, item.envelope.type, "handled")
                return []
            except Exception as exc:
                if is_transient(exc):
                    outage += 1
                    log.warning("batch of %s waits for %s (try %d)", self.group, _name(exc), outage)
                    await asyncio.sleep(_outage_delay(outage))
                    continue
                attempt += 1
                log.exception("batch handler of %s failed (attempt %d)", self.group, attempt)
                if attempt < self.settings.kafka_handler_attempts:
                    await asyncio.sleep(self.retry_delay(attempt))
        # The batch as a whole keeps failing: find the culprits one record at a time, so
        # one poison event does not send its healthy neighbours to the dead-letter topic.
        dead: list[DeadLetter] = []
        for item in items:
            outage = 0
            while True:
                try:
                    await self.batch_handler([item])
                    self._count(item.record.topic, item.envelope.type, "handled")
                except Exception as exc:
                    if is_transient(exc):
                        outage += 1
                        log.warning("record of %s waits for %s", self.group, _name(exc))
                        await asyncio.sleep(_outage_delay(outage))
                        continue
                    reason = f"handler failed: {exc!r}"
                    dead.append(DeadLetter(item.record, reason, "handler_failed"))
                    self._count(item.record.topic, item.envelope.type, "dead_letter")
                break
        return dead

    async def _handle_partition(self, items: list[ConsumedEvent]) -> list[DeadLetter]:
        dead: list[DeadLetter] = []
        for item in items:
            failure = await self._handle_one(item)
            if failure is not None:
                dead.append(failure)
        return dead

    async def _handle_one(self, item: ConsumedEvent) -> DeadLetter | None:
        record = item.record
        handler = self.handlers.get(item.envelope.type)
        if handler is None:
            # A known event this group does not act on: nothing to do, not an error.
            self._count(record.topic, item.envelope.type, "ignored")
            return None
        parent = extract_context(record.headers)
        with tracer().start_as_current_span(
            span_name("process", record.topic),
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=self._record_attributes(item),
        ) as span:
            item.span_context = span.get_span_context()
            error: Exception | None = None
            attempt = outage = 0
            while attempt < self.settings.kafka_handler_attempts:
                try:
                    await handler(item)
                    self._count(record.topic, item.envelope.type, "handled")
                    return None
                except PoisonMessage as exc:
                    error = exc
                    break
                except Exception as exc:
                    if is_transient(exc):
                        outage += 1
                        log.warning(
                            "handler for %s waits for %s (try %d)",
                            item.envelope.type,
                            _name(exc),
                            outage,
                        )
                        await asyncio.sleep(_outage_delay(outage))
                        continue
                    attempt += 1
                    error = exc
                    log.warning(
                        "handler for %s failed (attempt %d): %r", item.envelope.type, attempt, exc
                    )
                    if attempt < self.settings.kafka_handler_attempts:
                        await asyncio.sleep(self.retry_delay(attempt))
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            self._count(record.topic, item.envelope.type, "dead_letter")
            reason = (
                error.reason if isinstance(error, PoisonMessage) else f"handler failed: {error!r}"
            )
            return DeadLetter(record, reason, "handler_failed")

    async def _dead_letter(self, letter: DeadLetter) -> None:
        # If this raises, the batch is not committed and is retried: nothing is lost.
        await send_dead_letter(
            self.publisher, self.dead_letter_topic, letter.record, letter.reason, self.group
        )
        metrics.DEAD_LETTERS.labels(self.settings.service_name, self.group, letter.category).inc()

    def _count(self, topic: str, event_type: str, outcome: str) -> None:
        metrics.EVENTS_CONSUMED.labels(self.settings.service_name, topic, event_type, outcome).inc()


def _name(exc: Exception) -> str:
    # The class and codes only: a store error's text may quote the connection string, or
    # the document it refused.
    return error_summary(exc)
