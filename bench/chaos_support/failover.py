"""How long producers and consumers take to find a partition's new leader.

Beside the services, the run keeps producers and a consumer group of its own on a probe
topic (replicated like the platform's, written as the chassis writes: ``acks=all``, an
idempotent producer, the same timeouts). Each producer sends one record at a time to the
partitions in turn and retries a record until it is acknowledged, so it stalls on the
first partition whose leader died. For each broker taken away, at moment t:

* a producer's fail-over time is from t until its first acknowledged send to a partition
  that broker led;
* a consumer's, from t until it receives the first record written after t to such a
  partition (a record written after t can only have come through the new leader).

Every acknowledged record must then be read back (none lost), whatever the kills.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

log = logging.getLogger("chaos")

PROBE_PARTITIONS = 6
SEND_TIMEOUT_S = 10.0  # the chassis publisher's


@dataclass
class Blackout:
    """A broker taken away at ``at`` (monotonic), and the probe partitions it led."""

    what: str
    at: float
    partitions: set[int]
    producers_s: list[float] = field(default_factory=list)
    consumers_s: list[float] = field(default_factory=list)


@dataclass
class ProbeFigures:
    offered: int = 0
    acknowledged: int = 0
    lost: int = 0
    resent: int = 0
    blackouts: list[dict[str, Any]] = field(default_factory=list)
    producer_p50_s: float = 0.0
    producer_p99_s: float = 0.0
    producer_max_s: float = 0.0
    consumer_p50_s: float = 0.0
    consumer_p99_s: float = 0.0
    consumer_max_s: float = 0.0


class FailoverProbe:
    def __init__(
        self,
        bootstrap: str,
        topic: str,
        replication: tuple[int, int],
        producers: int = 4,
        consumers: int = 2,
        interval_s: float = 0.05,
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.replication = replication
        self.producers = producers
        self.consumers = consumers
        self.interval_s = interval_s
        # Per acknowledged record "p:i": its partition and when the ack came.
        self.acked: dict[str, tuple[int, float]] = {}
        # Per producer, each acknowledgement as (partition, at).
        self.acks: list[list[tuple[int, float]]] = [[] for _ in range(producers)]
        # Per consumer, each record as (value, partition, at).
        self.received: list[list[tuple[str, int, float]]] = [[] for _ in range(consumers)]
        self.offered = 0
        self.resent = 0
        self.blackouts: list[Blackout] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def create_topic(self) -> None:
        factor, min_insync = self.replication
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            await admin.create_topics(
                [
                    NewTopic(
                        self.topic,
                        PROBE_PARTITIONS,
                        factor,
                        topic_configs={"min.insync.replicas": str(min_insync)},
                    )
                ]
            )
            for _ in range(50):
                if self.topic in await admin.list_topics():
                    return
                await asyncio.sleep(0.1)
        finally:
            await admin.close()

    async def start(self) -> None:
        await self.create_topic()
        for n in range(self.consumers):
            self._tasks.append(asyncio.create_task(self._consume(n)))
        for n in range(self.producers):
            self._tasks.append(asyncio.create_task(self._produce(n)))

    def blackout(self, what: str, at: float, partitions: set[int]) -> None:
        self.blackouts.append(Blackout(what, at, partitions))

    async def stop_producing(self) -> None:
        self._stop.set()
        producers = self._tasks[self.consumers :]
        await asyncio.gather(*producers, return_exceptions=True)

    async def drain(self, timeout_s: float = 60.0) -> None:
        """Wait until the consumers have read every acknowledged record, then stop them."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self._missing():  # noqa: ASYNC110 - polled
            await asyncio.sleep(0.5)
        await self.cancel()

    async def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _missing(self) -> set[str]:
        seen = {value for member in self.received for value, _, _ in member}
        return set(self.acked) - seen

    async def _produce(self, n: int) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id=f"failover-probe-{n}",
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            request_timeout_ms=int(SEND_TIMEOUT_S * 1000),
        )
        await producer.start()
        try:
            i = 0
            while not self._stop.is_set():
                partition = (n + i) % PROBE_PARTITIONS
                value = f"{n}:{i}"
                self.offered += 1
                while True:
                    try:
                        await asyncio.wait_for(
                            producer.send_and_wait(self.topic, value.encode(), partition=partition),
                            SEND_TIMEOUT_S,
                        )
                        break
                    except (KafkaError, TimeoutError) as exc:
                        # As the services' outbox does: the same record again until
                        # acknowledged (the reader counts a second copy, never a loss).
                        self.resent += 1
                        log.info("probe producer %d: %r, sending again", n, exc)
                        await asyncio.sleep(0.1)
                at = time.monotonic()
                self.acked[value] = (partition, at)
                self.acks[n].append((partition, at))
                i += 1
                await asyncio.sleep(self.interval_s)
        finally:
            await producer.stop()

    async def _consume(self, n: int) -> None:
        consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            group_id=f"{self.topic}.group",
            client_id=f"failover-probe-consumer-{n}",
            enable_auto_commit=True,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        await consumer.start()
        try:
            async for record in consumer:
                assert record.value is not None
                self.received[n].append((record.value.decode(), record.partition, time.monotonic()))
        finally:
            await consumer.stop()

    def figures(self) -> ProbeFigures:
        for blackout in self.blackouts:
            self._measure(blackout)
        producers = [s for b in self.blackouts for s in b.producers_s]
        consumers = [s for b in self.blackouts for s in b.consumers_s]
        seen = [value for member in self.received for value, _, _ in member]
        return ProbeFigures(
            offered=self.offered,
            acknowledged=len(self.acked),
            lost=len(set(self.acked) - set(seen)),
            resent=self.resent,
            blackouts=[
                {
                    "what": b.what,
                    "partitions led": sorted(b.partitions),
                    "producers_s": [round(s, 2) for s in b.producers_s],
                    "consumers_s": [round(s, 2) for s in b.consumers_s],
                }
                for b in self.blackouts
            ],
            producer_p50_s=_percentile(producers, 50),
            producer_p99_s=_percentile(producers, 99),
            producer_max_s=max(producers, default=0.0),
            consumer_p50_s=_percentile(consumers, 50),
            consumer_p99_s=_percentile(consumers, 99),
            consumer_max_s=max(consumers, default=0.0),
        )

    def _measure(self, blackout: Blackout) -> None:
        blackout.producers_s.clear()
        blackout.consumers_s.clear()
        for acks in self.acks:
            hit = [at for part, at in acks if at > blackout.at and part in blackout.partitions]
            if hit:
                blackout.producers_s.append(hit[0] - blackout.at)
        for member in self.received:
            firsts = [
                at
                for value, partition, at in member
                if at > blackout.at
                and partition in blackout.partitions
                and self.acked.get(value, (0, 0.0))[1] > blackout.at
            ]
            if firsts:
                blackout.consumers_s.append(min(firsts) - blackout.at)


def _percentile(values: list[float], p: int) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return round(values[0], 2)
    return round(statistics.quantiles(values, n=100, method="inclusive")[p - 1], 2)
